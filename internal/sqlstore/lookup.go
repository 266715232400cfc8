package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hyphateam/hypha"
)

// keyGroup is the ids of one table, grove and machine.
type keyGroup struct {
	t              *hypha.Table
	grove, machine string
	ids            []string
}

// groupKeys groups keys by (table, grove, machine), with distinct ids, all
// in key order, so lookups are plain IN lists on one column.
func groupKeys(keys []hypha.RecordKey) []*keyGroup {
	byKey := map[[3]string]*keyGroup{}
	var groups []*keyGroup
	for _, k := range keys {
		gk := [3]string{k.Table.Name, k.GroveID, k.MachineID}
		g := byKey[gk]
		if g == nil {
			g = &keyGroup{t: k.Table, grove: k.GroveID, machine: k.MachineID}
			byKey[gk] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, k.ID)
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		return slices.Compare([]string{a.t.Name, a.grove, a.machine}, []string{b.t.Name, b.grove, b.machine}) < 0
	})
	for _, g := range groups {
		slices.Sort(g.ids)
		g.ids = slices.Compact(g.ids)
	}
	return groups
}

func idArgs(prefix []any, ids []string) []any {
	args := append(make([]any, 0, len(prefix)+len(ids)), prefix...)
	for _, id := range ids {
		args = append(args, id)
	}
	return args
}

// FindRecords reads the rows of many keys, one statement per table.
func (q *queries) FindRecords(ctx context.Context, keys []hypha.RecordKey) ([]*hypha.Record, error) {
	// One statement per table, whatever the groves and machines: the keys
	// are a VALUES list joined to the table's primary key (both engines
	// look each one up; a row-value IN list would make SQLite scan).
	byTable := map[*hypha.Table][]hypha.RecordKey{}
	var tables []*hypha.Table
	for _, k := range keys {
		if byTable[k.Table] == nil {
			tables = append(tables, k.Table)
		}
		byTable[k.Table] = append(byTable[k.Table], k)
	}
	slices.SortFunc(tables, func(a, b *hypha.Table) int { return strings.Compare(a.Name, b.Name) })
	// Outside a transaction the tables are read at once, each on a
	// connection of the pool: on PostgreSQL the round trips overlap
	// instead of adding up.
	if _, pool := q.q.(*sql.DB); pool && len(tables) > 1 {
		parts := make([][]*hypha.Record, len(tables))
		errs := make([]error, len(tables))
		var wg sync.WaitGroup
		for i, t := range tables {
			wg.Add(1)
			go func() {
				defer wg.Done()
				parts[i], errs[i] = q.findInTable(ctx, t, byTable[t])
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		return slices.Concat(parts...), nil
	}
	var out []*hypha.Record
	for _, t := range tables {
		recs, err := q.findInTable(ctx, t, byTable[t])
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// findInTable reads the records of keys of one table.
func (q *queries) findInTable(ctx context.Context, t *hypha.Table, ks []hypha.RecordKey) ([]*hypha.Record, error) {
	var out []*hypha.Record
	slices.SortFunc(ks, func(a, b hypha.RecordKey) int {
		return slices.Compare([]string{a.GroveID, a.MachineID, a.ID}, []string{b.GroveID, b.MachineID, b.ID})
	})
	ks = slices.CompactFunc(ks, func(a, b hypha.RecordKey) bool {
		return a.GroveID == b.GroveID && a.MachineID == b.MachineID && a.ID == b.ID
	})
	s := sqlFor(t)
	err := chunks(len(ks), maxListIDs, func(lo, hi int) error {
		var sb strings.Builder
		args := make([]any, 0, 3*(hi-lo))
		for i, k := range ks[lo:hi] {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?)")
			args = append(args, k.GroveID, k.MachineID, k.ID)
		}
		rows, err := q.query(ctx, "SELECT "+s.selects+" FROM (VALUES "+sb.String()+") AS k JOIN "+quote(t.Name)+
			" ON grove_id = k.column1 AND machine_id = k.column2 AND id = k.column3", args...)
		if err != nil {
			return q.db.wrap(err, "find "+t.Name)
		}
		defer rows.Close()
		vals := make([]any, s.perRow)
		ptrs := make([]any, s.perRow)
		for rows.Next() {
			for i := range vals {
				vals[i], ptrs[i] = nil, &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return q.db.wrap(err, "find "+t.Name)
			}
			out = append(out, recordFromRow(t, vals))
		}
		return q.db.wrap(rows.Err(), "find "+t.Name)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindEmbeddings reads the vectors of many keys, a grove, table and
// machine at a time.
func (q *queries) FindEmbeddings(ctx context.Context, keys []hypha.RecordKey) ([]*hypha.Embedding, error) {
	var out []*hypha.Embedding
	for _, g := range groupKeys(keys) {
		err := chunks(len(g.ids), maxListIDs, func(lo, hi int) error {
			rows, err := q.query(ctx, `SELECT record_id, model, vector, content_hash, updated_at FROM embeddings
				WHERE grove_id = ? AND table_name = ? AND machine_id = ? AND record_id IN `+placeholders(hi-lo),
				idArgs([]any{g.grove, g.t.Name, g.machine}, g.ids[lo:hi])...)
			if err != nil {
				return q.db.wrap(err, "find embeddings")
			}
			defer rows.Close()
			for rows.Next() {
				e := &hypha.Embedding{Key: hypha.RecordKey{Table: g.t, GroveID: g.grove, MachineID: g.machine}}
				var blob []byte
				var hash sql.NullString
				if err := rows.Scan(&e.Key.ID, &e.Model, &blob, &hash, &e.UpdatedAt); err != nil {
					return q.db.wrap(err, "find embeddings")
				}
				if e.Vector, err = hypha.DecodeVector(blob); err != nil {
					return err
				}
				e.ContentHash = hash.String
				out = append(out, e)
			}
			return q.db.wrap(rows.Err(), "find embeddings")
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
