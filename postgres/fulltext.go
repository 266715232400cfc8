package postgres

import "strings"

// KeywordSearch matches the tsvector of fulltext_docs (GIN-indexed) with
// the terms as quoted lexemes joined by | (OR): to_tsquery then stems them
// with the 'english' configuration, as the documents were, and a quoted
// lexeme carries no operator, so no input is a syntax error. ts_rank_cd
// (normalised by 1 + log of the document's length) is higher for better
// matches.
func (dialect) KeywordSearch(terms []string) (from, match, score string, arg any) {
	lexemes := make([]string, len(terms))
	for i, t := range terms {
		lexemes[i] = "'" + strings.ReplaceAll(strings.ReplaceAll(t, `\`, `\\`), "'", "''") + "'"
	}
	return "fulltext_docs AS d CROSS JOIN to_tsquery('english', ?) AS q(query)",
		"d.document @@ q.query", "ts_rank_cd(d.document, q.query, 1)", strings.Join(lexemes, " | ")
}

// TriggerNames lists the triggers of the current schema's tables, the
// ones PostgreSQL makes for constraints excepted.
func (dialect) TriggerNames() string {
	return `SELECT c.relname, t.tgname FROM pg_trigger t
		JOIN pg_class c ON c.oid = t.tgrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND NOT t.tgisinternal ORDER BY t.tgname`
}
