package hypha

import "context"

// RecordFilter selects rows of one synced table in one grove. Column names
// in Equals and OrderBy must be declared columns of the table or common
// columns; anything else is an invalid-input error, never SQL.
type RecordFilter struct {
	Table     *Table
	GroveID   string
	MachineID string // "" for any machine
	ProjectID string // "" for any project
	// SharedFrom lists other groves whose rows shared across groves
	// (sharing_policy "cross_grove") are selected too; only tables with a
	// sharing_policy column (Table.Shareable) have such rows.
	SharedFrom []string
	// PublicOnly selects only rows marked public (sharing_policy
	// "public"): the anonymous MCP tier.
	PublicOnly bool
	Equals     []ColumnValue
	// AtLeast are inclusive lower bounds: Column >= Value.
	AtLeast []ColumnValue
	// Contains are substring conditions on text columns: the Value string
	// occurs in Column, ASCII letters compared case-insensitively (as the
	// SQLite LIKE of the Myco worker's myco_spores search).
	Contains []ColumnValue
	// In keeps rows whose column holds one of the values, for each
	// condition (at most 1,000 values each); an empty list selects nothing.
	In      []ColumnIn
	OrderBy []OrderBy // default: machine_id, id
	Limit   int       // 1..1000; 0 means 100
	Offset  int
}

// ColumnValue is one equality condition of a RecordFilter.
type ColumnValue struct {
	Column string
	Value  any
}

// ColumnIn is one IN condition of a RecordFilter.
type ColumnIn struct {
	Column string
	Values []any
}

// OrderBy is one sort key of a RecordFilter.
type OrderBy struct {
	Column string
	Desc   bool
}

// ManifestQuery selects one page of a table's (id, content hash) listing
// for a machine, the basis of the daemon's reconcile. Ids are listed in
// ascending bytewise order, except in tables with Table.IntegerID, which
// list them as upstream's INTEGER column does (ManifestIDLess): the ids that
// are integers (digits, no leading zero) first in numeric order, then every
// other id bytewise. Cursor continues after its id in that same order.
type ManifestQuery struct {
	Table     *Table
	GroveID   string
	MachineID string
	ProjectID string // "" for every project
	Cursor    string // the last id of the previous page; "" for the first
	Limit     int    // 0 counts only
}

// ManifestIDClass returns the first sort key of an id of an IntegerID table
// in /manifest: its length when it is a non-negative integer written
// without leading zeros ("0", "7", "10"), which orders such ids as numbers
// when the id itself breaks ties; NonIntegerIDClass for any other id, which
// sorts them after every integer, bytewise. Negative integers and ids
// with leading zeros are among the others: upstream's ids are SQLite row
// ids, never either.
func ManifestIDClass(id string) int {
	if id == "" || (id[0] == '0' && len(id) > 1) {
		return NonIntegerIDClass
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return NonIntegerIDClass
		}
	}
	return len(id)
}

// NonIntegerIDClass is ManifestIDClass of ids that are not integers: more
// than the length of any id (ids are at most a few hundred bytes).
const NonIntegerIDClass = 1_000_000

// ManifestIDLess reports whether id a comes before id b in the /manifest
// order of an IntegerID table.
func ManifestIDLess(a, b string) bool {
	ca, cb := ManifestIDClass(a), ManifestIDClass(b)
	if ca != cb {
		return ca < cb
	}
	return a < b
}

// ManifestItem is one row of a manifest page.
type ManifestItem struct {
	ID          string
	ProjectID   string
	ContentHash string
}

// ManifestPage is a page of a manifest with the partition's total count.
// NextCursor is "" on the last page.
type ManifestPage struct {
	Items      []ManifestItem
	Count      int64
	NextCursor string
}

// EmbeddableQuery selects one page of the keys of a table's embeddable rows
// in a grove (see Record.Embeddable). Pages follow the key, so rows written
// meanwhile never shift a page.
type EmbeddableQuery struct {
	Table   *Table // a table with a text column
	GroveID string
	// AfterMachineID and AfterID are the last key of the previous page;
	// both "" for the first page.
	AfterMachineID, AfterID string
	Limit                   int // 1..10000; 0 means 1000
}

// RecordQueryStore reads and maintains synced rows beyond single keys.
type RecordQueryStore interface {
	ListRecords(ctx context.Context, f RecordFilter) ([]*Record, error)
	ManifestPage(ctx context.Context, q ManifestQuery) (*ManifestPage, error)
	// DeleteMachineRows deletes every row of a machine in a grove from the
	// given tables, with their embeddings, and counts rows per table.
	DeleteMachineRows(ctx context.Context, groveID, machineID string, tables []*Table) (map[string]int64, error)
	// TouchProjects sets last_sync_at of the grove's projects.
	TouchProjects(ctx context.Context, groveID string, ids []string, at int64) error
	// CountEmbeddings counts the stored vectors of a grove.
	CountEmbeddings(ctx context.Context, groveID string) (int64, error)
	// CountEmbeddable counts, per table, the rows that have text to embed
	// (for spores: only active ones), the population a reindex covers.
	CountEmbeddable(ctx context.Context, groveID string) (map[string]int64, error)
	// ListEmbeddableKeys returns one page of the keys CountEmbeddable
	// counts, in one table, in (machine_id, id) order.
	ListEmbeddableKeys(ctx context.Context, q EmbeddableQuery) ([]RecordKey, error)
	// GroveDataBytes estimates the bytes a grove's rows and vectors hold:
	// the length of every text value and 8 bytes per number. It scans the
	// grove, so callers cache it.
	GroveDataBytes(ctx context.Context, groveID string) (int64, error)
}

// Embeddable reports whether r has text the search index should hold: a
// non-empty text column and, for spores, status "active" (reference §6.2).
func (r *Record) Embeddable() bool {
	if r.Table.TextColumn == "" {
		return false
	}
	if s, _ := r.Value(r.Table.TextColumn).(string); s == "" {
		return false
	}
	if r.Table.Name == "spores" {
		st, _ := r.Value("status").(string)
		return st == "active"
	}
	return true
}

// Text returns the record's embeddable text ("" if none).
func (r *Record) Text() string {
	if r.Table.TextColumn == "" {
		return ""
	}
	s, _ := r.Value(r.Table.TextColumn).(string)
	return s
}

// CheckText refuses, as an invalid-input error naming the field, a filter
// whose machine, project or any text value holds bytes no engine stores
// alike (NUL, invalid UTF-8; see ValidText): such a value matches nothing
// on SQLite and fails the statement on PostgreSQL, so it is refused before
// either sees it.
func (f *RecordFilter) CheckText() error {
	if err := ValidateKeyText("machine_id", f.MachineID); err != nil {
		return err
	}
	if err := ValidateKeyText("project_id", f.ProjectID); err != nil {
		return err
	}
	for _, group := range [][]ColumnValue{f.Equals, f.AtLeast, f.Contains} {
		for _, cv := range group {
			if s, ok := cv.Value.(string); ok {
				if err := ValidateKeyText(cv.Column, s); err != nil {
					return err
				}
			}
		}
	}
	for _, in := range f.In {
		for _, v := range in.Values {
			if s, ok := v.(string); ok {
				if err := ValidateKeyText(in.Column, s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
