package sqlite

import "strings"

// KeywordSearch matches the FTS5 index (fulltext_index, whose rowids are
// the doc_ids of fulltext_docs) with the terms as quoted phrases joined by
// OR: inside double quotes FTS5 reads no operator, column filter or
// prefix mark, so no input is a syntax error. bm25 is lower for better
// matches, hence its negation. CROSS JOIN makes SQLite walk the index's
// matches and look each document up by doc_id, never the reverse.
func (dialect) KeywordSearch(terms []string) (from, match, score string, arg any) {
	phrases := make([]string, len(terms))
	for i, t := range terms {
		phrases[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	return "fulltext_index CROSS JOIN fulltext_docs AS d ON d.doc_id = fulltext_index.rowid",
		"fulltext_index MATCH ?", "-bm25(fulltext_index)", strings.Join(phrases, " OR ")
}

// TriggerNames lists the triggers of the database.
func (dialect) TriggerNames() string {
	return `SELECT tbl_name, name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name`
}
