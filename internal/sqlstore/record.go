package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hyphateam/hypha"
)

// maxParams bounds the placeholders of one statement: far below SQLite's
// 32766 and PostgreSQL's 65535, so no batch ever hits an engine limit.
const maxParams = 8000

// tableSQL holds the statements of one synced table, built once from its
// declaration.
type tableSQL struct {
	columns  []string // every column in insert order
	insert   string   // INSERT INTO t (cols) VALUES
	conflict string   // ON CONFLICT … DO UPDATE … RETURNING
	selects  string   // column list for reads, common columns first
	perRow   int
}

var tableSQLs sync.Map // *hypha.Table → *tableSQL

func sqlFor(t *hypha.Table) *tableSQL {
	if v, ok := tableSQLs.Load(t); ok {
		return v.(*tableSQL)
	}
	cols := []string{hypha.ColGrove, hypha.ColMachine, hypha.ColID, hypha.ColProject}
	for _, c := range t.Columns {
		cols = append(cols, c.Name)
	}
	cols = append(cols, hypha.ColSyncedAt, hypha.ColExtra, hypha.ColReceivedAt)
	quoted := make([]string, len(cols))
	var sets []string
	for i, c := range cols {
		quoted[i] = quote(c)
		if i >= 3 {
			sets = append(sets, fmt.Sprintf("%s = excluded.%s", quote(c), quote(c)))
		}
	}
	conflict := fmt.Sprintf(" ON CONFLICT (grove_id, machine_id, id) DO UPDATE SET %s", strings.Join(sets, ", "))
	if t.ContentHash {
		// De-duplication: an unchanged content hash writes nothing, so the
		// row is not returned and nothing is re-embedded.
		conflict += fmt.Sprintf(" WHERE excluded.content_hash IS NULL OR %s.content_hash IS DISTINCT FROM excluded.content_hash", quote(t.Name))
	}
	conflict += " RETURNING machine_id, id"
	s := &tableSQL{
		columns:  cols,
		insert:   fmt.Sprintf("INSERT INTO %s (%s) VALUES ", quote(t.Name), strings.Join(quoted, ", ")),
		conflict: conflict,
		selects:  strings.Join(quoted, ", "),
		perRow:   len(cols),
	}
	tableSQLs.Store(t, s)
	return s
}

type machineID struct{ machine, id string }

// UpsertRecords writes records table by table with multi-row upserts.
func (q *queries) UpsertRecords(ctx context.Context, recs []*hypha.Record) ([]bool, error) {
	written := make([]bool, len(recs))
	// Group by (table, grove); the last record of a key wins.
	type group struct {
		t     *hypha.Table
		grove string
		idx   []int
		pos   map[machineID]int
	}
	var groups []*group
	byKey := map[[2]string]*group{}
	for i, r := range recs {
		k := [2]string{r.Table.Name, r.GroveID}
		g := byKey[k]
		if g == nil {
			g = &group{t: r.Table, grove: r.GroveID, pos: map[machineID]int{}}
			byKey[k] = g
			groups = append(groups, g)
		}
		mk := machineID{r.MachineID, r.ID}
		if p, ok := g.pos[mk]; ok {
			g.idx[p] = i
			continue
		}
		g.pos[mk] = len(g.idx)
		g.idx = append(g.idx, i)
	}
	// Write in key order so concurrent batches that share keys lock rows in
	// the same order; in input order, PostgreSQL can deadlock them.
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		return a.t.Name < b.t.Name || a.t.Name == b.t.Name && a.grove < b.grove
	})
	for _, g := range groups {
		sort.Slice(g.idx, func(i, j int) bool {
			a, b := recs[g.idx[i]], recs[g.idx[j]]
			return a.MachineID < b.MachineID || a.MachineID == b.MachineID && a.ID < b.ID
		})
		for p, i := range g.idx {
			g.pos[machineID{recs[i].MachineID, recs[i].ID}] = p
		}
	}
	now := q.now()
	for _, g := range groups {
		s := sqlFor(g.t)
		per := maxParams / s.perRow
		err := chunks(len(g.idx), per, func(lo, hi int) error {
			args := make([]any, 0, (hi-lo)*s.perRow)
			for j := lo; j < hi; j++ {
				args = appendRecordArgs(args, recs[g.idx[j]], now)
			}
			rows, err := q.query(ctx, s.insert+valuesRows(hi-lo, placeholders(s.perRow))+s.conflict, args...)
			if err != nil {
				return q.db.wrap(err, "upsert "+g.t.Name)
			}
			defer rows.Close()
			for rows.Next() {
				var m, id string
				if err := rows.Scan(&m, &id); err != nil {
					return q.db.wrap(err, "upsert "+g.t.Name)
				}
				if p, ok := g.pos[machineID{m, id}]; ok {
					written[g.idx[p]] = true
				}
			}
			return q.db.wrap(rows.Err(), "upsert "+g.t.Name)
		})
		if err != nil {
			return nil, err
		}
	}
	// Earlier duplicates of a key share the fate of the record that won.
	for i, r := range recs {
		g := byKey[[2]string{r.Table.Name, r.GroveID}]
		written[i] = written[g.idx[g.pos[machineID{r.MachineID, r.ID}]]]
	}
	return written, nil
}

func appendRecordArgs(args []any, r *hypha.Record, now int64) []any {
	args = append(args, r.GroveID, r.MachineID, r.ID, nullString(r.ProjectID))
	args = append(args, r.Values...)
	var synced any
	if r.SyncedAt != nil {
		synced = *r.SyncedAt
	}
	var extra any
	if len(r.Extra) > 0 {
		extra = string(r.Extra)
	}
	return append(args, synced, extra, now)
}

// DeleteRecords deletes rows by key, table by table.
func (q *queries) DeleteRecords(ctx context.Context, keys []hypha.RecordKey) ([]bool, error) {
	deleted := make([]bool, len(keys))
	type group struct {
		t     *hypha.Table
		grove string
		idx   []int
	}
	var groups []*group
	byKey := map[[2]string]*group{}
	for i, k := range keys {
		gk := [2]string{k.Table.Name, k.GroveID}
		g := byKey[gk]
		if g == nil {
			g = &group{t: k.Table, grove: k.GroveID}
			byKey[gk] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	// Same lock order as UpsertRecords: tables by name.
	sort.SliceStable(groups, func(a, b int) bool { return groups[a].t.Name < groups[b].t.Name })
	for _, g := range groups {
		err := chunks(len(g.idx), 500, func(lo, hi int) error {
			args := []any{g.grove}
			pairs := make([]string, 0, hi-lo)
			for j := lo; j < hi; j++ {
				k := keys[g.idx[j]]
				pairs = append(pairs, "(?, ?)")
				args = append(args, k.MachineID, k.ID)
			}
			query := fmt.Sprintf("DELETE FROM %s WHERE grove_id = ? AND (machine_id, id) IN (%s) RETURNING machine_id, id",
				quote(g.t.Name), strings.Join(pairs, ", "))
			rows, err := q.query(ctx, query, args...)
			if err != nil {
				return q.db.wrap(err, "delete from "+g.t.Name)
			}
			defer rows.Close()
			gone := map[machineID]bool{}
			for rows.Next() {
				var m, id string
				if err := rows.Scan(&m, &id); err != nil {
					return q.db.wrap(err, "delete from "+g.t.Name)
				}
				gone[machineID{m, id}] = true
			}
			for j := lo; j < hi; j++ {
				k := keys[g.idx[j]]
				deleted[g.idx[j]] = gone[machineID{k.MachineID, k.ID}]
			}
			return q.db.wrap(rows.Err(), "delete from "+g.t.Name)
		})
		if err != nil {
			return nil, err
		}
	}
	return deleted, nil
}

// FindRecord returns one row of a synced table.
func (q *queries) FindRecord(ctx context.Context, key hypha.RecordKey) (*hypha.Record, error) {
	t := key.Table
	s := sqlFor(t)
	query := fmt.Sprintf("SELECT %s FROM %s WHERE grove_id = ? AND id = ?", s.selects, quote(t.Name))
	args := []any{key.GroveID, key.ID}
	if key.MachineID != "" {
		query += " AND machine_id = ?"
		args = append(args, key.MachineID)
	}
	query += " ORDER BY machine_id LIMIT 1"
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.db.wrap(err, "find "+t.Name)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, q.db.wrap(err, "find "+t.Name)
		}
		return nil, hypha.Errorf(hypha.ENotFound, "no %s record %q", t.Name, hypha.Clip(key.ID))
	}
	vals := make([]any, s.perRow)
	ptrs := make([]any, s.perRow)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, q.db.wrap(err, "find "+t.Name)
	}
	return recordFromRow(t, vals), nil
}

// recordFromRow turns a row read with tableSQL.selects into a Record.
func recordFromRow(t *hypha.Table, vals []any) *hypha.Record {
	r := &hypha.Record{Table: t, Values: make([]any, len(t.Columns))}
	r.GroveID = asString(vals[0])
	r.MachineID = asString(vals[1])
	r.ID = asString(vals[2])
	r.ProjectID = asString(vals[3])
	for i, c := range t.Columns {
		r.Values[i] = portable(c.Type, vals[4+i])
	}
	n := 4 + len(t.Columns)
	if v, ok := portable(hypha.TypeInteger, vals[n]).(int64); ok {
		r.SyncedAt = &v
	}
	if e := asString(vals[n+1]); e != "" {
		r.Extra = []byte(e)
	}
	if t.ContentHash {
		r.ContentHash, _ = r.Value("content_hash").(string)
	}
	return r
}

// CountRecords counts rows per synced table in one statement.
func (q *queries) CountRecords(ctx context.Context, groveID, machineID string) (map[string]int64, error) {
	var parts []string
	var args []any
	for _, t := range hypha.SyncedTables {
		p := fmt.Sprintf("SELECT '%s', COUNT(*) FROM %s WHERE grove_id = ?", t.Name, quote(t.Name))
		args = append(args, groveID)
		if machineID != "" {
			p += " AND machine_id = ?"
			args = append(args, machineID)
		}
		parts = append(parts, p)
	}
	rows, err := q.query(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return nil, q.db.wrap(err, "count records")
	}
	defer rows.Close()
	out := make(map[string]int64, len(hypha.SyncedTables))
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, q.db.wrap(err, "count records")
		}
		out[name] = n
	}
	return out, q.db.wrap(rows.Err(), "count records")
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}
