package storetest

import (
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

func testFullText(t *testing.T, open OpenFunc) {
	t.Run("IndexesTheFiveTexts", func(t *testing.T) {
		s, _ := setup(t, open)
		var want []string
		for i, st := range searchable {
			mustUpsert(t, s, record(t, st.table, "g", "m1", "r1", map[string]any{
				hypha.ColProject: projectID(i), st.column: "the mycelium spreads", "created_at": int64(100 + i)}))
			want = append(want, st.table+"/m1/r1")
		}
		// The same word in columns that are not searched.
		mustUpsert(t, s,
			record(t, "spores", "g", "m1", "context-only", map[string]any{"content": "other", "context": "mycelium"}),
			record(t, "sessions", "g", "m1", "title-only", map[string]any{"title": "mycelium"}),
			record(t, "entities", "g", "m1", "e1", map[string]any{"name": "mycelium"}),
			record(t, "prompt_batches", "g", "m1", "pb1", map[string]any{"user_prompt": "mycelium"}))
		hits := mustKeyword(t, s, "Mycelium", 0, hypha.VectorFilter{GroveID: "g"})
		if got := hitKeys(hits); !sameSet(got, want) {
			t.Fatalf("hits = %v, want the five searchable texts %v", got, want)
		}
		for _, h := range hits {
			i := slices.IndexFunc(searchable, func(st struct{ table, column string }) bool { return st.table == h.Key.Table.Name })
			if h.Key.GroveID != "g" || h.ProjectID != projectID(i) || h.CreatedAt != int64(100+i) {
				t.Errorf("hit %s = grove %q project %q created_at %d, want g, %s, %d", hitKey(h), h.Key.GroveID, h.ProjectID, h.CreatedAt, projectID(i), 100+i)
			}
			if h.Score <= 0 {
				t.Errorf("hit %s has score %v, want > 0 (higher is better)", hitKey(h), h.Score)
			}
		}
	})
	t.Run("FollowsWrites", func(t *testing.T) {
		s, _ := setup(t, open)
		mustUpsert(t, s, record(t, "plans", "g", "m", "p1", map[string]any{"content": "alpha plan", "content_hash": "h1"}))
		wantKeys(t, s, "alpha", hypha.VectorFilter{GroveID: "g"}, "plans/m/p1")
		mustUpsert(t, s, record(t, "plans", "g", "m", "p1", map[string]any{"content": "beta plan", "content_hash": "h2"}))
		wantKeys(t, s, "alpha", hypha.VectorFilter{GroveID: "g"})
		wantKeys(t, s, "beta", hypha.VectorFilter{GroveID: "g"}, "plans/m/p1")
		// A change to a filter column alone moves the document too.
		mustUpsert(t, s, record(t, "plans", "g", "m", "p1", map[string]any{"content": "beta plan", "status": "done", "content_hash": "h3"}))
		wantKeys(t, s, "beta", hypha.VectorFilter{GroveID: "g", Status: "active"})
		wantKeys(t, s, "beta", hypha.VectorFilter{GroveID: "g", Status: "done"}, "plans/m/p1")
		if _, err := s.DeleteRecords(t.Context(), []hypha.RecordKey{key(t, "plans", "g", "m", "p1")}); err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		wantKeys(t, s, "beta", hypha.VectorFilter{GroveID: "g"})
	})
	t.Run("DeleteMachineRows", func(t *testing.T) {
		s, _ := setup(t, open)
		mustUpsert(t, s, record(t, "spores", "g", "gone", "s1", map[string]any{"content": "hyphae"}),
			record(t, "skill_records", "g", "gone", "k1", map[string]any{"description": "hyphae"}),
			record(t, "spores", "g", "kept", "s1", map[string]any{"content": "hyphae"}))
		if _, err := s.DeleteMachineRows(t.Context(), "g", "gone", []*hypha.Table{table(t, "spores"), table(t, "skill_records")}); err != nil {
			t.Fatalf("DeleteMachineRows: %v", err)
		}
		wantKeys(t, s, "hyphae", hypha.VectorFilter{GroveID: "g"}, "spores/kept/s1")
	})
	t.Run("OnlyActiveSpores", func(t *testing.T) {
		s, _ := setup(t, open)
		spore := func(status string) *hypha.Record {
			return record(t, "spores", "g", "m", "s1", map[string]any{"content": "lichen", "status": status})
		}
		mustUpsert(t, s, spore("active"), record(t, "spores", "g", "m", "s2", map[string]any{"content": "lichen", "status": "superseded"}))
		wantKeys(t, s, "lichen", hypha.VectorFilter{GroveID: "g"}, "spores/m/s1")
		mustUpsert(t, s, spore("archived"))
		wantKeys(t, s, "lichen", hypha.VectorFilter{GroveID: "g"})
		mustUpsert(t, s, spore("active"))
		wantKeys(t, s, "lichen", hypha.VectorFilter{GroveID: "g"}, "spores/m/s1")
	})
	t.Run("EmptyTextIsNotIndexed", func(t *testing.T) {
		s, _ := setup(t, open)
		mustUpsert(t, s, record(t, "sessions", "g", "m", "s1", map[string]any{"title": "spore", "summary": ""}),
			record(t, "sessions", "g", "m", "s2", map[string]any{"title": "spore"}))
		wantKeys(t, s, "spore", hypha.VectorFilter{GroveID: "g"})
		mustUpsert(t, s, record(t, "sessions", "g", "m", "s1", map[string]any{"summary": "spore print"}))
		wantKeys(t, s, "spore", hypha.VectorFilter{GroveID: "g"}, "sessions/m/s1")
		mustUpsert(t, s, record(t, "sessions", "g", "m", "s1", map[string]any{"summary": ""}))
		wantKeys(t, s, "spore", hypha.VectorFilter{GroveID: "g"})
	})
	t.Run("InTransaction", func(t *testing.T) {
		s, _ := setup(t, open)
		err := s.InTx(t.Context(), func(tx hypha.Queries) error {
			mustUpsert(t, tx, record(t, "artifacts", "g", "m", "a1", map[string]any{"content": "rhizomorph"}))
			hits, err := tx.KeywordSearch(t.Context(), "rhizomorph", 10, hypha.VectorFilter{GroveID: "g"})
			if err != nil || len(hits) != 1 {
				t.Errorf("inside the transaction: %d hits, %v; want its own write", len(hits), err)
			}
			return fmt.Errorf("roll back")
		})
		if err == nil {
			t.Fatal("InTx returned nil for a failing fn")
		}
		wantKeys(t, s, "rhizomorph", hypha.VectorFilter{GroveID: "g"})
	})
	t.Run("Stemming", func(t *testing.T) {
		s, _ := setup(t, open)
		mustUpsert(t, s, record(t, "spores", "g", "m", "s1", map[string]any{"content": "The agent RUNS the indexes"}))
		for _, q := range []string{"running", "run", "index", "INDEXING", "agents"} {
			wantKeys(t, s, q, hypha.VectorFilter{GroveID: "g"}, "spores/m/s1")
		}
	})
	t.Run("Ranking", func(t *testing.T) {
		s, _ := setup(t, open)
		var recs []*hypha.Record
		for i := range 20 { // a corpus, so the query words are rare
			recs = append(recs, record(t, "spores", "g", "m", fmt.Sprintf("filler%02d", i), map[string]any{"content": fmt.Sprintf("unrelated note number %d about sync", i)}))
		}
		recs = append(recs,
			record(t, "spores", "g", "m", "one", map[string]any{"content": "a note about the outbox and nothing more"}),
			record(t, "spores", "g", "m", "all", map[string]any{"content": "a note about the outbox flush rotation and nothing more"}),
			record(t, "spores", "g", "m", "two", map[string]any{"content": "a note about the outbox flush and nothing more"}))
		mustUpsert(t, s, recs...)
		hits := mustKeyword(t, s, "outbox flush rotation", 10, hypha.VectorFilter{GroveID: "g"})
		if got, want := hitKeys(hits), []string{"spores/m/all", "spores/m/two", "spores/m/one"}; !slices.Equal(got, want) {
			t.Fatalf("ranking = %v, want %v (more query words first)", got, want)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i].Score > hits[i-1].Score {
				t.Fatalf("scores not descending: %v then %v", hits[i-1].Score, hits[i].Score)
			}
		}
	})
	t.Run("Limits", func(t *testing.T) {
		s, _ := setup(t, open)
		var recs []*hypha.Record
		for i := range hypha.MaxVectorTopK + 10 {
			recs = append(recs, record(t, "spores", "g", "m", fmt.Sprintf("s%03d", i), map[string]any{"content": "conidia"}))
		}
		mustUpsert(t, s, recs...)
		for _, c := range []struct{ limit, want int }{{0, hypha.DefaultSearchLimit}, {-1, hypha.DefaultSearchLimit}, {1, 1}, {37, 37}, {1000, hypha.MaxVectorTopK}} {
			if got := len(mustKeyword(t, s, "conidia", c.limit, hypha.VectorFilter{GroveID: "g"})); got != c.want {
				t.Errorf("limit %d: %d hits, want %d", c.limit, got, c.want)
			}
		}
	})
	t.Run("LimitAfterFilters", func(t *testing.T) {
		// The filter is applied inside the query: better-ranked records
		// of other types do not crowd the filtered ones out.
		s, _ := setup(t, open)
		var recs []*hypha.Record
		for i := range 60 {
			typ, text := "decision", "sporocarp"
			if i%6 != 0 {
				typ, text = "gotcha", "sporocarp sporocarp sporocarp"
			}
			recs = append(recs, record(t, "spores", "g", "m", fmt.Sprintf("s%02d", i), map[string]any{"content": text, "observation_type": typ}))
		}
		mustUpsert(t, s, recs...)
		hits := mustKeyword(t, s, "sporocarp", 8, hypha.VectorFilter{GroveID: "g", ObservationType: "decision"})
		if len(hits) != 8 {
			t.Fatalf("%d hits, want 8 of the 10 decisions", len(hits))
		}
	})
	t.Run("GroveRequired", func(t *testing.T) {
		s, _ := setup(t, open)
		_, err := s.KeywordSearch(t.Context(), "spore", 10, hypha.VectorFilter{})
		wantCode(t, err, hypha.EInvalid)
	})
	t.Run("HostileQueries", func(t *testing.T) { testHostileQueries(t, open) })
	t.Run("LongText", func(t *testing.T) {
		s, _ := setup(t, open)
		// 1.3 MB of random words: whole, their lexemes would pass the
		// 1 MiB a PostgreSQL tsvector holds and fail the write.
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
		mustUpsert(t, s, record(t, "artifacts", "g", "m", "big", map[string]any{"content": b.String()}))
		wantKeys(t, s, "frontmatter", hypha.VectorFilter{GroveID: "g"}, "artifacts/m/big")
		wantKeys(t, s, "trailingword", hypha.VectorFilter{GroveID: "g"})
	})
	t.Run("Filters", func(t *testing.T) { testFullTextFilters(t, open) })
}

// testHostileQueries sends query syntax of both engines, and worse, as
// plain words: nothing may fail, and words still find their records.
func testHostileQueries(t *testing.T, open OpenFunc) {
	s, _ := setup(t, open)
	mustUpsert(t, s,
		record(t, "spores", "g", "m", "s1", map[string]any{"content": "alpha beta gamma"}),
		record(t, "spores", "g", "m", "s2", map[string]any{"content": "Übergröße 中文 naïve café"}))
	for _, c := range []struct {
		query string
		want  []string // nil: any result, only no error
	}{
		{``, []string{}}, {`   `, []string{}}, {`"`, []string{}}, {`""`, []string{}}, {`'`, []string{}}, {`()`, []string{}},
		{`*`, []string{}}, {`^`, []string{}}, {`:`, []string{}}, {`-`, []string{}}, {`!@#$%^&*()_+{}|:"<>?`, []string{}},
		{`the and or not`, []string{}}, {`AND OR NOT`, []string{}}, {"\x00\x01\u200b", []string{}},
		{`"alpha`, []string{"spores/m/s1"}}, {`alpha"`, []string{"spores/m/s1"}}, {`"alpha beta"`, []string{"spores/m/s1"}},
		{`alpha*`, []string{"spores/m/s1"}}, {`^alpha`, []string{"spores/m/s1"}}, {`content:alpha`, []string{"spores/m/s1"}},
		{`{content body}:alpha`, []string{"spores/m/s1"}}, {`NEAR(alpha gamma, 1)`, []string{"spores/m/s1"}},
		{`alpha AND NOT beta`, []string{"spores/m/s1"}}, {`alpha OR`, []string{"spores/m/s1"}}, {`(alpha`, []string{"spores/m/s1"}},
		{`alpha) OR (`, []string{"spores/m/s1"}}, {`alpha & !beta | gamma <-> delta`, []string{"spores/m/s1"}},
		{`alpha:*`, []string{"spores/m/s1"}}, {`alpha:A`, []string{"spores/m/s1"}}, {`'alpha'`, []string{"spores/m/s1"}},
		{`\alpha\`, []string{"spores/m/s1"}}, {`alpha'; DROP TABLE spores; --`, []string{"spores/m/s1"}},
		{`-alpha +beta`, []string{"spores/m/s1"}}, {`alpha -- comment`, []string{"spores/m/s1"}}, {`$1 ? alpha`, []string{"spores/m/s1"}},
		{`übergröße`, []string{"spores/m/s2"}}, {`中文`, []string{"spores/m/s2"}}, {`CAFÉ`, []string{"spores/m/s2"}},
		{`naïve`, []string{"spores/m/s2"}}, {"e\u0301", nil}, {"\u0301\u0302", nil}, {`😀 alpha 😀`, []string{"spores/m/s1"}},
		{"alpha\xff\xfe", []string{"spores/m/s1"}}, {strings.Repeat("x", 5000), []string{}},
		{strings.Repeat(`"(alpha OR NEAR* content:`, 400), []string{"spores/m/s1"}},
		{strings.Repeat("word", 2500), []string{}},
		{strings.Repeat("w ", 5120), []string{}},
		{manyWords(10 << 10), nil},
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
		if c.want != nil && !sameSet(hitKeys(hits), c.want) {
			t.Errorf("query %q: hits %v, want %v", name, hitKeys(hits), c.want)
		}
	}
	if n := len(hypha.KeywordTerms(strings.Repeat("many different words here ", 100) + fmt.Sprint(rand.Int()))); n > hypha.MaxKeywordTerms {
		t.Errorf("KeywordTerms kept %d words, more than %d", n, hypha.MaxKeywordTerms)
	}
}

// manyWords returns n bytes of distinct made-up words.
func manyWords(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "w%dx ", i)
	}
	return b.String()[:n]
}

func mustKeyword(t testing.TB, s hypha.Queries, query string, limit int, f hypha.VectorFilter) []hypha.KeywordHit {
	t.Helper()
	hits, err := s.KeywordSearch(t.Context(), query, limit, f)
	if err != nil {
		t.Fatalf("KeywordSearch(%q, %+v): %v", query, f, err)
	}
	return hits
}

// wantKeys fails the test unless query under f finds exactly keys
// ("table/machine/id"), in any order.
func wantKeys(t testing.TB, s hypha.Queries, query string, f hypha.VectorFilter, keys ...string) {
	t.Helper()
	if got := hitKeys(mustKeyword(t, s, query, hypha.MaxVectorTopK, f)); !sameSet(got, keys) {
		t.Fatalf("KeywordSearch(%q, %+v) = %v, want %v", query, f, got, keys)
	}
}

func hitKey(h hypha.KeywordHit) string {
	return h.Key.Table.Name + "/" + h.Key.MachineID + "/" + h.Key.ID
}

func hitKeys(hits []hypha.KeywordHit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, hitKey(h))
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
