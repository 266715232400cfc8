package search_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// filterFixture is a small hand-made set: every record has a distinct
// value in the field a case filters on, so each case names the ids it
// must return.
func filterFixture(t *testing.T) *search.Index {
	t.Helper()
	idx := search.NewIndex(4)
	recs := []hypha.VectorMeta{
		{GroveID: "g", Table: "spores", MachineID: "m1", ID: "s1", ProjectID: "p1", Status: "active", ObservationType: "gotcha", SessionID: "sess1", CreatedAt: 100},
		{GroveID: "g", Table: "spores", MachineID: "m2", ID: "s2", ProjectID: "p2", Status: "superseded", ObservationType: "decision", SessionID: "sess2", CreatedAt: 200},
		{GroveID: "g", Table: "plans", MachineID: "m1", ID: "pl1", ProjectID: "p1", Status: "draft", SessionID: "sess1", SourcePath: "plans/a.md", CreatedAt: 300},
		{GroveID: "g", Table: "artifacts", MachineID: "m2", ID: "ar1", ProjectID: "p2", SourcePath: "docs/b.md", CreatedAt: 400},
		{GroveID: "g", Table: "skill_records", MachineID: "m1", ID: "sk1", ProjectID: "p1", Status: "active", Name: "deploy"},
		{GroveID: "g", Table: "sessions", MachineID: "m1", ID: "se1", ProjectID: "p1", Status: "completed", CreatedAt: 500},
		// A grove with a public record and a private one.
		{GroveID: "pub", Table: "spores", MachineID: "m3", ID: "p-public", ProjectID: "p3", Status: "active", CreatedAt: 600, Public: true},
		{GroveID: "pub", Table: "spores", MachineID: "m3", ID: "p-private", ProjectID: "p3", Status: "active", CreatedAt: 600},
		// Another grove: its shared record is visible to groves it grants,
		// its private one never.
		{GroveID: "other", Table: "spores", MachineID: "m9", ID: "o-shared", ProjectID: "p1", Status: "active", CreatedAt: 150, Shared: true},
		{GroveID: "other", Table: "spores", MachineID: "m9", ID: "o-private", ProjectID: "p1", Status: "active", CreatedAt: 150},
		// A third grove that shares, but is never granted in these cases.
		{GroveID: "third", Table: "spores", MachineID: "m8", ID: "t-shared", ProjectID: "p1", Status: "active", CreatedAt: 150, Shared: true},
	}
	r := rand.New(rand.NewPCG(6, 6))
	for _, m := range recs {
		MustUpsert(t, idx, m, randVec(r, 4))
	}
	return idx
}

func TestIndexFilters(t *testing.T) {
	idx := filterFixture(t)
	g := func(f hypha.VectorFilter) hypha.VectorFilter { f.GroveID = "g"; return f }
	cases := []struct {
		name string
		f    hypha.VectorFilter
		want []string
	}{
		{"grove only", g(hypha.VectorFilter{}), []string{"ar1", "pl1", "s1", "s2", "se1", "sk1"}},
		{"public only", hypha.VectorFilter{GroveID: "pub", PublicOnly: true}, []string{"p-public"}},
		{"public and private", hypha.VectorFilter{GroveID: "pub"}, []string{"p-private", "p-public"}},
		{"public only across a grant", hypha.VectorFilter{GroveID: "pub", PublicOnly: true, SharedFrom: []string{"other"}}, []string{"p-public"}},
		{"public only, filtered", hypha.VectorFilter{GroveID: "pub", PublicOnly: true, Status: "superseded"}, nil},
		{"public only, none public", g(hypha.VectorFilter{PublicOnly: true}), nil},
		{"grove with a grant", g(hypha.VectorFilter{SharedFrom: []string{"other"}}), []string{"ar1", "o-shared", "pl1", "s1", "s2", "se1", "sk1"}},
		{"grant listed twice and own grove listed", g(hypha.VectorFilter{SharedFrom: []string{"other", "other", "g", ""}}), []string{"ar1", "o-shared", "pl1", "s1", "s2", "se1", "sk1"}},
		{"the other grove sees its own", hypha.VectorFilter{GroveID: "other"}, []string{"o-private", "o-shared"}},
		{"unknown grove", hypha.VectorFilter{GroveID: "nobody", SharedFrom: []string{"missing"}}, nil},
		{"one table", g(hypha.VectorFilter{Tables: []string{"spores"}}), []string{"s1", "s2"}},
		{"two tables", g(hypha.VectorFilter{Tables: []string{"plans", "artifacts", "plans"}}), []string{"ar1", "pl1"}},
		{"unknown table", g(hypha.VectorFilter{Tables: []string{"nope"}}), nil},
		{"known and unknown tables", g(hypha.VectorFilter{Tables: []string{"nope", "sessions"}}), []string{"se1"}},
		{"empty table name", g(hypha.VectorFilter{Tables: []string{""}}), nil},
		{"project", g(hypha.VectorFilter{ProjectID: "p2"}), []string{"ar1", "s2"}},
		{"project across a grant", g(hypha.VectorFilter{ProjectID: "p1", SharedFrom: []string{"other"}}), []string{"o-shared", "pl1", "s1", "se1", "sk1"}},
		{"machine", g(hypha.VectorFilter{MachineID: "m2"}), []string{"ar1", "s2"}},
		{"status", g(hypha.VectorFilter{Status: "active"}), []string{"s1", "sk1"}},
		{"observation type", g(hypha.VectorFilter{ObservationType: "decision"}), []string{"s2"}},
		{"session", g(hypha.VectorFilter{SessionID: "sess1"}), []string{"pl1", "s1"}},
		{"source path", g(hypha.VectorFilter{SourcePath: "docs/b.md"}), []string{"ar1"}},
		{"name", g(hypha.VectorFilter{Name: "deploy"}), []string{"sk1"}},
		{"unknown value", g(hypha.VectorFilter{Status: "nope"}), nil},
		{"since", g(hypha.VectorFilter{Since: 300}), []string{"ar1", "pl1", "se1"}},
		{"until", g(hypha.VectorFilter{Until: 200}), []string{"s1", "s2"}},
		{"since and until inclusive", g(hypha.VectorFilter{Since: 200, Until: 400}), []string{"ar1", "pl1", "s2"}},
		{"since after until", g(hypha.VectorFilter{Since: 400, Until: 200}), nil},
		{"range across a grant", g(hypha.VectorFilter{Since: 150, Until: 150, SharedFrom: []string{"other", "third"}}), []string{"o-shared", "t-shared"}},
		{"all fields", g(hypha.VectorFilter{Tables: []string{"spores", "plans"}, ProjectID: "p1", MachineID: "m1", Status: "active", ObservationType: "gotcha", SessionID: "sess1", Since: 1, Until: 100}), []string{"s1"}},
		{"fields that exclude each other", g(hypha.VectorFilter{Status: "active", ProjectID: "p2"}), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hits := MustSearch(t, idx, []float32{1, 2, 3, 4}, hypha.MaxVectorTopK, c.f)
			got := ids(hits)
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// refIndex is the brute-force reference: a map of records, a filter
// written independently of the index, exact float64 cosines.
type refIndex map[[4]string]refRecord

type refRecord struct {
	meta hypha.VectorMeta
	vec  []float64 // unit length, or zero
}

func unit64(v []float32) []float64 {
	out := make([]float64, len(v))
	var n float64
	for i, x := range v {
		out[i] = float64(x)
		n += out[i] * out[i]
	}
	if n > 0 {
		for i := range out {
			out[i] /= math.Sqrt(n)
		}
	}
	return out
}

func refKey(m hypha.VectorMeta) [4]string { return [4]string{m.GroveID, m.Table, m.MachineID, m.ID} }

// visible is the definition of what filter f lets through.
func visible(f hypha.VectorFilter, m hypha.VectorMeta) bool { return search.RefVisible(f, m) }

type refHit struct {
	key   [4]string
	score float64
}

// search returns every visible record with its score, best first.
func (ref refIndex) search(q []float32, f hypha.VectorFilter) []refHit {
	qu := unit64(q)
	var out []refHit
	for k, rec := range ref {
		if !visible(f, rec.meta) {
			continue
		}
		var s float64
		for i := range qu {
			s += qu[i] * rec.vec[i]
		}
		out = append(out, refHit{k, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].score > out[j].score })
	return out
}

// checkAgainstRef asserts that hits are an exact top k of the visible
// records: the right count, every hit visible, no duplicates, each score
// the record's true cosine, and the i-th score equal to the reference's
// i-th best (so any record left out scores no better than what came back;
// equal scores may come in either order).
func checkAgainstRef(t *testing.T, ref refIndex, q []float32, k int, f hypha.VectorFilter, hits []hypha.VectorHit) {
	t.Helper()
	const eps = 1e-4
	want := ref.search(q, f)
	if isZero(q) {
		want = nil
	}
	if len(hits) != min(k, len(want)) {
		t.Fatalf("filter %+v, k %d: %d hits, want %d", f, k, len(hits), min(k, len(want)))
	}
	seen := map[[4]string]bool{}
	scores := map[[4]string]float64{}
	for _, w := range want {
		scores[w.key] = w.score
	}
	for i, h := range hits {
		key := refKey(h.Meta)
		if !visible(f, h.Meta) {
			t.Fatalf("filter %+v returned a record it does not select: %+v", f, h.Meta)
		}
		rec, ok := ref[key]
		if !ok || rec.meta != h.Meta {
			t.Fatalf("hit %+v is not the stored record %+v", h.Meta, rec.meta)
		}
		if seen[key] {
			t.Fatalf("hit %v twice", key)
		}
		seen[key] = true
		if math.Abs(float64(h.Score)-scores[key]) > eps {
			t.Fatalf("hit %v scores %v, its cosine is %v", key, h.Score, scores[key])
		}
		if math.Abs(float64(h.Score)-want[i].score) > eps {
			t.Fatalf("filter %+v, k %d: hit %d scores %v, the %d-th best is %v", f, k, i, h.Score, i, want[i].score)
		}
		if i > 0 && h.Score > hits[i-1].Score {
			t.Fatalf("hits not best first at %d", i)
		}
	}
}

func isZero(v []float32) bool {
	return !slices.ContainsFunc(v, func(x float32) bool { return x != 0 })
}

// pick returns one of vals, or "" a third of the time.
func pick(r *rand.Rand, vals ...string) string {
	if r.IntN(3) == 0 {
		return ""
	}
	return vals[r.IntN(len(vals))]
}

func randomMeta(r *rand.Rand, groves []string) hypha.VectorMeta {
	m := hypha.VectorMeta{
		GroveID:         groves[r.IntN(len(groves))],
		Table:           []string{"spores", "plans", "sessions", "artifacts", "skill_records"}[r.IntN(5)],
		MachineID:       fmt.Sprint("m", r.IntN(4)),
		ID:              fmt.Sprint("r", r.IntN(3000)),
		ProjectID:       pick(r, "p1", "p2", "p3"),
		Status:          pick(r, "active", "superseded"),
		ObservationType: pick(r, "gotcha", "decision"),
		SessionID:       pick(r, "s1", "s2", "s3", "s4"),
		SourcePath:      pick(r, "a.md", "b.md"),
		Name:            pick(r, "n1", "n2"),
		Shared:          r.IntN(2) == 0,
	}
	if r.IntN(4) > 0 {
		m.CreatedAt = int64(1 + r.IntN(1000))
	}
	return m
}

func randomFilter(r *rand.Rand, groves []string) hypha.VectorFilter {
	return search.RandomFilter(r, groves)
}

// TestIndexMatchesBruteForce is the property test of isolation and
// exactness: random groves and metadata, random upserts, replaces and
// deletes, random filters over every combination of fields; each search
// must equal the reference's exact top k and return nothing a filter does
// not select. Grove g0 holds most records, so its searches take the
// parallel path.
func TestIndexMatchesBruteForce(t *testing.T) {
	const dims = 24
	r := rand.New(rand.NewPCG(7, 7))
	groves := []string{"g0", "g0", "g0", "g0", "g1", "g2", "g3"}
	idx := search.NewIndex(dims)
	ref := refIndex{}
	var vecs [][]float32 // some records share a vector, to make ties
	for round := range 8 {
		for range 1500 {
			m := randomMeta(r, groves)
			var v []float32
			switch {
			case r.IntN(50) == 0:
				v = make([]float32, dims) // zero vector
			case len(vecs) > 0 && r.IntN(10) == 0:
				v = vecs[r.IntN(len(vecs))]
			default:
				v = randVec(r, dims)
				vecs = append(vecs, v)
			}
			MustUpsert(t, idx, m, v)
			ref[refKey(m)] = refRecord{m, unit64(v)}
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
		for range 150 {
			f := randomFilter(r, groves[3:])
			k := []int{1, 10, 40, hypha.MaxVectorTopK}[r.IntN(4)]
			q := randVec(r, dims)
			if r.IntN(20) == 0 {
				q = vecs[r.IntN(len(vecs))]
			}
			hits := MustSearch(t, idx, q, k, f)
			checkAgainstRef(t, ref, q, k, f, hits)
		}
	}
}
