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

// SearchDoc is the searchable form of one record, which the job consumer
// writes after ingest: its key, the metadata search filters apply to
// (reference §6.3), its sharing policy and the text the keyword index
// holds (the first FullTextMaxChars characters of its text column).
type SearchDoc struct {
	Key             RecordKey
	ProjectID       string
	Status          string
	ObservationType string
	SessionID       string
	SourcePath      string
	Name            string
	CreatedAt       int64 // 0 when the record has none
	SharingPolicy   string
	Text            string
}

// Meta returns the document's vector metadata.
func (d *SearchDoc) Meta() VectorMeta {
	return VectorMeta{GroveID: d.Key.GroveID, Table: d.Key.Table.Name, MachineID: d.Key.MachineID, ID: d.Key.ID,
		ProjectID: d.ProjectID, Status: d.Status, ObservationType: d.ObservationType, SessionID: d.SessionID,
		SourcePath: d.SourcePath, Name: d.Name, CreatedAt: d.CreatedAt,
		Shared: d.SharingPolicy == SharingCrossGrove, Public: d.SharingPolicy == SharingPublic}
}

// NewSearchDoc returns the search document of an embeddable record.
func NewSearchDoc(r *Record) *SearchDoc {
	d := SearchDocMeta(r)
	d.Text = TruncateFullText(r.Text())
	return d
}

// TruncateFullText returns the part of a record's text the keyword index
// holds: its first FullTextMaxChars characters.
func TruncateFullText(text string) string {
	if len(text) > FullTextMaxChars && utf8.RuneCountInString(text) > FullTextMaxChars {
		return string([]rune(text)[:FullTextMaxChars])
	}
	return text
}

// SearchDocMeta returns a record's search document without its text: the
// key and metadata filters and visibility are checked against.
func SearchDocMeta(r *Record) *SearchDoc {
	str := func(col string) string { s, _ := r.Value(col).(string); return s }
	d := &SearchDoc{Key: r.Key(), ProjectID: r.ProjectID, SharingPolicy: str(ColSharingPolicy)}
	// Only the metadata the reference attaches per table (§6.3).
	switch r.Table.Name {
	case "spores":
		d.Status, d.ObservationType, d.SessionID = str("status"), str("observation_type"), str("session_id")
	case "sessions":
		d.Status = str("status")
	case "plans":
		d.Status, d.SessionID, d.SourcePath = str("status"), str("session_id"), str("source_path")
	case "artifacts":
		d.SourcePath = str("source_path")
	case "skill_records":
		d.Status, d.Name = str("status"), str("name")
	}
	if c, ok := r.Value("created_at").(int64); ok {
		d.CreatedAt = c
	}
	return d
}

// SearchIndexStore keeps the durable half of the search index: the
// documents (keyword index and vector metadata), the tombstones of removed
// ones and the change sequence that lets every server catch its in-memory
// vector index up. Writers bump the sequence once per transaction.
type SearchIndexStore interface {
	// PutSearchDocs writes documents (and their keyword index entries)
	// and clears their tombstones.
	PutSearchDocs(ctx context.Context, docs []*SearchDoc) error
	// RemoveSearchDocs removes the documents and vectors of keys, leaving
	// tombstones for the documents that existed.
	RemoveSearchDocs(ctx context.Context, keys []RecordKey) error
	// SearchSeq returns the change sequence's current value and the
	// highest sequence number of pruned tombstones.
	SearchSeq(ctx context.Context) (seq, pruned int64, err error)
	// ScanSearchDocs calls fn for every document whose seq is in (after, upTo]
	// (after < 0: every document), with its text (the record's text column as
	// it is now, cut to FullTextMaxChars characters) and its vector when the
	// store holds one of dims dimensions (else vec is nil). A document whose
	// record is gone is skipped. The order is unspecified.
	ScanSearchDocs(ctx context.Context, after, upTo int64, dims int, fn func(doc *SearchDoc, vec []float32) error) error
	// ScanSearchTombstones calls fn for every tombstone in (after, upTo].
	ScanSearchTombstones(ctx context.Context, after, upTo int64, fn func(key RecordKey) error) error
	// PruneSearchTombstones deletes tombstones older than before (epoch
	// seconds) and returns how many went.
	PruneSearchTombstones(ctx context.Context, before int64) (int64, error)
	// CountSearchDocs counts a grove's documents.
	CountSearchDocs(ctx context.Context, groveID string) (int64, error)
	// KeywordSearch returns at most limit hits for the words of query, best
	// first. limit ≤ 0 means DefaultSearchLimit; it is capped at
	// MaxVectorTopK.
	//
	// The query is plain words, never a query language: KeywordTerms picks
	// its words, a record matches when it holds any of them (stemmed,
	// case-insensitive), and records holding more of them, more often,
	// rank higher (bm25 on SQLite, ts_rank on PostgreSQL, both turned
	// into "higher is better"). When at least limit records hold every
	// word, those are the hits: the engines then rank only them, not every
	// record holding one common word. A query without searchable words (empty,
	// punctuation, only stop words) has no hits and is no error.
	//
	// f applies as it does to VectorIndex.Search, inside the query, so
	// limit hits come back when that many match. f.GroveID is required.
	KeywordSearch(ctx context.Context, query string, limit int, f VectorFilter) ([]KeywordHit, error)
}

// GrantStore keeps which groves share their cross_grove records with which.
type GrantStore interface {
	// PutGrant lets grantee see grantor's cross_grove records.
	PutGrant(ctx context.Context, grantor, grantee string) error
	// DeleteGrant withdraws a grant; a missing one is not an error.
	DeleteGrant(ctx context.Context, grantor, grantee string) error
	// ListGrantors returns the groves that granted grantee access, sorted.
	ListGrantors(ctx context.Context, grantee string) ([]string, error)
}

// KeywordHit is one record matching a keyword query.
type KeywordHit struct {
	Key   RecordKey
	Score float64 // engine-specific relevance, higher is better
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

// IsStopWord reports whether a lower-cased word is one of the English stop
// words keyword search ignores.
func IsStopWord(w string) bool { return stopWords[w] }

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
