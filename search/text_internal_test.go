package search

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hyphateam/hypha"
)

func TestWordsAndStems(t *testing.T) {
	st := newStemmer()
	tf, n := st.docTerms("Indexing the INDEXED indexes: café-au-lait, v1.2 and x_y  " + strings.Repeat("z", hypha.MaxKeywordTermRunes+1) + " ́")
	want := map[string]uint32{"index": 3, "café": 1, "au": 1, "lait": 1, "v1": 1, "2": 1, "x": 1, "y": 1}
	if n != 10 || !mapsEqual(tf, want) {
		t.Fatalf("docTerms = %v (%d words), want %v (10 words)", tf, n, want)
	}
	if got := st.queryTerms("The running runners RUN; the a an"); !slices.Equal(got, []string{"run", "runner"}) {
		t.Fatalf("queryTerms = %q", got)
	}
	if got := st.queryTerms("the of and"); len(got) != 0 {
		t.Fatalf("stop words gave terms %q", got)
	}
	// Queries never grow the stem cache (anyone who may search chooses
	// them); documents do, with words of at most stemCacheWordMax bytes.
	before := len(st.cache)
	st.queryTerms("zebras quokkas " + strings.Repeat("x", 200) + "ing")
	if len(st.cache) != before {
		t.Fatalf("a query grew the stem cache from %d to %d", before, len(st.cache))
	}
	st.docTerms("zebras " + strings.Repeat("y", 40) + "ing")
	if _, ok := st.cache["zebras"]; !ok || len(st.cache) != before+1 {
		t.Fatalf("document words cached: %d entries (from %d), zebras cached %v", len(st.cache), before, ok)
	}
	// Every word a query can hold splits and stems as the same word in a text.
	for _, w := range []string{"Déjà", "naïve", "ΑΘΗΝΑ", "日本語", "x²", "e\u0301t\u0301e\u0301"} {
		q := st.queryTerms(w)
		d, _ := st.docTerms(w)
		for _, term := range q {
			if d[term] == 0 {
				t.Errorf("query %q has term %q, the text's terms are %v", w, term, d)
			}
		}
	}
}

// TestCJKTerms: runs of Chinese and Japanese characters are indexed as
// characters and neighbour pairs and searched as pairs, so words are found
// inside text written without spaces.
func TestCJKTerms(t *testing.T) {
	st := newStemmer()
	tf, n := st.docTerms("東京の天気はGoogleで")
	want := map[string]uint32{"東": 1, "京": 1, "の": 1, "天": 1, "気": 1, "は": 1, "東京": 1, "京の": 1, "の天": 1, "天気": 1, "気は": 1, "googl": 1, "で": 1}
	if n != 13 || !mapsEqual(tf, want) {
		t.Fatalf("docTerms = %v (%d), want %v", tf, n, want)
	}
	if got := st.queryTerms("天気予報 Running 天"); !slices.Equal(got, []string{"天気", "気予", "予報", "run", "天"}) {
		t.Fatalf("queryTerms = %q", got)
	}
	idx := NewTextIndex()
	for id, text := range map[string]string{"tokyo": "東京都の天気予報です。", "osaka": "大阪の天ぷら", "mixed": "Goのテストを書く"} {
		if err := idx.Upsert(doc(hypha.VectorMeta{GroveID: "g", Table: "spores", MachineID: "m", ID: id}, text)); err != nil {
			t.Fatal(err)
		}
	}
	found := func(q string) []string {
		hits, err := idx.Search(t.Context(), q, 10, hypha.VectorFilter{GroveID: "g"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.Key.ID)
		}
		slices.Sort(ids)
		return ids
	}
	for q, want := range map[string][]string{
		"天気":     {"tokyo"},
		"天気予報":   {"tokyo"},
		"天":      {"osaka", "tokyo"},
		"気天":     nil,
		"テスト":    {"mixed"},
		"go テスト": {"mixed"},
	} {
		if got := found(q); !slices.Equal(got, want) {
			t.Errorf("%q found %v, want %v", q, got, want)
		}
	}
}

func mapsEqual(a, b map[string]uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func doc(meta hypha.VectorMeta, text string) *hypha.SearchDoc {
	d := &hypha.SearchDoc{Key: hypha.RecordKey{Table: hypha.LookupTable(meta.Table), GroveID: meta.GroveID, MachineID: meta.MachineID, ID: meta.ID},
		ProjectID: meta.ProjectID, Status: meta.Status, ObservationType: meta.ObservationType, SessionID: meta.SessionID,
		SourcePath: meta.SourcePath, Name: meta.Name, CreatedAt: meta.CreatedAt, Text: text}
	switch {
	case meta.Public:
		d.SharingPolicy = hypha.SharingPublic
	case meta.Shared:
		d.SharingPolicy = hypha.SharingCrossGrove
	}
	return d
}

func TestTextSearchRanksByBM25(t *testing.T) {
	idx := NewTextIndex()
	m := func(id string) hypha.VectorMeta {
		return hypha.VectorMeta{GroveID: "g", Table: "spores", MachineID: "m", ID: id}
	}
	for id, text := range map[string]string{
		"once":   "the deploy script failed on the staging server yesterday afternoon",
		"twice":  "deploy again: the deploy script needs the token",
		"rare":   "postgres vacuum settings",
		"none":   "nothing relevant in this text at all",
		"stems":  "deploying deployed deploys",
		"stops":  "the and of",
		"vacuum": "vacuum vacuum vacuum vacuum the long text about many other things entirely unrelated to this query",
	} {
		if err := idx.Upsert(doc(m(id), text)); err != nil {
			t.Fatal(err)
		}
	}
	if idx.Len() != 6 {
		t.Fatalf("Len = %d, want 6 (a text of stop words has no document)", idx.Len())
	}
	ids := func(hits []hypha.KeywordHit) []string {
		var out []string
		for _, h := range hits {
			out = append(out, h.Key.ID)
		}
		return out
	}
	hits, err := idx.Search(t.Context(), "deploy", 10, hypha.VectorFilter{GroveID: "g"})
	if err != nil {
		t.Fatal(err)
	}
	// "stems" holds the word three times in a short text; "twice" twice.
	if got := ids(hits); !slices.Equal(got, []string{"stems", "twice", "once"}) {
		t.Fatalf("deploy: %v", got)
	}
	hits, _ = idx.Search(t.Context(), "Vacuum POSTGRES", 10, hypha.VectorFilter{GroveID: "g"})
	if got := ids(hits); !slices.Equal(got, []string{"rare", "vacuum"}) {
		t.Fatalf("vacuum postgres: %v", got)
	}
	for _, q := range []string{"", "the of", "!!!", "zzz"} {
		hits, err := idx.Search(t.Context(), q, 10, hypha.VectorFilter{GroveID: "g"})
		if err != nil || hits == nil || len(hits) != 0 {
			t.Fatalf("%q: %v, %v; want no hits and no error", q, hits, err)
		}
	}
	for _, k := range []int{0, -1, hypha.MaxVectorTopK + 1} {
		if _, err := idx.Search(t.Context(), "deploy", k, hypha.VectorFilter{GroveID: "g"}); hypha.ErrorCode(err) != hypha.EInvalid {
			t.Fatalf("k %d: %v, want EInvalid", k, err)
		}
	}
	if _, err := idx.Search(t.Context(), "deploy", 10, hypha.VectorFilter{}); hypha.ErrorCode(err) != hypha.EInvalid {
		t.Fatalf("no grove: %v, want EInvalid", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := idx.Search(ctx, "deploy", 10, hypha.VectorFilter{GroveID: "g"}); err == nil {
		t.Fatal("a cancelled search succeeded")
	}
	// Replacing a text replaces its words; an empty text removes the document.
	_ = idx.Upsert(doc(m("stems"), "nothing here"))
	_ = idx.Upsert(doc(m("twice"), ""))
	hits, _ = idx.Search(t.Context(), "deploy", 10, hypha.VectorFilter{GroveID: "g"})
	if got := ids(hits); !slices.Equal(got, []string{"once"}) || idx.Len() != 5 {
		t.Fatalf("after replacing: %v, Len %d", got, idx.Len())
	}
}

// textRef is the reference keyword index: documents by key, searched by
// computing BM25 for every document in float64.
type textRef map[[4]string]textRefDoc

type textRefDoc struct {
	meta hypha.VectorMeta
	tf   map[string]uint32
	n    uint32
}

// RefVisible is the definition of what filter f lets through, for the
// reference implementations of this package's tests (the vector index's
// in package search_test too).
func RefVisible(f hypha.VectorFilter, m hypha.VectorMeta) bool {
	if f.PublicOnly && !m.Public {
		return false
	}
	if m.GroveID != f.GroveID && !(m.Shared && slices.Contains(f.SharedFrom, m.GroveID)) {
		return false
	}
	if len(f.Tables) > 0 && !slices.Contains(f.Tables, m.Table) {
		return false
	}
	eq := func(want, got string) bool { return want == "" || want == got }
	if !eq(f.ProjectID, m.ProjectID) || !eq(f.MachineID, m.MachineID) || !eq(f.Status, m.Status) ||
		!eq(f.ObservationType, m.ObservationType) || !eq(f.SessionID, m.SessionID) ||
		!eq(f.SourcePath, m.SourcePath) || !eq(f.Name, m.Name) {
		return false
	}
	if f.Since != 0 && (m.CreatedAt == 0 || m.CreatedAt < f.Since) {
		return false
	}
	if f.Until != 0 && (m.CreatedAt == 0 || m.CreatedAt > f.Until) {
		return false
	}
	return true
}

type textRefHit struct {
	key   [4]string
	score float64
}

// inScope reports whether the caller of f may see m at all, whatever the
// metadata filters: the rows BM25's statistics are taken over.
func inScope(f hypha.VectorFilter, m hypha.VectorMeta) bool {
	if f.PublicOnly && !m.Public {
		return false
	}
	return m.GroveID == f.GroveID || m.Shared && slices.Contains(f.SharedFrom, m.GroveID)
}

func (ref textRef) search(terms []string, f hypha.VectorFilter) []textRefHit {
	var docs, words float64
	df := map[string]float64{}
	for _, d := range ref {
		if !inScope(f, d.meta) {
			continue
		}
		docs++
		words += float64(d.n)
		for term := range d.tf {
			df[term]++
		}
	}
	var out []textRefHit
	for key, d := range ref {
		if !RefVisible(f, d.meta) {
			continue
		}
		var s float64
		for _, term := range terms {
			tf := float64(d.tf[term])
			if tf == 0 {
				continue
			}
			idf := math.Log(1 + (docs-df[term]+0.5)/(df[term]+0.5))
			s += idf * tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*float64(d.n)/(words/docs)))
		}
		if s > 0 {
			out = append(out, textRefHit{key, s})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].score > out[j].score })
	return out
}

// checkTextAgainstRef asserts hits are an exact top k of the reference's
// BM25 ranking (equal scores may come in either order).
func checkTextAgainstRef(t *testing.T, ref textRef, terms []string, k int, f hypha.VectorFilter, hits []hypha.KeywordHit) {
	t.Helper()
	want := ref.search(terms, f)
	if len(hits) != min(k, len(want)) {
		t.Fatalf("terms %q, filter %+v, k %d: %d hits, want %d", terms, f, k, len(hits), min(k, len(want)))
	}
	scores := map[[4]string]float64{}
	for _, w := range want {
		scores[w.key] = w.score
	}
	seen := map[[4]string]bool{}
	for i, h := range hits {
		key := [4]string{h.Key.GroveID, h.Key.Table.Name, h.Key.MachineID, h.Key.ID}
		d, ok := ref[key]
		if !ok || !RefVisible(f, d.meta) {
			t.Fatalf("filter %+v returned %v, which it does not select", f, key)
		}
		if seen[key] {
			t.Fatalf("hit %v twice", key)
		}
		seen[key] = true
		tol := 1e-4 * max(1, scores[key])
		if math.Abs(h.Score-scores[key]) > tol || math.Abs(h.Score-want[i].score) > tol {
			t.Fatalf("terms %q, filter %+v: hit %d %v scores %v; its BM25 is %v, the %d-th best %v", terms, f, i, key, h.Score, scores[key], i, want[i].score)
		}
	}
}

var refVocabulary = strings.Fields(`deploy deploying deployed script token server staging postgres vacuum index indexing
	cache caching migration schema grove spore session plan artifact skill search keyword vector embedding
	the of and to in is a error errors failed failing timeout retry retries 42 2026 v1 αβγ café`)

func randomText(r *rand.Rand) string {
	n := r.IntN(40)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString([]string{" ", ", ", ". ", "\n", "-"}[r.IntN(5)])
		}
		// A skewed choice: early words are common, later ones rare.
		w := refVocabulary[int(float64(len(refVocabulary))*math.Pow(r.Float64(), 2))]
		if r.IntN(8) == 0 {
			w = strings.ToUpper(w)
		}
		b.WriteString(w)
	}
	return b.String()
}

func randomQuery(r *rand.Rand) string {
	n := 1 + r.IntN(5)
	words := make([]string, n)
	for i := range words {
		words[i] = refVocabulary[r.IntN(len(refVocabulary))]
		if r.IntN(15) == 0 {
			words[i] = "unknownword"
		}
	}
	return strings.Join(words, " ")
}

// TestTextIndexMatchesBruteForce is the property test of isolation and
// exactness: random groves, metadata and texts, random upserts, replaces
// and deletes (enough to compact the partitions), random filters over
// every field; each search must equal the reference's exact BM25 top k and
// return nothing its filter does not select.
func TestTextIndexMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	groves := []string{"g0", "g0", "g0", "g0", "g1", "g2", "g3"}
	idx := NewTextIndex()
	ref := textRef{}
	st := newStemmer()
	for round := range 8 {
		for range 1500 {
			m := randomTextMeta(r, groves)
			text := randomText(r)
			if err := idx.Upsert(doc(m, text)); err != nil {
				t.Fatal(err)
			}
			key := [4]string{m.GroveID, m.Table, m.MachineID, m.ID}
			if tf, n := st.docTerms(text); n > 0 {
				ref[key] = textRefDoc{m, tf, n}
			} else {
				delete(ref, key)
			}
		}
		delFrac := 0.2
		if round == 4 {
			delFrac = 0.7 // enough to compact the partitions
		}
		for key := range ref {
			if r.Float64() < delFrac {
				idx.Delete(key[0], key[1], key[2], key[3])
				delete(ref, key)
			}
		}
		if idx.Len() != len(ref) {
			t.Fatalf("round %d: Len() = %d, reference holds %d", round, idx.Len(), len(ref))
		}
		for range 200 {
			f := RandomFilter(r, groves[3:])
			f.PublicOnly = r.IntN(6) == 0
			k := []int{1, 10, 40, hypha.MaxVectorTopK}[r.IntN(4)]
			q := randomQuery(r)
			hits, err := idx.Search(t.Context(), q, k, f)
			if err != nil {
				t.Fatal(err)
			}
			checkTextAgainstRef(t, ref, st.queryTerms(q), k, f, hits)
		}
	}
	if s := idx.Stats(); s.Docs != len(ref) || s.Bytes <= 0 || s.Terms == 0 {
		t.Fatalf("Stats() = %+v with %d documents", s, len(ref))
	}
}

func randomTextMeta(r *rand.Rand, groves []string) hypha.VectorMeta {
	pick := func(vals ...string) string {
		if r.IntN(3) == 0 {
			return ""
		}
		return vals[r.IntN(len(vals))]
	}
	m := hypha.VectorMeta{
		GroveID:   groves[r.IntN(len(groves))],
		Table:     []string{"spores", "plans", "sessions", "artifacts", "skill_records"}[r.IntN(5)],
		MachineID: fmt.Sprint("m", r.IntN(4)),
		ID:        fmt.Sprint("r", r.IntN(3000)),
		ProjectID: pick("p1", "p2", "p3"), Status: pick("active", "superseded"), ObservationType: pick("gotcha", "decision"),
		SessionID: pick("s1", "s2", "s3", "s4"), SourcePath: pick("a.md", "b.md"), Name: pick("n1", "n2"),
	}
	switch r.IntN(3) {
	case 0:
		m.Shared = true
	case 1:
		m.Public = true
	}
	if r.IntN(4) > 0 {
		m.CreatedAt = int64(1 + r.IntN(1000))
	}
	return m
}

// RandomFilter sets each field of a filter with some probability,
// sometimes to a value no record has: the random filters of this package's
// property tests (the vector index's in package search_test too).
func RandomFilter(r *rand.Rand, groves []string) hypha.VectorFilter {
	f := hypha.VectorFilter{GroveID: groves[r.IntN(len(groves))]}
	for _, g := range groves {
		if r.IntN(3) == 0 {
			f.SharedFrom = append(f.SharedFrom, g)
		}
	}
	some := func(vals ...string) string {
		if r.IntN(4) > 0 {
			return ""
		}
		return vals[r.IntN(len(vals))]
	}
	if r.IntN(4) == 0 {
		f.Tables = []string{"spores", "plans", "sessions", "nope"}[:1+r.IntN(4)]
	}
	f.ProjectID, f.MachineID = some("p1", "p2", "p3", "nope"), some("m0", "m1", "m2", "m3")
	f.Status, f.ObservationType = some("active", "superseded"), some("gotcha", "decision")
	f.SessionID, f.SourcePath, f.Name = some("s1", "s2", "s3", "s4"), some("a.md", "b.md"), some("n1", "n2")
	if r.IntN(4) == 0 {
		f.Since = int64(r.IntN(1000))
	}
	if r.IntN(4) == 0 {
		f.Until = int64(r.IntN(1000))
	}
	return f
}

// TestTextIndexConcurrentWritesAndSearches runs writers and searchers at
// once (meant for -race); afterwards the index must equal the reference.
func TestTextIndexConcurrentWritesAndSearches(t *testing.T) {
	idx := NewTextIndex()
	st := newStemmer()
	var wg sync.WaitGroup
	refs := make([]textRef, 4)
	for w := range refs {
		refs[w] = textRef{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for i := range 3000 {
				m := randomTextMeta(r, []string{"g0", "g1"})
				m.MachineID = fmt.Sprint("w", w) // each writer owns its keys
				key := [4]string{m.GroveID, m.Table, m.MachineID, m.ID}
				if i%5 == 4 {
					idx.Delete(key[0], key[1], key[2], key[3])
					delete(refs[w], key)
					continue
				}
				text := randomText(r)
				if err := idx.Upsert(doc(m, text)); err != nil {
					t.Error(err)
					return
				}
				if tf, n := st.docTerms(text); n > 0 {
					refs[w][key] = textRefDoc{m, tf, n}
				} else {
					delete(refs[w], key)
				}
			}
		}()
	}
	stop := make(chan struct{})
	var sg sync.WaitGroup
	for s := range 2 {
		sg.Add(1)
		go func() {
			defer sg.Done()
			r := rand.New(rand.NewPCG(uint64(s), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := idx.Search(context.Background(), randomQuery(r), 20, hypha.VectorFilter{GroveID: "g0", SharedFrom: []string{"g1"}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	sg.Wait()
	ref := textRef{}
	for _, m := range refs {
		for k, v := range m {
			ref[k] = v
		}
	}
	if idx.Len() != len(ref) {
		t.Fatalf("Len() = %d, reference holds %d", idx.Len(), len(ref))
	}
	r := rand.New(rand.NewPCG(5, 5))
	for range 100 {
		q := randomQuery(r)
		f := hypha.VectorFilter{GroveID: "g0", SharedFrom: []string{"g1"}}
		hits, err := idx.Search(t.Context(), q, hypha.MaxVectorTopK, f)
		if err != nil {
			t.Fatal(err)
		}
		checkTextAgainstRef(t, ref, st.queryTerms(q), hypha.MaxVectorTopK, f, hits)
	}
}

// FuzzWordsMatchThemselves: whatever a text is, every term a query of the
// same text searches is a term of the text's document, so a record is
// always found by its own words.
func FuzzWordsMatchThemselves(f *testing.F) {
	for _, s := range []string{"Indexing the INDEXED", "café-au-lait v1.2", "İstanbul ΣΊΣΥΦΟΣ straße", "x\u0301y ̈́", "the of and", "",
		"東京都の天気予報", "Goのテストを書くー", "か\u3099き 漢"} {
		f.Add(s)
	}
	st := newStemmer()
	f.Fuzz(func(t *testing.T, text string) {
		tf, n := st.docTerms(text)
		var sum uint32
		for _, c := range tf {
			sum += c
		}
		if sum != n {
			t.Fatalf("%q: term frequencies add up to %d, the length is %d", text, sum, n)
		}
		for _, term := range st.queryTerms(text) {
			if tf[term] == 0 {
				t.Fatalf("%q: the query term %q is not a term of the text (%v)", text, term, tf)
			}
		}
	})
}

// TestTextScoresIgnoreUnreadableDocuments: the BM25 statistics are those of
// the rows the caller may read, so documents it may not read (another
// grove's private ones; private ones on the anonymous tier) cannot be
// probed through the scores of those it may.
func TestTextScoresIgnoreUnreadableDocuments(t *testing.T) {
	idx := NewTextIndex()
	m := func(grove, id string, shared, public bool) hypha.VectorMeta {
		return hypha.VectorMeta{GroveID: grove, Table: "spores", MachineID: "m", ID: id, Shared: shared, Public: public}
	}
	must := func(meta hypha.VectorMeta, text string) {
		t.Helper()
		if err := idx.Upsert(doc(meta, text)); err != nil {
			t.Fatal(err)
		}
	}
	must(m("b", "shared", true, false), "vacuum settings for postgres")
	must(m("b", "public", false, true), "vacuum settings for postgres")
	must(m("a", "own", false, false), "unrelated words entirely")
	score := func(f hypha.VectorFilter, id string) float64 {
		t.Helper()
		hits, err := idx.Search(t.Context(), "vacuum", hypha.MaxVectorTopK, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.Key.ID == id {
				return h.Score
			}
		}
		t.Fatalf("%s not found with %+v: %v", id, f, hits)
		return 0
	}
	grantee := hypha.VectorFilter{GroveID: "a", SharedFrom: []string{"b"}}
	anonymous := hypha.VectorFilter{GroveID: "b", PublicOnly: true}
	beforeShared, beforePublic := score(grantee, "shared"), score(anonymous, "public")
	for i := range 50 {
		must(m("b", fmt.Sprint("private", i), false, false), "vacuum vacuum secret plans")
	}
	if got := score(grantee, "shared"); got != beforeShared {
		t.Fatalf("grove b's private documents moved a grantee's score: %v → %v", beforeShared, got)
	}
	if got := score(anonymous, "public"); got != beforePublic {
		t.Fatalf("private documents moved an anonymous score: %v → %v", beforePublic, got)
	}
	// Grove b itself sees its private documents, and its scores follow them.
	if got := score(hypha.VectorFilter{GroveID: "b"}, "shared"); got == beforeShared {
		t.Fatal("grove b's own statistics ignore its private documents")
	}
}
