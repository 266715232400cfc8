package sqlstore

import "github.com/hyphateam/hypha"

// ScanDocsQueries returns the statements of ScanSearchDocs by table, for
// the tests of their query plans.
func ScanDocsQueries() map[string]string {
	out := map[string]string{}
	for _, sq := range scanDocsQueries {
		out[sq.table.Name] = sq.query
	}
	return out
}

// ManifestIDClassSQL is the SQL of hypha.ManifestIDClass, which the
// migrations must index verbatim.
const ManifestIDClassSQL = manifestIDClassSQL

// ManifestQuery returns the page statement of ManifestPage and its
// arguments for machine m1 of grove g, after cursor (none when "").
func ManifestQuery(t *hypha.Table, cursor string, limit int) (string, []any) {
	return manifestPage(t, "grove_id = ? AND machine_id = ?", []any{"g", "m1"}, cursor, limit)
}

// Bind rebinds query as the store's statements are, and returns how many
// rebound texts the store remembers.
func Bind(db *DB, query string) (string, int) {
	s := db.bind(query)
	n := 0
	db.rebind.Range(func(any, any) bool { n++; return true })
	return s, n
}

// MaxRebound is the bound of the rebound-text cache.
const MaxRebound = maxRebound
