package sqlite

import (
	"context"
	"strings"

	"github.com/hyphateam/hypha/internal/sqlstore"
)

// fullText keeps texts in search_fts, a contentless FTS5 index whose rowids
// are the doc_ids of search_docs.
type fullText struct{}

// FullText returns the FTS5 keyword index.
func (dialect) FullText() sqlstore.FullText { return fullText{} }

// DocumentColumn: texts live in search_fts, not in search_docs.
func (fullText) DocumentColumn() (string, string) { return "", "" }

// IndexTexts replaces the indexed texts of the documents.
func (f fullText) IndexTexts(ctx context.Context, q sqlstore.Querier, ids []int64, texts []string) error {
	if err := f.UnindexTexts(ctx, q, ids); err != nil {
		return err
	}
	args := make([]any, 0, 2*len(ids))
	for i, id := range ids {
		args = append(args, id, texts[i])
	}
	_, err := q.ExecContext(ctx, `INSERT INTO search_fts (rowid, body) VALUES `+
		strings.TrimSuffix(strings.Repeat("(?, ?), ", len(ids)), ", "), args...)
	return err
}

// UnindexTexts deletes the documents' texts from the index.
func (fullText) UnindexTexts(ctx context.Context, q sqlstore.Querier, ids []int64) error {
	for lo := 0; lo < len(ids); lo += 500 {
		part := ids[lo:min(lo+500, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM search_fts WHERE rowid IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

// KeywordMatch matches search_fts with the terms as quoted phrases joined
// by OR (AND with all): inside double quotes FTS5 reads no operator, column filter or
// prefix mark, so no input is a syntax error. bm25 is lower for better
// matches, hence its negation. CROSS JOIN makes SQLite walk the index's
// matches and look each document up by doc_id, never the reverse.
func (fullText) KeywordMatch(terms []string, all bool) (from, match, score string, arg any) {
	phrases := make([]string, len(terms))
	for i, t := range terms {
		phrases[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	return "search_fts CROSS JOIN search_docs AS d ON d.doc_id = search_fts.rowid",
		"search_fts MATCH ?", "-bm25(search_fts)", strings.Join(phrases, map[bool]string{false: " OR ", true: " AND "}[all])
}
