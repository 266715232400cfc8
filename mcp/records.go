package mcp

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

// Limits of the list tools (reference §11: MCP list limits).
const (
	maxListLimit = 100
	maxIDLength  = 512  // ids, machine ids, grove ids, names
	maxFilterLen = 1000 // other string filters
	maxGetRows   = 100  // rows read to resolve a get by id across machines
)

// Operations of the entity tools.
const (
	opList = "list"
	opGet  = "get"
)

// list reads the rows of f within the call's scope: the grove, the
// records other groves share with it, or only the grove's public records
// on the anonymous tier. The scope always overrides f's grove fields.
func (s *Server) list(ctx context.Context, sc *scope, f hypha.RecordFilter) ([]*hypha.Record, error) {
	f.GroveID, f.SharedFrom, f.PublicOnly = sc.grove, sc.shared, sc.public
	f.Limit = max(1, min(f.Limit, maxListLimit))
	return s.opts.Store.ListRecords(ctx, f)
}

// getRow finds one record by id within the scope. machine, when set, names
// the owning machine; grove, when set, the grove (a record shared from
// another grove). Without a grove the caller's own grove wins, and among
// machines the lowest machine id. A miss is not_found with notFound as the
// message (the Myco worker's "Plan not found", …).
func (s *Server) getRow(ctx context.Context, sc *scope, t *hypha.Table, id, machine, grove, notFound string) (*hypha.Record, error) {
	if grove != "" && grove != sc.grove && !slices.Contains(sc.shared, grove) {
		return nil, hypha.Errorf(hypha.ENotFound, "%s", notFound)
	}
	rows, err := s.list(ctx, sc, hypha.RecordFilter{Table: t, MachineID: machine,
		Equals:  []hypha.ColumnValue{{Column: hypha.ColID, Value: id}},
		OrderBy: []hypha.OrderBy{{Column: hypha.ColMachine}}, Limit: maxGetRows})
	if err != nil {
		return nil, err
	}
	return pickRow(rows, sc.grove, grove, notFound)
}

// pickRow chooses the row of the wanted grove, else of the caller's own
// grove, else the first one.
func pickRow(rows []*hypha.Record, own, want, notFound string) (*hypha.Record, error) {
	var first *hypha.Record
	for _, r := range rows {
		switch {
		case want != "" && r.GroveID != want:
			continue
		case want != "" || r.GroveID == own:
			return r, nil
		case first == nil:
			first = r
		}
	}
	if first == nil {
		return nil, hypha.Errorf(hypha.ENotFound, "%s", notFound)
	}
	return first, nil
}

// fullRow is the answer of op "get": the full stored row (reference §7),
// as /records answers it.
func fullRow(r *hypha.Record) map[string]any { return app.RecordJSON(r) }

// Typed readers of a record's declared columns: nil when the column is
// NULL or holds another type.

func str(r *hypha.Record, col string) *string {
	if s, ok := r.Value(col).(string); ok {
		return &s
	}
	return nil
}

func num(r *hypha.Record, col string) *int64 {
	switch v := r.Value(col).(type) {
	case int64:
		return &v
	case float64:
		n := int64(v)
		return &n
	}
	return nil
}

// prefix returns the first n characters of a text column, as SQL's
// substr(col, 1, n) does (the Myco worker's previews).
func prefix(r *hypha.Record, col string, n int) *string {
	s := str(r, col)
	if s == nil || utf8.RuneCountInString(*s) <= n {
		return s
	}
	i, k := 0, 0
	for i = range *s {
		if k == n {
			break
		}
		k++
	}
	p := (*s)[:i]
	return &p
}

// requireID checks the id of op "get".
func requireID(op, id string) error {
	if op == opGet && strings.TrimSpace(id) == "" {
		return hypha.Errorf(hypha.EInvalid, "id is required for op: get")
	}
	return nil
}

// equals collects the equality filters that are set.
func equals(pairs ...string) []hypha.ColumnValue {
	var out []hypha.ColumnValue
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			out = append(out, hypha.ColumnValue{Column: pairs[i], Value: pairs[i+1]})
		}
	}
	return out
}

// newestFirst orders by the given columns, newest first, with the key
// (descending too, so an index on the columns and the key serves the
// whole order) as the tie-break so offsets page deterministically.
func newestFirst(cols ...string) []hypha.OrderBy {
	var out []hypha.OrderBy
	for _, c := range append(cols, hypha.ColMachine, hypha.ColID) {
		out = append(out, hypha.OrderBy{Column: c, Desc: true})
	}
	return out
}
