package hypha

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Versions of the sync protocol this binary speaks: it advertises
// SyncProtocolVersion and accepts clients in [MinSyncProtocolVersion,
// SyncProtocolVersion].
const (
	SyncProtocolVersion    = 3
	MinSyncProtocolVersion = 1
)

// SchemaDescription is the normalized live schema of a database: the same
// text on both engines for the same migrations, so drift shows as a diff.
type SchemaDescription struct {
	Tables []TableDescription
}

// TableDescription describes one table.
type TableDescription struct {
	Name       string
	Columns    []ColumnDescription
	PrimaryKey []string
	// Keys are the primary key, unique constraints and indexes, each
	// rendered as one normalized line and sorted.
	Keys []string
}

// ColumnDescription describes one column.
type ColumnDescription struct {
	Name    string
	Type    ColumnType
	NotNull bool
	Default string // normalized literal, "" for none
}

// String renders the description as stable text, one line per column or key.
func (s *SchemaDescription) String() string {
	var b strings.Builder
	tables := append([]TableDescription(nil), s.Tables...)
	sort.Slice(tables, func(i, j int) bool { return tables[i].Name < tables[j].Name })
	for _, t := range tables {
		fmt.Fprintf(&b, "table %s\n", t.Name)
		for _, c := range t.Columns {
			fmt.Fprintf(&b, "  column %s %s", c.Name, c.Type)
			if c.NotNull {
				b.WriteString(" not null")
			}
			if c.Default != "" {
				fmt.Fprintf(&b, " default %s", c.Default)
			}
			b.WriteByte('\n')
		}
		keys := append([]string(nil), t.Keys...)
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s\n", k)
		}
	}
	return b.String()
}

// DiffSchemas returns a readable line diff between two schema renderings:
// lines only in want are prefixed "- ", lines only in got "+ ". It returns ""
// when they are the same.
func DiffSchemas(want, got *SchemaDescription) string {
	wl, gl := schemaLines(want), schemaLines(got)
	wset, gset := make(map[string]bool), make(map[string]bool)
	for _, l := range wl {
		wset[l] = true
	}
	for _, l := range gl {
		gset[l] = true
	}
	var b strings.Builder
	for _, l := range wl {
		if !gset[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range gl {
		if !wset[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// schemaLines flattens a rendering so each line names its table.
func schemaLines(s *SchemaDescription) []string {
	var out []string
	table := ""
	for _, l := range strings.Split(strings.TrimRight(s.String(), "\n"), "\n") {
		if strings.HasPrefix(l, "table ") {
			table = strings.TrimPrefix(l, "table ")
			out = append(out, l)
			continue
		}
		out = append(out, "table "+table+": "+strings.TrimSpace(l))
	}
	return out
}

// BackupTable describes one table as it appears in a backup: its columns in
// order with their portable types, and the columns of its primary key.
type BackupTable struct {
	Name    string       `json:"name"`
	Columns []string     `json:"columns"`
	Types   []ColumnType `json:"types"`
	Key     []string     `json:"key"`
}

// Snapshot is a consistent read-only view of a whole database, for export.
type Snapshot interface {
	// SchemaVersion is the highest migration applied in the snapshot.
	SchemaVersion() int
	// Tables lists every table a backup carries, in a stable order.
	Tables() []BackupTable
	// Scan calls fn for each row of table in primary-key order. Values are
	// nil, int64, float64, string or []byte. fn must not keep row.
	Scan(ctx context.Context, table string, fn func(row []any) error) error
	Close() error
}

// Backuper is implemented by stores that can be exported and restored.
type Backuper interface {
	// Snapshot opens a consistent view of the whole database.
	Snapshot(ctx context.Context) (Snapshot, error)
	// BackupTables lists the tables of the live schema as Snapshot would.
	BackupTables(ctx context.Context) ([]BackupTable, error)
	// ImportRows inserts rows in one transaction, skipping rows whose key
	// already exists, and returns how many were inserted.
	ImportRows(ctx context.Context, table string, columns []string, rows [][]any) (int64, error)
	// FinishImport brings engine state derived from rows (sequences) up to
	// date after an import.
	FinishImport(ctx context.Context) error
}
