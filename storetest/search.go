package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
)

// searchable lists the tables with indexed text and their text column.
var searchable = []struct{ table, column string }{
	{"sessions", "summary"}, {"spores", "content"}, {"plans", "content"}, {"artifacts", "content"}, {"skill_records", "description"},
}

// textColumn returns the text column of a searchable table.
func textColumn(t testing.TB, tableName string) string {
	t.Helper()
	c := table(t, tableName).TextColumn
	if c == "" {
		t.Fatalf("table %s has no text column", tableName)
	}
	return c
}

// doc builds the search document of a record of the named table, the way
// the job consumer does (hypha.NewSearchDoc).
func doc(t testing.TB, tableName, grove, machine, id string, data map[string]any) *hypha.SearchDoc {
	t.Helper()
	return hypha.NewSearchDoc(record(t, tableName, grove, machine, id, data))
}

// textDoc is a document of the named table holding text and nothing else.
func textDoc(t testing.TB, tableName, grove, machine, id, text string) *hypha.SearchDoc {
	t.Helper()
	return doc(t, tableName, grove, machine, id, map[string]any{textColumn(t, tableName): text})
}

func mustPutDocs(t testing.TB, s hypha.Queries, docs ...*hypha.SearchDoc) {
	t.Helper()
	if err := s.PutSearchDocs(t.Context(), docs); err != nil {
		t.Fatalf("PutSearchDocs(%d documents): %v", len(docs), err)
	}
}

func mustRemoveDocs(t testing.TB, s hypha.Queries, keys ...hypha.RecordKey) {
	t.Helper()
	if err := s.RemoveSearchDocs(t.Context(), keys); err != nil {
		t.Fatalf("RemoveSearchDocs(%d keys): %v", len(keys), err)
	}
}

func mustKeyword(t testing.TB, s hypha.Queries, query string, limit int, f hypha.VectorFilter) []hypha.KeywordHit {
	t.Helper()
	hits, err := s.KeywordSearch(t.Context(), query, limit, f)
	if err != nil {
		t.Fatalf("KeywordSearch(%.60q, %+v): %v", query, f, err)
	}
	if hits == nil {
		t.Fatalf("KeywordSearch(%.60q, %+v) returned nil hits without an error", query, f)
	}
	return hits
}

// wantKeys fails the test unless query under f finds exactly keys
// ("grove/table/machine/id"), in any order.
func wantKeys(t testing.TB, s hypha.Queries, query string, f hypha.VectorFilter, keys ...string) {
	t.Helper()
	if got := hitKeys(mustKeyword(t, s, query, hypha.MaxVectorTopK, f)); !sameSet(got, keys) {
		t.Fatalf("KeywordSearch(%q, %+v) = %v, want %v", query, f, got, keys)
	}
}

func mustCountDocs(t testing.TB, s hypha.Queries, grove string) int64 {
	t.Helper()
	n, err := s.CountSearchDocs(t.Context(), grove)
	if err != nil {
		t.Fatalf("CountSearchDocs(%s): %v", grove, err)
	}
	return n
}

// keyString names a record key as the search tests compare them.
func keyString(k hypha.RecordKey) string {
	return k.GroveID + "/" + k.Table.Name + "/" + k.MachineID + "/" + k.ID
}

func hitKeys(hits []hypha.KeywordHit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, keyString(h.Key))
	}
	return out
}

// sameSet compares two lists as multisets: a duplicate is a difference.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func testSearchIndex(t *testing.T, open OpenFunc) {
	t.Run("FindsTheFiveTables", func(t *testing.T) {
		s, _ := setup(t, open)
		var docs []*hypha.SearchDoc
		var want []string
		for _, st := range searchable {
			d := textDoc(t, st.table, "g", "m1", "r1", "the mycelium spreads")
			docs = append(docs, d, textDoc(t, st.table, "g", "m1", "other", "spores drift"))
			want = append(want, keyString(d.Key))
		}
		mustPutDocs(t, s, docs...)
		hits := mustKeyword(t, s, "Mycelium", 0, hypha.VectorFilter{GroveID: "g"})
		if got := hitKeys(hits); !sameSet(got, want) {
			t.Fatalf("hits = %v, want the five documents holding the word %v", got, want)
		}
		for _, h := range hits {
			if h.Key.Table != hypha.LookupTable(h.Key.Table.Name) {
				t.Errorf("hit %s: table is not the synced table", keyString(h.Key))
			}
			if h.Score <= 0 {
				t.Errorf("hit %s has score %v, want > 0 (higher is better)", keyString(h.Key), h.Score)
			}
		}
		if n := mustCountDocs(t, s, "g"); n != int64(len(docs)) {
			t.Errorf("CountSearchDocs(g) = %d, want %d", n, len(docs))
		}
		if n := mustCountDocs(t, s, "other"); n != 0 {
			t.Errorf("CountSearchDocs(other) = %d, want 0", n)
		}
	})
	t.Run("Ranking", testKeywordRanking(open))
	t.Run("Words", func(t *testing.T) {
		// Small cases on one store, each in groves of its own.
		s, _ := setup(t, open)
		t.Run("Stemming", func(t *testing.T) {
			mustPutDocs(t, s, textDoc(t, "spores", "stem", "m", "s1", "The agent RUNS the indexes"),
				textDoc(t, "spores", "stem", "m", "s2", "nothing relevant here"))
			for _, q := range []string{"running", "run", "runs", "index", "INDEXING", "indexed", "agents", "Agent"} {
				wantKeys(t, s, q, hypha.VectorFilter{GroveID: "stem"}, "stem/spores/m/s1")
			}
			wantKeys(t, s, "runner-up", hypha.VectorFilter{GroveID: "stem"})
		})
		t.Run("AnyWordMatches", func(t *testing.T) {
			mustPutDocs(t, s, textDoc(t, "plans", "any", "m", "p1", "compaction of vectors"),
				textDoc(t, "plans", "any", "m", "p2", "rotation of keys"),
				textDoc(t, "plans", "any", "m", "p3", "unrelated"))
			wantKeys(t, s, "compaction rotation absentword", hypha.VectorFilter{GroveID: "any"}, "any/plans/m/p1", "any/plans/m/p2")
		})
		t.Run("StopWordsOnly", func(t *testing.T) {
			mustPutDocs(t, s, textDoc(t, "spores", "stop", "m", "s1", "the and of to be or not to be"))
			for _, q := range []string{"the", "The AND of", "to be or not to be", "  the\tthe\n"} {
				wantKeys(t, s, q, hypha.VectorFilter{GroveID: "stop"})
			}
		})
		t.Run("GroveRequired", func(t *testing.T) {
			mustPutDocs(t, s, textDoc(t, "spores", "req", "m", "s1", "spore"))
			for _, f := range []hypha.VectorFilter{{}, {SharedFrom: []string{"req"}}, {PublicOnly: true}} {
				_, err := s.KeywordSearch(t.Context(), "spore", 10, f)
				wantCode(t, err, hypha.EInvalid)
			}
		})
		t.Run("LastDocumentOfAKeyWins", func(t *testing.T) {
			mustPutDocs(t, s, textDoc(t, "spores", "last", "m", "s1", "first"), textDoc(t, "spores", "last", "m", "s2", "first"),
				textDoc(t, "spores", "last", "m", "s1", "second"))
			wantKeys(t, s, "first", hypha.VectorFilter{GroveID: "last"}, "last/spores/m/s2")
			wantKeys(t, s, "second", hypha.VectorFilter{GroveID: "last"}, "last/spores/m/s1")
		})
		t.Run("SameKeyInTwoGroves", func(t *testing.T) {
			mustPutDocs(t, s, textDoc(t, "spores", "two_a", "m", "s1", "hypha one"), textDoc(t, "spores", "two_b", "m", "s1", "hypha two"))
			mustPutDocs(t, s, textDoc(t, "spores", "two_a", "m", "s1", "rewritten"))
			wantKeys(t, s, "hypha", hypha.VectorFilter{GroveID: "two_a"})
			wantKeys(t, s, "hypha", hypha.VectorFilter{GroveID: "two_b"}, "two_b/spores/m/s1")
			mustRemoveDocs(t, s, key(t, "spores", "two_b", "m", "s1"))
			wantKeys(t, s, "rewritten", hypha.VectorFilter{GroveID: "two_a"}, "two_a/spores/m/s1")
		})
	})
	t.Run("HostileQueries", func(t *testing.T) { testHostileQueries(t, open) })
	t.Run("Limits", func(t *testing.T) {
		s, _ := setup(t, open)
		var docs []*hypha.SearchDoc
		for i := range hypha.MaxVectorTopK + 10 {
			docs = append(docs, textDoc(t, "spores", "g", "m", fmt.Sprintf("s%03d", i), "conidia"))
		}
		mustPutDocs(t, s, docs...)
		for _, c := range []struct{ limit, want int }{
			{0, hypha.DefaultSearchLimit}, {-1, hypha.DefaultSearchLimit}, {1, 1}, {37, 37},
			{hypha.MaxVectorTopK, hypha.MaxVectorTopK}, {hypha.MaxVectorTopK + 1, hypha.MaxVectorTopK}, {1 << 30, hypha.MaxVectorTopK},
		} {
			if got := len(mustKeyword(t, s, "conidia", c.limit, hypha.VectorFilter{GroveID: "g"})); got != c.want {
				t.Errorf("limit %d: %d hits, want %d", c.limit, got, c.want)
			}
		}
	})
	t.Run("LimitAfterFilters", func(t *testing.T) {
		// The filter is applied inside the query: better-ranked documents
		// of other types or groves do not crowd the filtered ones out.
		s, _ := setup(t, open)
		var docs []*hypha.SearchDoc
		for i := range 60 {
			typ, text := "decision", "sporocarp"
			if i%6 != 0 {
				typ, text = "gotcha", "sporocarp sporocarp sporocarp"
			}
			docs = append(docs, doc(t, "spores", "g", "m", fmt.Sprintf("s%02d", i), map[string]any{"content": text, "observation_type": typ}),
				textDoc(t, "spores", "loud", "m", fmt.Sprintf("s%02d", i), "sporocarp sporocarp sporocarp sporocarp"))
		}
		mustPutDocs(t, s, docs...)
		hits := mustKeyword(t, s, "sporocarp", 8, hypha.VectorFilter{GroveID: "g", ObservationType: "decision"})
		if len(hits) != 8 {
			t.Fatalf("%d hits, want 8 of the 10 decisions", len(hits))
		}
		if got := len(mustKeyword(t, s, "sporocarp", 25, hypha.VectorFilter{GroveID: "g"})); got != 25 {
			t.Fatalf("%d hits of grove g, want 25 of its 60", got)
		}
	})
	t.Run("PutReplacesTheDocument", func(t *testing.T) {
		s, _ := setup(t, open)
		g := hypha.VectorFilter{GroveID: "g"}
		mustPutDocs(t, s, doc(t, "plans", "g", "m", "p1", map[string]any{"content": "alpha plan", "status": "active"}))
		wantKeys(t, s, "alpha", g, "g/plans/m/p1")
		mustPutDocs(t, s, doc(t, "plans", "g", "m", "p1", map[string]any{"content": "beta plan", "status": "active"}))
		wantKeys(t, s, "alpha", g)
		wantKeys(t, s, "beta", g, "g/plans/m/p1")
		// Metadata moves with the document, under the same text.
		mustPutDocs(t, s, doc(t, "plans", "g", "m", "p1", map[string]any{"content": "beta plan", "status": "done"}))
		wantKeys(t, s, "beta", hypha.VectorFilter{GroveID: "g", Status: "active"})
		wantKeys(t, s, "beta", hypha.VectorFilter{GroveID: "g", Status: "done"}, "g/plans/m/p1")
		// Emptied text: the document stays, no word finds it.
		mustPutDocs(t, s, doc(t, "plans", "g", "m", "p1", map[string]any{"content": "", "status": "done"}))
		wantKeys(t, s, "beta plan", g)
		mustPutDocs(t, s, textDoc(t, "plans", "g", "m", "p1", "gamma"))
		wantKeys(t, s, "gamma", g, "g/plans/m/p1")
		if n := mustCountDocs(t, s, "g"); n != 1 {
			t.Fatalf("CountSearchDocs = %d after rewriting one document, want 1", n)
		}
	})
	t.Run("ManyDocumentsInOneCall", func(t *testing.T) {
		// More documents than one statement holds: every chunk is
		// indexed, and the sequence still moves once.
		s, _ := setup(t, open)
		var docs []*hypha.SearchDoc
		for i := range 1234 {
			docs = append(docs, textDoc(t, "artifacts", "g", fmt.Sprintf("m%d", i%3), fmt.Sprintf("a%04d", i), fmt.Sprintf("basidium token%d", i)))
		}
		mustPutDocs(t, s, docs...)
		if seq, _ := mustSeq(t, s); seq != 1 {
			t.Errorf("search sequence = %d after one call, want 1", seq)
		}
		if n := mustCountDocs(t, s, "g"); n != 1234 {
			t.Fatalf("CountSearchDocs = %d, want 1234", n)
		}
		for _, i := range []int{0, 499, 500, 999, 1000, 1233} {
			wantKeys(t, s, fmt.Sprintf("token%d", i), hypha.VectorFilter{GroveID: "g"}, keyString(docs[i].Key))
		}
	})
	t.Run("LongText", func(t *testing.T) {
		s, _ := setup(t, open)
		// 1.3 MB of random words: whole, their lexemes would pass the
		// 1 MiB a PostgreSQL tsvector holds and fail the write;
		// NewSearchDoc keeps the first FullTextMaxChars characters.
		rng := rand.New(rand.NewPCG(7, 7))
		var b strings.Builder
		b.WriteString("frontmatter ")
		for b.Len() < 13*hypha.FullTextMaxChars {
			for range 12 {
				b.WriteByte(byte('a' + rng.IntN(26)))
			}
			b.WriteByte(' ')
		}
		b.WriteString(" trailingword")
		d := textDoc(t, "artifacts", "g", "m", "big", b.String())
		if n := len([]rune(d.Text)); n != hypha.FullTextMaxChars {
			t.Fatalf("NewSearchDoc kept %d characters, want %d", n, hypha.FullTextMaxChars)
		}
		// Multi-byte characters count as one each.
		wide := textDoc(t, "artifacts", "g", "m", "wide", "widestart "+strings.Repeat("中", 2*hypha.FullTextMaxChars))
		if n := len([]rune(wide.Text)); n != hypha.FullTextMaxChars {
			t.Fatalf("NewSearchDoc kept %d characters of a wide text, want %d", n, hypha.FullTextMaxChars)
		}
		mustPutDocs(t, s, d, wide)
		wantKeys(t, s, "frontmatter", hypha.VectorFilter{GroveID: "g"}, "g/artifacts/m/big")
		wantKeys(t, s, "trailingword", hypha.VectorFilter{GroveID: "g"})
		wantKeys(t, s, "widestart", hypha.VectorFilter{GroveID: "g"}, "g/artifacts/m/wide")
	})
	t.Run("InTransaction", func(t *testing.T) {
		s, _ := setup(t, open)
		errRollback := errors.New("roll back")
		err := s.InTx(t.Context(), func(tx hypha.Queries) error {
			mustPutDocs(t, tx, textDoc(t, "artifacts", "g", "m", "a1", "rhizomorph"))
			if hits := mustKeyword(t, tx, "rhizomorph", 10, hypha.VectorFilter{GroveID: "g"}); len(hits) != 1 {
				t.Errorf("inside the transaction: %d hits, want its own write", len(hits))
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v, want the error of fn", err)
		}
		wantKeys(t, s, "rhizomorph", hypha.VectorFilter{GroveID: "g"})
		if seq, _ := mustSeq(t, s); seq != 0 {
			t.Fatalf("search sequence = %d after a rolled back write, want 0", seq)
		}
	})
	t.Run("Filters", func(t *testing.T) { testKeywordFilters(t, open) })
}

// testKeywordRanking: documents holding more of the query's words, or a
// word more often, come first; equal scores are ordered by key.
func testKeywordRanking(open OpenFunc) func(t *testing.T) {
	return func(t *testing.T) {
		s, _ := setup(t, open)
		var docs []*hypha.SearchDoc
		for i := range 20 { // a corpus, so the query words are rare
			docs = append(docs, textDoc(t, "spores", "g", "m", fmt.Sprintf("filler%02d", i), fmt.Sprintf("unrelated note number %d about sync", i)))
		}
		docs = append(docs,
			textDoc(t, "spores", "g", "m", "one", "a note about the outbox and nothing more"),
			textDoc(t, "spores", "g", "m", "all", "a note about the outbox flush rotation and nothing more"),
			textDoc(t, "spores", "g", "m", "two", "a note about the outbox flush and nothing more"),
			textDoc(t, "plans", "g", "m", "often", "hyphae hyphae hyphae grow"),
			textDoc(t, "plans", "g", "m", "once", "hyphae under bark grow"))
		for _, id := range []string{"tie3", "tie1", "tie2"} {
			docs = append(docs, textDoc(t, "skill_records", "g", "m", id, "identical lamella text"))
		}
		mustPutDocs(t, s, docs...)
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"outbox flush rotation", []string{"g/spores/m/all", "g/spores/m/two", "g/spores/m/one"}},
			{"hyphae", []string{"g/plans/m/often", "g/plans/m/once"}},
			{"lamella", []string{"g/skill_records/m/tie1", "g/skill_records/m/tie2", "g/skill_records/m/tie3"}},
		} {
			hits := mustKeyword(t, s, c.query, 10, hypha.VectorFilter{GroveID: "g"})
			if got := hitKeys(hits); !slices.Equal(got, c.want) {
				t.Errorf("%q ranks %v, want %v", c.query, got, c.want)
				continue
			}
			for i := 1; i < len(hits); i++ {
				if hits[i].Score > hits[i-1].Score {
					t.Errorf("%q: scores not descending: %v then %v", c.query, hits[i-1].Score, hits[i].Score)
				}
			}
			if c.query != "lamella" && hits[0].Score == hits[len(hits)-1].Score {
				t.Errorf("%q: the best and the worst hit score the same %v", c.query, hits[0].Score)
			}
		}
	}
}

// testHostileQueries sends query syntax of both engines, and worse, as
// plain words: nothing may fail, and words still find their documents.
func testHostileQueries(t *testing.T, open OpenFunc) {
	s, _ := setup(t, open)
	mustPutDocs(t, s,
		textDoc(t, "spores", "g", "m", "s1", "alpha beta gamma"),
		textDoc(t, "spores", "g", "m", "s2", "Übergröße 中文 naïve café"),
		textDoc(t, "plans", "g", "m", "p1", "body content title column near and or not"),
		textDoc(t, "spores", "other", "m", "s1", "alpha beta gamma"))
	s1, s2, p1 := []string{"g/spores/m/s1"}, []string{"g/spores/m/s2"}, []string{"g/plans/m/p1"}
	for _, c := range []struct {
		query string
		want  []string // nil: any result, only no error
	}{
		{``, []string{}}, {`   `, []string{}}, {`"`, []string{}}, {`""`, []string{}}, {`'`, []string{}}, {`()`, []string{}},
		{`*`, []string{}}, {`^`, []string{}}, {`:`, []string{}}, {`-`, []string{}}, {`!@#$%^&*()_+{}|:"<>?`, []string{}},
		{`the and or not`, []string{}}, {`AND OR NOT`, []string{}}, {"\x00\x01\u200b", []string{}}, {`'' || ''`, []string{}},
		{`"alpha`, s1}, {`alpha"`, s1}, {`"alpha beta"`, s1}, {`"alpha" "beta"`, s1},
		{`alpha*`, s1}, {`^alpha`, s1}, {`content:alpha`, append([]string{"g/plans/m/p1"}, s1...)}, {`body:alpha`, append(p1, s1...)},
		{`{content body}:alpha`, append(p1, s1...)}, {`- body : alpha`, append(p1, s1...)}, {`NEAR(alpha gamma, 1)`, append(p1, s1...)},
		{`alpha AND NOT beta`, s1}, {`alpha OR`, s1}, {`(alpha`, s1}, {`alpha) OR (`, s1}, {`alpha & !beta | gamma <-> delta`, s1},
		{`alpha:*`, s1}, {`alpha:A`, s1}, {`alpha:*A`, s1}, {`'alpha'`, s1}, {`''alpha''`, s1}, {`\alpha\`, s1}, {`\'alpha\'`, s1},
		{`alpha'; DROP TABLE search_docs; --`, s1}, {`'); DELETE FROM search_docs WHERE ('1'='1`, []string{}},
		{`-alpha +beta`, s1}, {`alpha -- comment`, s1}, {`alpha /* comment */`, s1}, {`$1 ? alpha`, s1}, {`%alpha%`, s1}, {`alpha_`, s1},
		{`übergröße`, s2}, {`ÜBERGRÖSSE`, nil}, {`中文`, s2}, {`CAFÉ`, s2}, {`naïve`, s2}, {"e\u0301", nil}, {"\u0301\u0302", []string{}},
		{`😀 alpha 😀`, s1}, {"alpha\xff\xfe", s1}, {"alpha\u2028beta", s1}, {"\ufeffalpha", s1},
		{strings.Repeat("x", 10_000), []string{}},
		{strings.Repeat(`"(alpha OR NEAR* content:`, 400), append(p1, s1...)},
		{strings.Repeat("word", 2500), []string{}},
		{strings.Repeat("w ", 5000), []string{}},
		{strings.Repeat("the ", 2500), []string{}},
		{strings.Repeat("中", 10_000), []string{}},
		{manyWords(10_000), []string{}},
		{manyWords(10_000) + " alpha", nil},
		{"alpha " + manyWords(10_000), s1},
	} {
		name := c.query
		if len(name) > 40 {
			name = fmt.Sprintf("%.40s…(%d bytes)", name, len(name))
		}
		hits, err := s.KeywordSearch(t.Context(), c.query, 10, hypha.VectorFilter{GroveID: "g"})
		if err != nil {
			t.Errorf("query %q: %v", name, err)
			continue
		}
		if hits == nil {
			t.Errorf("query %q: nil hits without an error", name)
		}
		for _, h := range hits {
			if h.Key.GroveID != "g" {
				t.Errorf("query %q: hit %s of another grove", name, keyString(h.Key))
			}
		}
		if c.want != nil && !sameSet(hitKeys(hits), c.want) {
			t.Errorf("query %q: hits %v, want %v", name, hitKeys(hits), c.want)
		}
	}
	// Nothing was dropped or deleted on the way.
	if n := mustCountDocs(t, s, "g"); n != 3 {
		t.Fatalf("CountSearchDocs(g) = %d after the queries, want 3", n)
	}
	wantKeys(t, s, "alpha", hypha.VectorFilter{GroveID: "other"}, "other/spores/m/s1")
}

// manyWords returns n bytes of distinct made-up words.
func manyWords(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "w%dx ", i)
	}
	return b.String()[:n]
}
