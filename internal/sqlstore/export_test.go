package sqlstore

// ScanDocsQueries returns the statements of ScanSearchDocs by table, for
// the tests of their query plans.
func ScanDocsQueries() map[string]string {
	out := map[string]string{}
	for _, sq := range scanDocsQueries {
		out[sq.table.Name] = sq.query
	}
	return out
}
