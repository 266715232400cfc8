// Package backup exports a whole Hypha database to one portable file and
// imports it back, on either engine: a file written from SQLite restores
// into PostgreSQL and the other way round. It backs `hypha db export` and
// `hypha db import`.
//
// The file is gzip-compressed JSON Lines (format version 1):
//
//	{"format":"hypha-backup","format_version":1,"schema_version":3,"engine":"sqlite","created_at":"…","tables":[{"name","columns","types","key"}…]}
//	{"kind":"table","name":"embeddings"}
//	["default","spores","m1","s1","model",384,"AAB…",null,1700000000]   one JSON array per row
//	{"kind":"end","name":"embeddings","rows":1}
//	…                                                                    every table of the header, in its order
//	{"kind":"trailer","tables":27,"rows":1234,"sha256":"…"}
//
// Values follow their column's portable type: integers are JSON numbers
// (read back without going through float64), reals are shortest round-trip
// numbers (or the strings "NaN", "Infinity", "-Infinity"), text is a JSON
// string, blobs are standard base64 strings, and NULL is null. The trailer
// is written only when the export succeeds; its SHA-256 covers every byte
// before it, uncompressed, so a truncated or altered file is refused before
// anything is imported.
package backup

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
)

// Format identifiers written in every header.
const (
	FormatName    = "hypha-backup"
	FormatVersion = 1
)

// Line kinds of the control lines between rows.
const (
	kindTable   = "table"
	kindEnd     = "end"
	kindTrailer = "trailer"
)

// Limits that keep a hostile file from exhausting memory.
const (
	maxLineBytes = 512 << 20 // one row, base64 included
	maxNameBytes = 128       // table and column names
	maxTables    = 10_000
	maxColumns   = 2_000
)

// Header is the first line of a backup: what wrote it and which tables, with
// which columns, follow.
type Header struct {
	Format        string              `json:"format"`
	FormatVersion int                 `json:"format_version"`
	SchemaVersion int                 `json:"schema_version"`
	Engine        string              `json:"engine"`
	CreatedAt     time.Time           `json:"created_at"`
	Tables        []hypha.BackupTable `json:"tables"`
}

// Summary counts the rows of a backup, table by table.
type Summary struct {
	Tables []TableSummary
	Rows   int64  // rows in the backup
	SHA256 string // hex checksum of the file's uncompressed content before its trailer
	// Inserted counts the rows an Import added; rows whose key already
	// existed (a re-run) are skipped.
	Inserted int64
}

// TableSummary counts the rows of one table.
type TableSummary struct {
	Name     string
	Rows     int64
	Inserted int64 // Import only
}

// control is a line between rows: a table start, a table end or the trailer.
type control struct {
	Kind   string `json:"kind"`
	Name   string `json:"name,omitempty"`
	Rows   *int64 `json:"rows,omitempty"`
	Tables *int   `json:"tables,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// validateHeader checks everything the rest of the file relies on.
func validateHeader(h *Header) error {
	if h.Format != FormatName {
		return fmt.Errorf("it is not a hypha backup (format %q)", clip(h.Format))
	}
	if h.FormatVersion != FormatVersion {
		if h.FormatVersion > FormatVersion {
			return fmt.Errorf("it was written by a newer hypha (backup format %d; this binary reads format %d): upgrade hypha", h.FormatVersion, FormatVersion)
		}
		return fmt.Errorf("its header has an invalid format_version %d", h.FormatVersion)
	}
	if h.SchemaVersion < 1 {
		return fmt.Errorf("its header has an invalid schema_version %d", h.SchemaVersion)
	}
	if len(h.Tables) > maxTables {
		return fmt.Errorf("its header lists %d tables, more than %d", len(h.Tables), maxTables)
	}
	seen := make(map[string]bool, len(h.Tables))
	for _, t := range h.Tables {
		if err := checkName(t.Name); err != nil {
			return fmt.Errorf("its header has a table with %v", err)
		}
		if seen[t.Name] {
			return fmt.Errorf("its header lists table %q twice", t.Name)
		}
		seen[t.Name] = true
		if len(t.Columns) == 0 || len(t.Columns) > maxColumns {
			return fmt.Errorf("its header gives table %s %d columns", t.Name, len(t.Columns))
		}
		if len(t.Types) != len(t.Columns) {
			return fmt.Errorf("its header gives table %s %d columns but %d types", t.Name, len(t.Columns), len(t.Types))
		}
		cols := make(map[string]bool, len(t.Columns))
		for i, c := range t.Columns {
			if err := checkName(c); err != nil {
				return fmt.Errorf("its header has a column of table %s with %v", t.Name, err)
			}
			if cols[c] {
				return fmt.Errorf("its header lists column %s.%s twice", t.Name, c)
			}
			cols[c] = true
			if !knownType(t.Types[i]) {
				return fmt.Errorf("its header gives column %s.%s the unknown type %q", t.Name, c, clip(string(t.Types[i])))
			}
		}
		if len(t.Key) == 0 {
			return fmt.Errorf("its header gives table %s no primary key", t.Name)
		}
		for _, k := range t.Key {
			if !cols[k] {
				return fmt.Errorf("its header names key column %q that table %s does not have", clip(k), t.Name)
			}
		}
	}
	return nil
}

func checkName(s string) error {
	if s == "" || len(s) > maxNameBytes || !utf8.ValidString(s) {
		return fmt.Errorf("an invalid name %q", clip(s))
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("an invalid name %q", clip(s))
		}
	}
	return nil
}

func knownType(t hypha.ColumnType) bool {
	switch t {
	case hypha.TypeInteger, hypha.TypeReal, hypha.TypeText, hypha.TypeBlob:
		return true
	}
	return false
}

// appendValue encodes v, a value of a column of type typ, as JSON.
func appendValue(b []byte, typ hypha.ColumnType, v any) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	switch typ {
	case hypha.TypeInteger:
		switch x := v.(type) {
		case int64:
			return strconv.AppendInt(b, x, 10), nil
		case float64:
			if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
				return strconv.AppendInt(b, int64(x), 10), nil
			}
		}
	case hypha.TypeReal:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case int64:
			f = float64(x)
		default:
			return b, fmt.Errorf("%s is not a number", describe(v))
		}
		switch {
		case math.IsNaN(f):
			return append(b, `"NaN"`...), nil
		case math.IsInf(f, 1):
			return append(b, `"Infinity"`...), nil
		case math.IsInf(f, -1):
			return append(b, `"-Infinity"`...), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case hypha.TypeText:
		if s, ok := v.(string); ok {
			if !utf8.ValidString(s) {
				return b, fmt.Errorf("its text is not valid UTF-8, which no portable backup (nor PostgreSQL) can hold")
			}
			return appendString(b, s), nil
		}
	case hypha.TypeBlob:
		switch x := v.(type) {
		case []byte:
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, x)
			return append(b, '"'), nil
		case string:
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, []byte(x))
			return append(b, '"'), nil
		}
	default:
		return b, fmt.Errorf("its column type %q is not portable", typ)
	}
	return b, fmt.Errorf("%s does not fit a %s column", describe(v), typ)
}

// appendString appends s as a JSON string; s is valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeValue converts a JSON-decoded value (numbers as json.Number) to the
// portable Go type of a column of type typ.
func decodeValue(typ hypha.ColumnType, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case hypha.TypeInteger:
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				return i, nil
			}
			return nil, fmt.Errorf("%s is not a 64-bit integer", clip(string(n)))
		}
		return nil, fmt.Errorf("%s where an integer belongs", jsonKind(v))
	case hypha.TypeReal:
		switch x := v.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return nil, fmt.Errorf("%s is not a number", clip(string(x)))
			}
			return f, nil
		case string:
			switch x {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
		return nil, fmt.Errorf("%s where a number belongs", jsonKind(v))
	case hypha.TypeText:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("%s where text belongs", jsonKind(v))
	case hypha.TypeBlob:
		if s, ok := v.(string); ok {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("a blob that is not valid base64")
			}
			if b == nil {
				b = []byte{} // an empty blob, not NULL
			}
			return b, nil
		}
		return nil, fmt.Errorf("%s where a base64 blob belongs", jsonKind(v))
	}
	return nil, fmt.Errorf("unknown column type %q", clip(string(typ)))
}

// jsonKind names the kind of a JSON-decoded value for messages.
func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", clip(x))
	case json.Number:
		return "the number " + clip(string(x))
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// describe names a Go value read from a snapshot for messages.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the text %q", clip(x))
	case []byte:
		return fmt.Sprintf("a blob of %d bytes", len(x))
	}
	return fmt.Sprintf("the %T %s", v, clip(fmt.Sprint(v)))
}

// clip shortens a string from a file or a database for a one-line message.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	for i := n; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return s[:n] + "…"
}
