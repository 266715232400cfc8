package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hyphateam/hypha"
)

// searchTables are the tables of the search index (migrations 0008, 0009):
// documents, the engine's keyword index over them (an FTS5 table and its
// shadow tables on SQLite, a tsvector column on PostgreSQL), tombstones and
// the change sequence. They hold only what the records imply, rebuilt by
// the job consumer: backups neither export nor import them (an import
// queues the records for indexing), and since search_docs differs between
// engines by nature, the normalized schema leaves them out.
var searchTables = map[string]bool{
	"search_docs": true, "search_tombstones": true, "search_seq": true,
	"search_fts": true, "search_fts_data": true, "search_fts_idx": true,
	"search_fts_docsize": true, "search_fts_config": true, "search_fts_content": true,
}

// FullText is the engine-specific half of keyword indexing.
type FullText interface {
	// DocumentColumn names the column of search_docs that holds the
	// indexed text and the SQL of its value with one placeholder for the
	// text; "" when the engine indexes texts apart (IndexTexts).
	DocumentColumn() (column, value string)
	// IndexTexts (re)indexes the texts of documents by doc_id.
	IndexTexts(ctx context.Context, q Querier, ids []int64, texts []string) error
	// UnindexTexts removes documents' texts from the index by doc_id.
	UnindexTexts(ctx context.Context, q Querier, ids []int64) error
	// KeywordMatch returns how the engine matches and ranks the documents
	// (search_docs, aliased d) holding any of terms (all of them with
	// all): the FROM clause, the
	// condition, the score (higher is better), and the value of the one
	// placeholder from and match hold between them.
	KeywordMatch(terms []string, all bool) (from, match, score string, arg any)
}

// nextSearchSeq bumps the change sequence once per transaction and
// returns the transaction's number. The row lock it takes on PostgreSQL
// orders writers until commit, so sequence numbers become visible in
// order. Every writer takes it before it touches search documents,
// tombstones or embeddings, so writers always lock in the same order and
// cannot deadlock on each other's rows.
func (q *queries) nextSearchSeq(ctx context.Context) (int64, error) {
	if q.searchSeq != 0 {
		return q.searchSeq, nil
	}
	var seq int64
	if err := q.queryRow(ctx, `UPDATE search_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&seq); err != nil {
		return 0, q.db.wrap(err, "bump search sequence")
	}
	q.searchSeq = seq
	return seq, nil
}

const searchDocColumns = `grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at, sharing_policy, seq`

// PutSearchDocs writes documents with multi-row upserts, in key order.
func (q *queries) PutSearchDocs(ctx context.Context, docs []*hypha.SearchDoc) error {
	if len(docs) == 0 {
		return nil
	}
	docs = lastPerKey(docs)
	seq, err := q.nextSearchSeq(ctx)
	if err != nil {
		return err
	}
	ft := q.db.dialect.FullText()
	docCol, docVal := ft.DocumentColumn()
	cols, row, perRow := searchDocColumns, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", 13
	set := `project_id = excluded.project_id, status = excluded.status, observation_type = excluded.observation_type,
		session_id = excluded.session_id, source_path = excluded.source_path, name = excluded.name, created_at = excluded.created_at,
		sharing_policy = excluded.sharing_policy, seq = excluded.seq`
	if docCol != "" {
		cols += ", " + docCol
		row = strings.TrimSuffix(row, ")") + ", " + docVal + ")"
		set += ", " + docCol + " = excluded." + docCol
		perRow++
	}
	return chunks(len(docs), min(500, maxParams/perRow), func(lo, hi int) error {
		part := docs[lo:hi]
		args := make([]any, 0, len(part)*perRow)
		for _, d := range part {
			args = append(args, d.Key.GroveID, d.Key.Table.Name, d.Key.MachineID, d.Key.ID, nullString(d.ProjectID),
				nullString(d.Status), nullString(d.ObservationType), nullString(d.SessionID), nullString(d.SourcePath),
				nullString(d.Name), nullInt(d.CreatedAt), nullString(d.SharingPolicy), seq)
			if docCol != "" {
				args = append(args, d.Text)
			}
		}
		rows, err := q.query(ctx, `INSERT INTO search_docs (`+cols+`) VALUES `+valuesRows(len(part), row)+`
			ON CONFLICT (grove_id, table_name, machine_id, record_id) DO UPDATE SET `+set+`
			RETURNING doc_id, grove_id, table_name, machine_id, record_id`, args...)
		if err != nil {
			return q.db.wrap(err, "put search documents")
		}
		// Keyed by the whole key: the same record id may exist in other
		// groves, and each document needs its own doc_id.
		idOf := make(map[[4]string]int64, len(part))
		for rows.Next() {
			var id int64
			var k [4]string
			if err := rows.Scan(&id, &k[0], &k[1], &k[2], &k[3]); err != nil {
				rows.Close()
				return q.db.wrap(err, "put search documents")
			}
			idOf[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return q.db.wrap(err, "put search documents")
		}
		ids, texts := make([]int64, len(part)), make([]string, len(part))
		for i, d := range part {
			id, ok := idOf[[4]string{d.Key.GroveID, d.Key.Table.Name, d.Key.MachineID, d.Key.ID}]
			if !ok {
				return fmt.Errorf("put search documents: no doc_id returned for %s %q", d.Key.Table.Name, d.Key.ID)
			}
			ids[i], texts[i] = id, d.Text
		}
		if err := ft.IndexTexts(ctx, q.q, ids, texts); err != nil {
			return q.db.wrap(err, "index search texts")
		}
		return q.deleteTombstones(ctx, part)
	})
}

// lastPerKey keeps the last document of each key, sorted by key so
// concurrent writers lock rows in the same order.
func lastPerKey(docs []*hypha.SearchDoc) []*hypha.SearchDoc {
	keyOf := func(d *hypha.SearchDoc) [4]string {
		return [4]string{d.Key.GroveID, d.Key.Table.Name, d.Key.MachineID, d.Key.ID}
	}
	last := make(map[[4]string]int, len(docs))
	for i, d := range docs {
		last[keyOf(d)] = i
	}
	out := make([]*hypha.SearchDoc, 0, len(last))
	for i, d := range docs {
		if last[keyOf(d)] == i {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := keyOf(out[i]), keyOf(out[j])
		return slices.Compare(a[:], b[:]) < 0
	})
	return out
}

func (q *queries) deleteTombstones(ctx context.Context, docs []*hypha.SearchDoc) error {
	args := make([]any, 0, 4*len(docs))
	for _, d := range docs {
		args = append(args, d.Key.GroveID, d.Key.Table.Name, d.Key.MachineID, d.Key.ID)
	}
	_, err := q.exec(ctx, `DELETE FROM search_tombstones WHERE (grove_id, table_name, machine_id, record_id) IN (VALUES `+
		valuesRows(len(docs), "(?, ?, ?, ?)")+`)`, args...)
	return q.db.wrap(err, "clear search tombstones")
}

// RemoveSearchDocs removes the documents and vectors of keys.
func (q *queries) RemoveSearchDocs(ctx context.Context, keys []hypha.RecordKey) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := q.nextSearchSeq(ctx); err != nil {
		return err
	}
	if err := q.DeleteEmbeddings(ctx, keys); err != nil {
		return err
	}
	return chunks(len(keys), 500, func(lo, hi int) error {
		args := make([]any, 0, 4*(hi-lo))
		for _, k := range keys[lo:hi] {
			args = append(args, k.GroveID, k.Table.Name, k.MachineID, k.ID)
		}
		return q.removeSearchDocs(ctx, `(grove_id, table_name, machine_id, record_id) IN (VALUES `+
			valuesRows(hi-lo, "(?, ?, ?, ?)")+`)`, args)
	})
}

// removeSearchDocs deletes the documents matching where (over search_docs
// columns), unindexes their texts and leaves their tombstones.
func (q *queries) removeSearchDocs(ctx context.Context, where string, args []any) error {
	seq, err := q.nextSearchSeq(ctx)
	if err != nil {
		return err
	}
	rows, err := q.query(ctx, `DELETE FROM search_docs WHERE `+where+` RETURNING doc_id, grove_id, table_name, machine_id, record_id`, args...)
	if err != nil {
		return q.db.wrap(err, "remove search documents")
	}
	var ids []int64
	var gone [][4]string
	for rows.Next() {
		var id int64
		var k [4]string
		if err := rows.Scan(&id, &k[0], &k[1], &k[2], &k[3]); err != nil {
			rows.Close()
			return q.db.wrap(err, "remove search documents")
		}
		ids, gone = append(ids, id), append(gone, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return q.db.wrap(err, "remove search documents")
	}
	if len(ids) == 0 {
		return nil
	}
	if err := q.db.dialect.FullText().UnindexTexts(ctx, q.q, ids); err != nil {
		return q.db.wrap(err, "unindex search texts")
	}
	sort.Slice(gone, func(i, j int) bool { return slices.Compare(gone[i][:], gone[j][:]) < 0 })
	now := q.now()
	return chunks(len(gone), 1000, func(lo, hi int) error {
		a := make([]any, 0, 6*(hi-lo))
		for _, k := range gone[lo:hi] {
			a = append(a, k[0], k[1], k[2], k[3], seq, now)
		}
		_, err := q.exec(ctx, `INSERT INTO search_tombstones (grove_id, table_name, machine_id, record_id, seq, deleted_at) VALUES `+
			valuesRows(hi-lo, "(?, ?, ?, ?, ?, ?)")+` ON CONFLICT (grove_id, table_name, machine_id, record_id) DO UPDATE SET seq = excluded.seq, deleted_at = excluded.deleted_at`, a...)
		return q.db.wrap(err, "write search tombstones")
	})
}

// SearchSeq reads the change sequence.
func (q *queries) SearchSeq(ctx context.Context) (seq, pruned int64, err error) {
	err = q.queryRow(ctx, `SELECT seq, pruned_seq FROM search_seq WHERE id = 1`).Scan(&seq, &pruned)
	return seq, pruned, q.db.wrap(err, "read search sequence")
}

// scanDocsQueries holds, per table with indexed text, the statement that
// reads its documents with their record's text and their vector: search_docs
// joined to the record by its primary key (grove_id, machine_id, id), so a
// document whose record is gone drops out, and to embeddings by theirs,
// which the vector's dimensions filter (LEFT JOIN: a document without one
// still comes). Its placeholders are dims, after and upTo. Table and column
// names come from the static table registry.
var scanDocsQueries = func() []scanDocsQuery {
	var out []scanDocsQuery
	for _, t := range hypha.SyncedTables {
		if t.TextColumn == "" {
			continue
		}
		out = append(out, scanDocsQuery{table: t, query: fmt.Sprintf(`SELECT d.grove_id, d.machine_id, d.record_id, d.project_id, d.status,
			d.observation_type, d.session_id, d.source_path, d.name, d.created_at, d.sharing_policy, r.%s, e.vector
		FROM search_docs d
			JOIN %s r ON r.grove_id = d.grove_id AND r.machine_id = d.machine_id AND r.id = d.record_id
			LEFT JOIN embeddings e ON e.grove_id = d.grove_id AND e.table_name = d.table_name
				AND e.machine_id = d.machine_id AND e.record_id = d.record_id AND e.dims = ?
		WHERE d.table_name = '%s' AND d.seq > ? AND d.seq <= ?`, quote(t.TextColumn), quote(t.Name), t.Name)})
	}
	return out
}()

type scanDocsQuery struct {
	table *hypha.Table
	query string
}

// ScanSearchDocs streams documents with their texts and vectors, one
// statement per table with indexed text.
func (q *queries) ScanSearchDocs(ctx context.Context, after, upTo int64, dims int, fn func(*hypha.SearchDoc, []float32) error) error {
	for _, sq := range scanDocsQueries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan search documents: %w", err)
		}
		if err := q.scanSearchDocs(ctx, sq, after, upTo, dims, fn); err != nil {
			return err
		}
	}
	return nil
}

// scanSearchDocs runs the scan of one table.
func (q *queries) scanSearchDocs(ctx context.Context, sq scanDocsQuery, after, upTo int64, dims int, fn func(*hypha.SearchDoc, []float32) error) error {
	rows, err := q.query(ctx, sq.query, int64(dims), after, upTo)
	if err != nil {
		return q.db.wrap(err, "scan search documents")
	}
	defer rows.Close()
	for rows.Next() {
		d := &hypha.SearchDoc{Key: hypha.RecordKey{Table: sq.table}}
		var project, status, obs, session, source, name, sharing, text sql.NullString
		var created sql.NullInt64
		var blob []byte
		if err := rows.Scan(&d.Key.GroveID, &d.Key.MachineID, &d.Key.ID, &project, &status, &obs, &session, &source, &name,
			&created, &sharing, &text, &blob); err != nil {
			return q.db.wrap(err, "scan search documents")
		}
		d.ProjectID, d.Status, d.ObservationType, d.SessionID = project.String, status.String, obs.String, session.String
		d.SourcePath, d.Name, d.CreatedAt, d.SharingPolicy = source.String, name.String, created.Int64, sharing.String
		d.Text = hypha.TruncateFullText(text.String)
		var vec []float32
		if blob != nil {
			if vec, err = hypha.DecodeVector(blob); err != nil {
				return err
			}
		}
		if err := fn(d, vec); err != nil {
			return err
		}
	}
	return q.db.wrap(rows.Err(), "scan search documents")
}

// ScanSearchTombstones streams tombstones.
func (q *queries) ScanSearchTombstones(ctx context.Context, after, upTo int64, fn func(hypha.RecordKey) error) error {
	rows, err := q.query(ctx, `SELECT grove_id, table_name, machine_id, record_id FROM search_tombstones WHERE seq > ? AND seq <= ?`, after, upTo)
	if err != nil {
		return q.db.wrap(err, "scan search tombstones")
	}
	defer rows.Close()
	for rows.Next() {
		var k hypha.RecordKey
		var table string
		if err := rows.Scan(&k.GroveID, &table, &k.MachineID, &k.ID); err != nil {
			return q.db.wrap(err, "scan search tombstones")
		}
		if k.Table = hypha.LookupTable(table); k.Table == nil {
			continue
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return q.db.wrap(rows.Err(), "scan search tombstones")
}

// PruneSearchTombstones deletes old tombstones and raises pruned_seq.
func (q *queries) PruneSearchTombstones(ctx context.Context, before int64) (int64, error) {
	var top sql.NullInt64
	if err := q.queryRow(ctx, `SELECT MAX(seq) FROM search_tombstones WHERE deleted_at < ?`, before).Scan(&top); err != nil {
		return 0, q.db.wrap(err, "prune search tombstones")
	}
	if !top.Valid {
		return 0, nil
	}
	res, err := q.exec(ctx, `DELETE FROM search_tombstones WHERE seq <= ?`, top.Int64)
	if err != nil {
		return 0, q.db.wrap(err, "prune search tombstones")
	}
	if _, err := q.exec(ctx, `UPDATE search_seq SET pruned_seq = ? WHERE id = 1 AND pruned_seq < ?`, top.Int64, top.Int64); err != nil {
		return 0, q.db.wrap(err, "prune search tombstones")
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// CountSearchDocs counts a grove's documents.
func (q *queries) CountSearchDocs(ctx context.Context, groveID string) (int64, error) {
	var n int64
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM search_docs WHERE grove_id = ?`, groveID).Scan(&n)
	return n, q.db.wrap(err, "count search documents")
}

// KeywordSearch matches the query's words against the documents visible
// to the filter's grove, filtered and ranked in one statement.
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
	var where []string
	var args []any
	vis, visArgs := visibleGroves("d.", f.GroveID, f.SharedFrom, f.PublicOnly)
	where, args = append(where, vis), append(args, visArgs...)
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
	// The columns of search_docs are named after the filter fields; a
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
	// Records holding every word first: when at least limit of them
	// match, the ranking ends there, and the engine scores only them
	// rather than every record holding any one word (the costly part of
	// a query of common words). Otherwise the query runs again matching
	// any word.
	if len(terms) > 1 {
		all, err := q.keywordQuery(ctx, terms, true, where, args)
		if err != nil || len(all) == limit {
			return all, err
		}
	}
	return q.keywordQuery(ctx, terms, false, where, args)
}

// keywordQuery runs one ranked keyword statement: documents holding all
// (or any) of terms, under the conditions where with args (the limit
// last).
func (q *queries) keywordQuery(ctx context.Context, terms []string, all bool, where []string, args []any) ([]hypha.KeywordHit, error) {
	from, match, score, arg := q.db.dialect.FullText().KeywordMatch(terms, all)
	stmt := fmt.Sprintf(`SELECT d.grove_id, d.table_name, d.machine_id, d.record_id, %s AS score
		FROM %s WHERE %s ORDER BY score DESC, d.grove_id, d.table_name, d.machine_id, d.record_id LIMIT ?`,
		score, from, strings.Join(append([]string{match}, where...), " AND "))
	rows, err := q.query(ctx, stmt, append([]any{arg}, args...)...)
	if err != nil {
		return nil, q.db.wrap(err, "keyword search")
	}
	defer rows.Close()
	hits := []hypha.KeywordHit{}
	for rows.Next() {
		var table string
		var h hypha.KeywordHit
		if err := rows.Scan(&h.Key.GroveID, &table, &h.Key.MachineID, &h.Key.ID, &h.Score); err != nil {
			return nil, q.db.wrap(err, "keyword search")
		}
		if h.Key.Table = hypha.LookupTable(table); h.Key.Table == nil {
			return nil, fmt.Errorf("keyword search: document of unknown table %q", table)
		}
		hits = append(hits, h)
	}
	return hits, q.db.wrap(rows.Err(), "keyword search")
}

// visibleGroves returns the condition (over columns prefixed by p) that
// selects the rows a grove may read: its own, the cross_grove rows of the
// groves in sharedFrom; with publicOnly, only rows marked public.
func visibleGroves(p, grove string, sharedFrom []string, publicOnly bool) (string, []any) {
	cond, args := p+"grove_id = ?", []any{grove}
	var others []any
	for _, g := range sharedFrom {
		if g != grove && g != "" && !slices.Contains(others, any(g)) {
			others = append(others, g)
		}
	}
	if len(others) > 0 {
		cond = "(" + cond + " OR (" + p + "grove_id IN " + placeholders(len(others)) + " AND " + p + "sharing_policy = ?))"
		args = append(append(args, others...), hypha.SharingCrossGrove)
	}
	if publicOnly {
		cond += " AND " + p + "sharing_policy = ?"
		args = append(args, hypha.SharingPublic)
	}
	return cond, args
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

// PutGrant records a grant.
func (q *queries) PutGrant(ctx context.Context, grantor, grantee string) error {
	if grantor == "" || grantee == "" || grantor == grantee {
		return hypha.Errorf(hypha.EInvalid, "a grant needs two different groves")
	}
	_, err := q.exec(ctx, `INSERT INTO grove_grants (grantor_grove_id, grantee_grove_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (grantee_grove_id, grantor_grove_id) DO NOTHING`, grantor, grantee, q.now())
	return q.db.wrap(err, "put grant")
}

// DeleteGrant withdraws a grant.
func (q *queries) DeleteGrant(ctx context.Context, grantor, grantee string) error {
	_, err := q.exec(ctx, `DELETE FROM grove_grants WHERE grantor_grove_id = ? AND grantee_grove_id = ?`, grantor, grantee)
	return q.db.wrap(err, "delete grant")
}

// ListGrantors lists the groves that granted grantee access.
func (q *queries) ListGrantors(ctx context.Context, grantee string) ([]string, error) {
	rows, err := q.query(ctx, `SELECT grantor_grove_id FROM grove_grants WHERE grantee_grove_id = ? ORDER BY grantor_grove_id`, grantee)
	if err != nil {
		return nil, q.db.wrap(err, "list grants")
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, q.db.wrap(err, "list grants")
		}
		out = append(out, g)
	}
	return out, q.db.wrap(rows.Err(), "list grants")
}
