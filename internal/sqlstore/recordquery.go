package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hyphateam/hypha"
)

// commonColumns may be filtered and sorted on in every synced table.
var commonColumns = map[string]hypha.ColumnType{
	hypha.ColMachine: hypha.TypeText, hypha.ColID: hypha.TypeText, hypha.ColProject: hypha.TypeText,
	hypha.ColSyncedAt: hypha.TypeInteger, hypha.ColReceivedAt: hypha.TypeInteger,
}

// checkColumn returns the quoted column if t allows it in a filter.
func checkColumn(t *hypha.Table, name string) (string, error) {
	if _, ok := commonColumns[name]; ok || t.Column(name) != nil {
		return quote(name), nil
	}
	return "", hypha.Errorf(hypha.EInvalid, "table %s has no column %q", t.Name, name)
}

// likeEscaper escapes the wildcards of a LIKE pattern (ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListRecords returns the rows a filter selects.
func (q *queries) ListRecords(ctx context.Context, f hypha.RecordFilter) ([]*hypha.Record, error) {
	if err := f.CheckText(); err != nil {
		return nil, err
	}
	t := f.Table
	s := sqlFor(t)
	if f.PublicOnly && !t.Shareable {
		return nil, nil // only shareable tables have public rows
	}
	where := []string{"grove_id = ?"}
	args := []any{f.GroveID}
	if t.Shareable {
		vis, visArgs := visibleGroves("", f.GroveID, f.SharedFrom, f.PublicOnly)
		where, args = []string{vis}, visArgs
	}
	nVis := len(args) // the arguments of where[0], the visibility condition
	if f.MachineID != "" {
		where, args = append(where, "machine_id = ?"), append(args, f.MachineID)
	}
	if f.ProjectID != "" {
		where, args = append(where, "project_id = ?"), append(args, f.ProjectID)
	}
	for _, cv := range f.Equals {
		col, err := checkColumn(t, cv.Column)
		if err != nil {
			return nil, err
		}
		where, args = append(where, col+" = ?"), append(args, cv.Value)
	}
	for _, cv := range f.AtLeast {
		col, err := checkColumn(t, cv.Column)
		if err != nil {
			return nil, err
		}
		where, args = append(where, col+" >= ?"), append(args, cv.Value)
	}
	for _, cv := range f.Contains {
		col, err := checkColumn(t, cv.Column)
		if err != nil {
			return nil, err
		}
		s, ok := cv.Value.(string)
		if !ok {
			return nil, hypha.Errorf(hypha.EInvalid, "a substring condition on %s needs a string", cv.Column)
		}
		// LOWER is ASCII-only on both engines (SQLite's built-in, and
		// PostgreSQL under the "C" collation), so both match alike.
		where, args = append(where, "LOWER("+col+") LIKE LOWER(?) ESCAPE '\\'"), append(args, "%"+likeEscaper.Replace(s)+"%")
	}
	for _, in := range f.In {
		col, err := checkColumn(t, in.Column)
		if err != nil {
			return nil, err
		}
		if len(in.Values) == 0 {
			return nil, nil
		}
		if len(in.Values) > 1000 {
			return nil, hypha.Errorf(hypha.EInvalid, "at most 1000 values in a list filter, got %d", len(in.Values))
		}
		where, args = append(where, col+" IN "+placeholders(len(in.Values))), append(args, in.Values...)
	}
	order := f.OrderBy
	if len(order) == 0 {
		order = []hypha.OrderBy{{Column: hypha.ColMachine}, {Column: hypha.ColID}}
	}
	var orders []string
	for _, o := range order {
		col, err := checkColumn(t, o.Column)
		if err != nil {
			return nil, err
		}
		if o.Desc {
			col += " DESC"
		}
		orders = append(orders, col)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	query := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT ? OFFSET ?",
		s.selects, quote(t.Name), strings.Join(where, " AND "), strings.Join(orders, ", "))
	args = append(args, limit, max(f.Offset, 0))
	if others := sharedOthers(f.GroveID, f.SharedFrom); t.Shareable && !f.PublicOnly && len(others) > 0 {
		query, args = perGroveUnion(t, f.GroveID, others, where[1:], args[nVis:len(args)-2], orders, limit, max(f.Offset, 0))
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.db.wrap(err, "list "+t.Name)
	}
	defer rows.Close()
	var out []*hypha.Record
	vals := make([]any, s.perRow)
	ptrs := make([]any, s.perRow)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, q.db.wrap(err, "list "+t.Name)
		}
		out = append(out, recordFromRow(t, vals))
	}
	return out, q.db.wrap(rows.Err(), "list "+t.Name)
}

// manifestIDClassSQL is hypha.ManifestIDClass in SQL both engines accept.
// The migrations index it verbatim (0011_manifest_ids), and SQLite
// uses an index on an expression only for the very same expression: change
// both together.
const manifestIDClassSQL = `(CASE WHEN id <> '' AND LTRIM(id, '0123456789') = '' AND (id = '0' OR SUBSTR(id, 1, 1) <> '0') THEN LENGTH(id) ELSE 1000000 END)`

// manifestPage returns the page statement of ManifestPage and its
// arguments: the rows of t after the cursor (if any) in the table's
// manifest order, limit+1 of them, where (with whereArgs) being the
// partition's condition.
func manifestPage(t *hypha.Table, where string, whereArgs []any, cursor string, limit int) (string, []any) {
	cols := "id, project_id"
	if t.ContentHash {
		cols += ", content_hash"
	}
	args := slices.Clone(whereArgs)
	switch {
	case cursor == "":
		// No id condition on the first page: the Myco worker's `id > ''`
		// lost every integer id there (reference §12.5).
		order := "id"
		if t.IntegerID {
			order = manifestIDClassSQL + ", id"
		}
		return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT ?", cols, quote(t.Name), where, order), append(args, limit+1)
	case !t.IntegerID:
		return fmt.Sprintf("SELECT %s FROM %s WHERE %s AND id > ? ORDER BY id LIMIT ?", cols, quote(t.Name), where), append(args, cursor, limit+1)
	}
	// After a cursor in the integer order: the rest of the cursor's class
	// (ids of its length, or the other ids), then the later classes. Each
	// branch is one range of the manifest index; SQLite cannot take the
	// row value (class, id) > (?, ?) as a range of an index on an
	// expression and would filter the partition from its start instead.
	class := hypha.ManifestIDClass(cursor)
	branch := "SELECT * FROM (SELECT %s, %s AS cls FROM %s WHERE %s AND %s ORDER BY %s LIMIT ?) AS %s"
	same := fmt.Sprintf(branch, cols, manifestIDClassSQL, quote(t.Name), where, manifestIDClassSQL+" = ? AND id > ?", "id", "same_class")
	later := fmt.Sprintf(branch, cols, manifestIDClassSQL, quote(t.Name), where, manifestIDClassSQL+" > ?", manifestIDClassSQL+", id", "later_classes")
	query := fmt.Sprintf("SELECT %s FROM (%s UNION ALL %s) AS page ORDER BY cls, id LIMIT ?", cols, same, later)
	args = append(args, class, cursor, limit+1)
	args = append(append(args, whereArgs...), class, limit+1)
	return query, append(args, limit+1)
}

// ManifestPage lists a machine's ids (and content hashes) in the table's
// manifest order (hypha.ManifestQuery).
func (q *queries) ManifestPage(ctx context.Context, m hypha.ManifestQuery) (*hypha.ManifestPage, error) {
	t := m.Table
	where := "grove_id = ? AND machine_id = ?"
	args := []any{m.GroveID, m.MachineID}
	if m.ProjectID != "" {
		where += " AND project_id = ?"
		args = append(args, m.ProjectID)
	}
	page := &hypha.ManifestPage{}
	if err := q.queryRow(ctx, fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", quote(t.Name), where), args...).Scan(&page.Count); err != nil {
		return nil, q.db.wrap(err, "manifest "+t.Name)
	}
	if m.Limit <= 0 {
		return page, nil
	}
	query, args := manifestPage(t, where, args, m.Cursor, m.Limit)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, q.db.wrap(err, "manifest "+t.Name)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var project, hash any
		dest := []any{&id, &project}
		if t.ContentHash {
			dest = append(dest, &hash)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, q.db.wrap(err, "manifest "+t.Name)
		}
		page.Items = append(page.Items, hypha.ManifestItem{ID: id, ProjectID: asString(project), ContentHash: asString(hash)})
	}
	if err := rows.Err(); err != nil {
		return nil, q.db.wrap(err, "manifest "+t.Name)
	}
	if len(page.Items) > m.Limit {
		page.Items = page.Items[:m.Limit]
		page.NextCursor = page.Items[m.Limit-1].ID
	}
	return page, nil
}

// DeleteMachineRows deletes a machine's rows and vectors from tables.
func (q *queries) DeleteMachineRows(ctx context.Context, groveID, machineID string, tables []*hypha.Table) (map[string]int64, error) {
	sorted := append([]*hypha.Table(nil), tables...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	out := make(map[string]int64, len(sorted))
	if len(sorted) > 0 {
		// The search sequence first, as every writer of search documents
		// and embeddings takes it (see nextSearchSeq).
		if _, err := q.nextSearchSeq(ctx); err != nil {
			return nil, err
		}
	}
	var names []any
	for _, t := range sorted {
		res, err := q.exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE grove_id = ? AND machine_id = ?", quote(t.Name)), groveID, machineID)
		if err != nil {
			return nil, q.db.wrap(err, "delete rows of "+t.Name)
		}
		n, _ := res.RowsAffected()
		out[t.Name] = n
		names = append(names, t.Name)
	}
	if len(names) > 0 {
		args := append([]any{groveID, machineID}, names...)
		if _, err := q.exec(ctx, "DELETE FROM embeddings WHERE grove_id = ? AND machine_id = ? AND table_name IN "+placeholders(len(names)), args...); err != nil {
			return nil, q.db.wrap(err, "delete embeddings")
		}
		if err := q.removeSearchDocs(ctx, "grove_id = ? AND machine_id = ? AND table_name IN "+placeholders(len(names)), args); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TouchProjects sets last_sync_at of a grove's projects.
func (q *queries) TouchProjects(ctx context.Context, groveID string, ids []string, at int64) error {
	uniq := dedupe(ids)
	sort.Strings(uniq)
	return chunks(len(uniq), 500, func(lo, hi int) error {
		args := []any{at, groveID}
		for _, id := range uniq[lo:hi] {
			args = append(args, id)
		}
		_, err := q.exec(ctx, "UPDATE projects SET last_sync_at = ? WHERE grove_id = ? AND id IN "+placeholders(hi-lo), args...)
		return q.db.wrap(err, "touch projects")
	})
}

// CountEmbeddings counts a grove's vectors.
func (q *queries) CountEmbeddings(ctx context.Context, groveID string) (int64, error) {
	var n int64
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM embeddings WHERE grove_id = ?", groveID).Scan(&n)
	return n, q.db.wrap(err, "count embeddings")
}

// embeddableCond is the SQL of hypha.Record.Embeddable for table t: a
// non-empty text column and, for spores, status 'active'. Counts, reindex
// and the consumer must agree on it (reference §12.7).
func embeddableCond(t *hypha.Table) string {
	cond := fmt.Sprintf("%s IS NOT NULL AND %s <> ''", quote(t.TextColumn), quote(t.TextColumn))
	if t.Name == "spores" {
		cond += " AND status = 'active'"
	}
	return cond
}

// CountEmbeddable counts rows with text to embed, per table.
func (q *queries) CountEmbeddable(ctx context.Context, groveID string) (map[string]int64, error) {
	var parts []string
	var args []any
	for _, t := range hypha.SyncedTables {
		if t.TextColumn == "" {
			continue
		}
		parts = append(parts, fmt.Sprintf("SELECT '%s', COUNT(*) FROM %s WHERE grove_id = ? AND %s", t.Name, quote(t.Name), embeddableCond(t)))
		args = append(args, groveID)
	}
	rows, err := q.query(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return nil, q.db.wrap(err, "count embeddable rows")
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, q.db.wrap(err, "count embeddable rows")
		}
		out[name] = n
	}
	return out, q.db.wrap(rows.Err(), "count embeddable rows")
}

// ListEmbeddableKeys pages through a table's embeddable rows by key.
func (q *queries) ListEmbeddableKeys(ctx context.Context, e hypha.EmbeddableQuery) ([]hypha.RecordKey, error) {
	t := e.Table
	if t == nil || t.TextColumn == "" {
		return nil, hypha.Errorf(hypha.EInvalid, "table %v has no text to embed", t)
	}
	limit := e.Limit
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, 10000)
	where := "grove_id = ? AND " + embeddableCond(t)
	args := []any{e.GroveID}
	// The key condition only after the first page (reference §12.5).
	if e.AfterMachineID != "" || e.AfterID != "" {
		where += " AND (machine_id, id) > (?, ?)"
		args = append(args, e.AfterMachineID, e.AfterID)
	}
	args = append(args, limit)
	rows, err := q.query(ctx, fmt.Sprintf("SELECT machine_id, id FROM %s WHERE %s ORDER BY machine_id, id LIMIT ?", quote(t.Name), where), args...)
	if err != nil {
		return nil, q.db.wrap(err, "list embeddable "+t.Name)
	}
	defer rows.Close()
	var out []hypha.RecordKey
	for rows.Next() {
		k := hypha.RecordKey{Table: t, GroveID: e.GroveID}
		if err := rows.Scan(&k.MachineID, &k.ID); err != nil {
			return nil, q.db.wrap(err, "list embeddable "+t.Name)
		}
		out = append(out, k)
	}
	return out, q.db.wrap(rows.Err(), "list embeddable "+t.Name)
}

// GroveDataBytes sums the sizes of a grove's values, table by table.
func (q *queries) GroveDataBytes(ctx context.Context, groveID string) (int64, error) {
	var parts []string
	var args []any
	for _, t := range hypha.SyncedTables {
		terms := []string{"LENGTH(id)", "COALESCE(LENGTH(project_id), 0)", "COALESCE(LENGTH(extra), 0)"}
		for _, c := range t.Columns {
			if c.Type == hypha.TypeText {
				terms = append(terms, fmt.Sprintf("COALESCE(LENGTH(%s), 0)", quote(c.Name)))
			} else {
				terms = append(terms, "8")
			}
		}
		parts = append(parts, fmt.Sprintf("SELECT COALESCE(SUM(%s), 0) AS n FROM %s WHERE grove_id = ?", strings.Join(terms, " + "), quote(t.Name)))
		args = append(args, groveID)
	}
	parts = append(parts, "SELECT COALESCE(SUM(LENGTH(vector)), 0) AS n FROM embeddings WHERE grove_id = ?")
	args = append(args, groveID)
	var n int64
	err := q.queryRow(ctx, "SELECT SUM(n) FROM ("+strings.Join(parts, " UNION ALL ")+") AS sizes", args...).Scan(&n)
	return n, q.db.wrap(err, "measure grove data")
}

// sharedOthers returns the distinct groves of sharedFrom other than grove,
// as visibleGroves counts them.
func sharedOthers(grove string, sharedFrom []string) []string {
	var out []string
	for _, g := range sharedFrom {
		if g != grove && g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// perGroveUnion rewrites a list over several groves (the caller's and the
// cross_grove rows of the groves sharing with it) as one ordered, cut
// branch per grove under UNION ALL. With the visibility as one OR, both
// engines gather every visible row and sort them all; each branch instead
// reads its grove's index in order and stops after offset+limit rows, so a
// page costs the same with grants as without. rest are the conditions
// after the visibility one, with restArgs their arguments.
func perGroveUnion(t *hypha.Table, grove string, others []string, rest []string, restArgs []any, orders []string, limit, offset int) (string, []any) {
	s := sqlFor(t)
	cond := strings.Join(append([]string{""}, rest...), " AND ")
	branch := func(i int, visibility string) string {
		return fmt.Sprintf("SELECT * FROM (SELECT %s FROM %s WHERE %s%s ORDER BY %s LIMIT ?) AS b%d",
			s.selects, quote(t.Name), visibility, cond, strings.Join(orders, ", "), i)
	}
	parts := []string{branch(0, "grove_id = ?")}
	args := append(append([]any{grove}, restArgs...), limit+offset)
	for i, g := range others {
		parts = append(parts, branch(i+1, "grove_id = ? AND sharing_policy = ?"))
		args = append(append(append(args, g, hypha.SharingCrossGrove), restArgs...), limit+offset)
	}
	query := strings.Join(parts, " UNION ALL ") + " ORDER BY " + strings.Join(orders, ", ") + " LIMIT ? OFFSET ?"
	return query, append(args, limit, offset)
}
