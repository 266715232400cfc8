package hypha

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of keyword search.
const (
	// MaxKeywordTerms is how many distinct words of a query are searched;
	// the rest are ignored, so a pasted page cannot make a query slow.
	MaxKeywordTerms = 32
	// MaxKeywordTermRunes drops longer words from queries: PostgreSQL
	// indexes no word over 2,047 bytes, so neither engine searches them.
	MaxKeywordTermRunes = 256
	// FullTextMaxChars is how much of a record's text is indexed: the
	// first 100,000 characters, so a huge text can neither fail its write
	// (a PostgreSQL tsvector holds at most 1 MiB) nor bloat the index.
	FullTextMaxChars = 100_000
)

// FullTextStore answers keyword queries over the texts the semantic search
// embeds (reference §6.2): spores.content of active spores,
// sessions.summary, plans.content, artifacts.content and
// skill_records.description. The engine keeps its full-text index current
// as records are written and deleted, in the same transaction.
type FullTextStore interface {
	// KeywordSearch returns at most limit hits for the words of query, best
	// first. limit ≤ 0 means DefaultSearchLimit; it is capped at
	// MaxVectorTopK, the over-fetch of a hybrid query.
	//
	// The query is plain words, never a query language: KeywordTerms picks
	// its words, a record matches when it holds any of them (stemmed,
	// case-insensitive), and records holding more of them, more often,
	// rank higher (bm25 on SQLite, ts_rank_cd on PostgreSQL, both turned
	// into "higher is better"). A query without searchable words (empty,
	// punctuation, only stop words) has no hits and is no error.
	//
	// f applies as it does to VectorIndex.Search, inside the query, so
	// limit hits come back when that many match: each set field must
	// equal the record's column of that name, and a table without the
	// column never matches it (the metadata of reference §6.3); Since and
	// Until need a non-zero created_at. f.GroveID is required.
	//
	// TODO(sharing): f.SharedFrom is not applied yet. No record carries
	// its sharing policy (cross_grove) in the store, so only f.GroveID's
	// records are ever returned; shared groves come with that column.
	KeywordSearch(ctx context.Context, query string, limit int, f VectorFilter) ([]KeywordHit, error)
}

// KeywordHit is one record matching a keyword query.
type KeywordHit struct {
	Key       RecordKey
	ProjectID string
	CreatedAt int64   // 0 when the record has none
	Score     float64 // engine-specific relevance, higher is better
}

// KeywordTerms returns the words of a keyword query: runs of letters,
// digits and combining marks holding a letter or digit, without English
// stop words (PostgreSQL's
// list, so both engines search the same words), without words longer than
// MaxKeywordTermRunes, each once (case-insensitively), at most
// MaxKeywordTerms. Everything else, quotes, operators and column filters
// of any query syntax included, only separates words.
func KeywordTerms(query string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(query, func(r rune) bool {
		return !unicode.In(r, unicode.L, unicode.N, unicode.M)
	}) {
		lw := strings.ToLower(w)
		if seen[lw] || stopWords[lw] || utf8.RuneCountInString(w) > MaxKeywordTermRunes ||
			!strings.ContainsFunc(w, func(r rune) bool { return unicode.In(r, unicode.L, unicode.N) }) {
			continue
		}
		seen[lw] = true
		out = append(out, lw)
		if len(out) == MaxKeywordTerms {
			break
		}
	}
	return out
}

// stopWords is PostgreSQL's english.stop, the words its 'english' text
// search configuration drops.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`i me my myself we our ours ourselves you your yours yourself yourselves
		he him his himself she her hers herself it its itself they them their theirs themselves what which who
		whom this that these those am is are was were be been being have has had having do does did doing a an
		the and but if or because as until while of at by for with about against between into through during
		before after above below to from up down in out on off over under again further then once here there
		when where why how all any both each few more most other some such no nor not only own same so than
		too very s t can will just don should now`) {
		m[w] = true
	}
	return m
}()
