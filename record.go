package hypha

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Record is one row of a synced table, ready to be written: its key, its
// project, and a value for every declared column of its table.
type Record struct {
	Table       *Table
	GroveID     string
	MachineID   string
	ID          string
	ProjectID   string // "" for machine-scoped tables
	ContentHash string // "" when the record carries none
	Values      []any  // one per Table.Columns entry: nil, int64, float64 or string
	Extra       []byte // JSON object of undeclared fields, or nil
	SyncedAt    *int64
}

// Key returns the record's primary key.
func (r *Record) Key() RecordKey {
	return RecordKey{Table: r.Table, GroveID: r.GroveID, MachineID: r.MachineID, ID: r.ID}
}

// Value returns the value of the named declared column, or nil.
func (r *Record) Value(column string) any {
	for i, c := range r.Table.Columns {
		if c.Name == column {
			return r.Values[i]
		}
	}
	return nil
}

// RecordKey identifies one row of a synced table.
type RecordKey struct {
	Table     *Table
	GroveID   string
	MachineID string
	ID        string
}

// ignoredFields are fields of a record's data that never become columns or
// extras: the key comes from the envelope (it wins over data, unlike the Myco
// worker), and "embedded" is a local-only flag the worker always dropped.
var ignoredFields = map[string]bool{
	ColGrove: true, ColMachine: true, ColID: true, ColExtra: true, ColReceivedAt: true, "embedded": true,
}

// NewRecord builds a Record of table t from a client's data object. The key
// (grove, machine, id) is the caller's and wins over any copy inside data.
// Declared fields are coerced to their column type; undeclared ones go to
// Extra, which is bounded by MaxExtraBytes. The project id is taken from data
// as it is: validating it is the caller's job.
func NewRecord(t *Table, groveID, machineID, id string, data map[string]any) (*Record, error) {
	r := &Record{Table: t, GroveID: groveID, MachineID: machineID, ID: id, Values: make([]any, len(t.Columns))}
	for i, c := range t.Columns {
		r.Values[i] = c.Default
	}
	var extra map[string]any
	for k, v := range data {
		switch {
		case ignoredFields[k]:
			continue
		case k == ColProject:
			if t.Scope == ScopeProject {
				if s, ok := v.(string); ok {
					r.ProjectID = s
				}
			}
			continue
		case k == ColSyncedAt:
			n, err := coerce(TypeInteger, v)
			if err != nil {
				return nil, Errorf(EInvalid, "field %s: %v", k, err)
			}
			if n != nil {
				x := n.(int64)
				r.SyncedAt = &x
			}
			continue
		}
		if c := t.Column(k); c != nil {
			val, err := coerce(c.Type, v)
			if err != nil {
				return nil, Errorf(EInvalid, "field %s: %v", k, err)
			}
			if val == nil && c.Default != nil {
				val = c.Default
			}
			r.Values[columnIndex(t, k)] = val
			continue
		}
		if extra == nil {
			extra = make(map[string]any)
		}
		extra[k] = v
	}
	if len(extra) > 0 {
		b, err := json.Marshal(extra)
		if err != nil {
			return nil, Errorf(EInvalid, "undeclared fields: %v", err)
		}
		if len(b) > MaxExtraBytes {
			keys := make([]string, 0, len(extra))
			for k := range extra {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return nil, Errorf(ETooLarge, "undeclared fields of table %s take %d bytes, over the %d-byte limit: %v", t.Name, len(b), MaxExtraBytes, keys)
		}
		r.Extra = b
	}
	if t.ContentHash {
		if s, ok := r.Value("content_hash").(string); ok {
			r.ContentHash = s
		}
	}
	return r, nil
}

// SetContentHash sets the record's content hash and its content_hash column.
func (r *Record) SetContentHash(h string) {
	r.ContentHash = h
	if r.Table.ContentHash {
		if h == "" {
			r.Values[columnIndex(r.Table, "content_hash")] = nil
		} else {
			r.Values[columnIndex(r.Table, "content_hash")] = h
		}
	}
}

func columnIndex(t *Table, name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// coerce converts a JSON-decoded value to the portable Go type of a column:
// int64 for integers, float64 for reals, string for text.
func coerce(typ ColumnType, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case TypeText:
		switch x := v.(type) {
		case string:
			if strings.IndexByte(x, 0) >= 0 {
				return nil, fmt.Errorf("contains a NUL character, which text columns cannot hold")
			}
			if !utf8.ValidString(x) {
				return nil, fmt.Errorf("is not valid UTF-8, which text columns cannot hold")
			}
			return x, nil
		case json.Number:
			return x.String(), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, err
			}
			return string(b), nil
		}
	case TypeInteger:
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return n, nil
			}
			f, err := x.Float64()
			if err != nil {
				return nil, fmt.Errorf("expected an integer, got %s", x)
			}
			return floatToInt(f)
		case float64:
			return floatToInt(x)
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
			return nil, fmt.Errorf("expected an integer, got %q", truncate(x, 40))
		default:
			return nil, fmt.Errorf("expected an integer, got %s", jsonKind(v))
		}
	case TypeReal:
		switch x := v.(type) {
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return nil, fmt.Errorf("expected a number, got %s", x)
			}
			return f, nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("expected a finite number")
			}
			return x, nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		case bool:
			if x {
				return 1.0, nil
			}
			return 0.0, nil
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f, nil
			}
			return nil, fmt.Errorf("expected a number, got %q", truncate(x, 40))
		default:
			return nil, fmt.Errorf("expected a number, got %s", jsonKind(v))
		}
	}
	return nil, fmt.Errorf("unsupported column type %q", typ)
}

func floatToInt(f float64) (any, error) {
	if f != math.Trunc(f) || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1<<53 {
		return nil, fmt.Errorf("expected an integer, got %v", f)
	}
	return int64(f), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
