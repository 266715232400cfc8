package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hyphateam/hypha"
)

// fullTextTables are the engines' full-text tables (migration 0007): one
// document per searchable record in fulltext_docs, with the columns
// keyword filters apply to, and the index over the documents' text, an
// FTS5 table on SQLite (fulltext_index and its shadow tables) and a
// tsvector column on PostgreSQL. Triggers on the five searchable tables
// keep them current. They differ by nature between engines and hold only
// what the records imply, so the normalized schema leaves them out (it
// lists the triggers instead) and backups neither export nor import them:
// an import's inserts fire the triggers, which index the records again.
var fullTextTables = map[string]bool{
	"fulltext_docs": true, "fulltext_index": true, "fulltext_index_data": true, "fulltext_index_idx": true,
	"fulltext_index_docsize": true, "fulltext_index_config": true, "fulltext_index_content": true,
}

// KeywordSearch runs a keyword query on the read pool.
func (db *DB) KeywordSearch(ctx context.Context, query string, limit int, f hypha.VectorFilter) ([]hypha.KeywordHit, error) {
	return db.reader().KeywordSearch(ctx, query, limit, f)
}

// KeywordSearch matches the query's words against the full-text documents
// of the grove, filtered and ranked in one statement.
func (q *queries) KeywordSearch(ctx context.Context, query string, limit int, f hypha.VectorFilter) ([]hypha.KeywordHit, error) {
	if f.GroveID == "" {
		return nil, hypha.Errorf(hypha.EInvalid, "a keyword search needs a grove")
	}
	if limit <= 0 {
		limit = hypha.DefaultSearchLimit
	}
	limit = min(limit, hypha.MaxVectorTopK)
	hits := []hypha.KeywordHit{}
	terms := hypha.KeywordTerms(query)
	if len(terms) == 0 {
		return hits, nil
	}
	from, match, score, arg := q.db.dialect.KeywordSearch(terms)
	where := []string{match, "d.grove_id = ?"}
	args := []any{arg, f.GroveID}
	if len(f.Tables) > 0 {
		tables := searchableTables(f.Tables)
		if len(tables) == 0 {
			return hits, nil
		}
		where = append(where, "d.table_name IN "+placeholders(len(tables)))
		for _, t := range tables {
			args = append(args, t)
		}
	}
	// The columns of fulltext_docs are named after the filter fields; a
	// table without such a column stores NULL, which matches no value.
	for _, eq := range []struct{ column, value string }{
		{"project_id", f.ProjectID}, {"machine_id", f.MachineID}, {"status", f.Status},
		{"observation_type", f.ObservationType}, {"session_id", f.SessionID},
		{"source_path", f.SourcePath}, {"name", f.Name},
	} {
		if eq.value != "" {
			where, args = append(where, "d."+eq.column+" = ?"), append(args, eq.value)
		}
	}
	if f.Since != 0 || f.Until != 0 {
		if f.Since != 0 && f.Until != 0 && f.Since > f.Until {
			return hits, nil
		}
		// As in the vector index: a record without created_at (NULL or 0)
		// fails either bound.
		where = append(where, "d.created_at <> 0")
		if f.Since != 0 {
			where, args = append(where, "d.created_at >= ?"), append(args, f.Since)
		}
		if f.Until != 0 {
			where, args = append(where, "d.created_at <= ?"), append(args, f.Until)
		}
	}
	args = append(args, limit)
	stmt := fmt.Sprintf(`SELECT d.grove_id, d.table_name, d.machine_id, d.record_id, d.project_id, d.created_at, %s AS score
		FROM %s WHERE %s ORDER BY score DESC, d.table_name, d.machine_id, d.record_id LIMIT ?`,
		score, from, strings.Join(where, " AND "))
	rows, err := q.query(ctx, stmt, args...)
	if err != nil {
		return nil, q.db.wrap(err, "keyword search")
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var project, created any
		var h hypha.KeywordHit
		if err := rows.Scan(&h.Key.GroveID, &table, &h.Key.MachineID, &h.Key.ID, &project, &created, &h.Score); err != nil {
			return nil, q.db.wrap(err, "keyword search")
		}
		if h.Key.Table = hypha.LookupTable(table); h.Key.Table == nil {
			return nil, fmt.Errorf("keyword search: document of unknown table %q", table)
		}
		h.ProjectID = asString(project)
		h.CreatedAt, _ = portable(hypha.TypeInteger, created).(int64)
		hits = append(hits, h)
	}
	return hits, q.db.wrap(rows.Err(), "keyword search")
}

// searchableTables returns the distinct names of tables with indexed text
// among names; names of other tables match nothing.
func searchableTables(names []string) []string {
	var out []string
	for _, n := range names {
		if t := hypha.LookupTable(n); t != nil && t.TextColumn != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
