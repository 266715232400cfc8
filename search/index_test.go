package search_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// randVec returns a random vector with components uniform in [-1, 1).
func randVec(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return v
}

// MustUpsert upserts or fails the test.
func MustUpsert(tb testing.TB, idx hypha.VectorIndex, meta hypha.VectorMeta, vec []float32) {
	tb.Helper()
	if err := idx.Upsert(meta, vec); err != nil {
		tb.Fatalf("Upsert(%+v): %v", meta, err)
	}
}

// MustSearch searches or fails the test.
func MustSearch(tb testing.TB, idx hypha.VectorIndex, q []float32, k int, f hypha.VectorFilter) []hypha.VectorHit {
	tb.Helper()
	hits, err := idx.Search(context.Background(), q, k, f)
	if err != nil {
		tb.Fatalf("Search(k=%d, %+v): %v", k, f, err)
	}
	return hits
}

func ids(hits []hypha.VectorHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Meta.ID
	}
	return out
}

func meta(grove, id string) hypha.VectorMeta {
	return hypha.VectorMeta{GroveID: grove, Table: "spores", MachineID: "m1", ID: id}
}

func TestIndexEmpty(t *testing.T) {
	idx := search.NewIndex(8)
	if idx.Len() != 0 || idx.Dims() != 8 {
		t.Fatalf("Len() = %d, Dims() = %d", idx.Len(), idx.Dims())
	}
	hits := MustSearch(t, idx, randVec(rand.New(rand.NewPCG(1, 1)), 8), 10, hypha.VectorFilter{GroveID: "g"})
	if hits == nil || len(hits) != 0 {
		t.Fatalf("search of an empty index = %#v, want an empty, non-nil slice", hits)
	}
	idx.Delete("g", "spores", "m1", "nothing") // a missing vector is not an error
	if s := idx.Stats(); s.Vectors != 0 || s.Groves != 0 || s.Dims != 8 {
		t.Fatalf("Stats() = %+v", s)
	}
}

func TestIndexFindsItselfAndScoresCosine(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	idx := search.NewIndex(32)
	vecs := make([][]float32, 500)
	for i := range vecs {
		vecs[i] = randVec(r, 32)
		MustUpsert(t, idx, meta("g", fmt.Sprint(i)), vecs[i])
	}
	for i, v := range vecs {
		// A scaled copy of the vector: cosine ignores length.
		q := make([]float32, len(v))
		for j := range v {
			q[j] = 3.5 * v[j]
		}
		hits := MustSearch(t, idx, q, 3, hypha.VectorFilter{GroveID: "g"})
		if len(hits) != 3 || hits[0].Meta.ID != fmt.Sprint(i) {
			t.Fatalf("query %d: hits %v, want itself first", i, ids(hits))
		}
		if math.Abs(float64(hits[0].Score)-1) > 1e-5 {
			t.Fatalf("query %d: self score %v, want 1", i, hits[0].Score)
		}
		if hits[1].Score > hits[0].Score || hits[2].Score > hits[1].Score {
			t.Fatalf("query %d: scores not in descending order: %v", i, hits)
		}
	}
}

func TestIndexUpsertReplacesAndDeleteRemoves(t *testing.T) {
	idx := search.NewIndex(2)
	f := hypha.VectorFilter{GroveID: "g"}
	MustUpsert(t, idx, meta("g", "a"), []float32{1, 0})
	MustUpsert(t, idx, meta("g", "b"), []float32{0, 1})
	MustUpsert(t, idx, meta("g", "c"), []float32{1, 1})
	if got := ids(MustSearch(t, idx, []float32{1, 0}, 1, f)); got[0] != "a" {
		t.Fatalf("nearest to x = %v, want a", got)
	}

	// Replace a's vector and its metadata: one record, new vector.
	m := meta("g", "a")
	m.Status = "active"
	MustUpsert(t, idx, m, []float32{0, 5})
	if idx.Len() != 3 {
		t.Fatalf("Len() = %d after a replace, want 3", idx.Len())
	}
	hits := MustSearch(t, idx, []float32{1, 0}, 3, f)
	if got := ids(hits); got[0] != "c" {
		t.Fatalf("nearest to x after the replace = %v, want c first", got)
	}
	if hits := MustSearch(t, idx, []float32{0, 1}, 3, hypha.VectorFilter{GroveID: "g", Status: "active"}); len(hits) != 1 || hits[0].Meta.ID != "a" {
		t.Fatalf("the replaced metadata is not searchable: %v", ids(hits))
	}

	// Delete the first row: the last one moves into its place.
	idx.Delete("g", "spores", "m1", "a")
	idx.Delete("g", "spores", "m1", "a")
	if idx.Len() != 2 {
		t.Fatalf("Len() = %d after deleting twice, want 2", idx.Len())
	}
	if got := ids(MustSearch(t, idx, []float32{0, 1}, 10, f)); len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Fatalf("after delete = %v, want [b c]", got)
	}
	// A deleted record's status is gone from the dictionary too.
	if hits := MustSearch(t, idx, []float32{0, 1}, 10, hypha.VectorFilter{GroveID: "g", Status: "active"}); len(hits) != 0 {
		t.Fatalf("deleted record still matches its status: %v", ids(hits))
	}

	// Re-upsert brings it back.
	MustUpsert(t, idx, meta("g", "a"), []float32{1, 0})
	if got := ids(MustSearch(t, idx, []float32{1, 0}, 1, f)); got[0] != "a" {
		t.Fatalf("after re-upsert = %v, want a", got)
	}
	// Same id under another machine or table is another record.
	MustUpsert(t, idx, hypha.VectorMeta{GroveID: "g", Table: "plans", MachineID: "m1", ID: "a"}, []float32{1, 0})
	MustUpsert(t, idx, hypha.VectorMeta{GroveID: "g", Table: "spores", MachineID: "m2", ID: "a"}, []float32{1, 0})
	if idx.Len() != 5 {
		t.Fatalf("Len() = %d, want 5", idx.Len())
	}
}

func TestIndexManyDeletesAcrossBlocks(t *testing.T) {
	// Enough rows for several storage blocks; delete most in random order
	// and check every survivor still finds itself.
	r := rand.New(rand.NewPCG(3, 3))
	const n, dims = 5000, 8
	idx := search.NewIndex(dims)
	vecs := map[string][]float32{}
	for i := range n {
		id := fmt.Sprint(i)
		vecs[id] = randVec(r, dims)
		MustUpsert(t, idx, meta("g", id), vecs[id])
	}
	for _, i := range r.Perm(n)[:4200] {
		delete(vecs, fmt.Sprint(i))
		idx.Delete("g", "spores", "m1", fmt.Sprint(i))
	}
	if idx.Len() != len(vecs) {
		t.Fatalf("Len() = %d, want %d", idx.Len(), len(vecs))
	}
	for id, v := range vecs {
		if got := ids(MustSearch(t, idx, v, 1, hypha.VectorFilter{GroveID: "g"})); got[0] != id {
			t.Fatalf("%s finds %v", id, got)
		}
	}
	if got := MustSearch(t, idx, randVec(r, dims), hypha.MaxVectorTopK, hypha.VectorFilter{GroveID: "g"}); len(got) != hypha.MaxVectorTopK {
		t.Fatalf("got %d hits, want %d", len(got), hypha.MaxVectorTopK)
	}
}

func TestIndexKLargerThanMatches(t *testing.T) {
	idx := search.NewIndex(4)
	r := rand.New(rand.NewPCG(4, 4))
	for i := range 7 {
		MustUpsert(t, idx, meta("g", fmt.Sprint(i)), randVec(r, 4))
	}
	if hits := MustSearch(t, idx, randVec(r, 4), hypha.MaxVectorTopK, hypha.VectorFilter{GroveID: "g"}); len(hits) != 7 {
		t.Fatalf("got %d hits, want all 7", len(hits))
	}
}

func TestIndexZeroVectors(t *testing.T) {
	idx := search.NewIndex(3)
	MustUpsert(t, idx, meta("g", "zero"), []float32{0, 0, 0})
	MustUpsert(t, idx, meta("g", "x"), []float32{2, 0, 0})
	hits := MustSearch(t, idx, []float32{1, 0, 0}, 5, hypha.VectorFilter{GroveID: "g"})
	if got := ids(hits); len(got) != 2 || got[0] != "x" || got[1] != "zero" || hits[1].Score != 0 {
		t.Fatalf("hits %v, want x then zero with score 0", hits)
	}
	if hits := MustSearch(t, idx, []float32{0, 0, 0}, 5, hypha.VectorFilter{GroveID: "g"}); len(hits) != 0 {
		t.Fatalf("a zero query returned %v, want nothing", ids(hits))
	}
}

func TestIndexRejectsBadInput(t *testing.T) {
	idx := search.NewIndex(2)
	ctx := context.Background()
	for name, err := range map[string]error{
		"no grove":      idx.Upsert(hypha.VectorMeta{Table: "spores", ID: "a"}, []float32{1, 0}),
		"no table":      idx.Upsert(hypha.VectorMeta{GroveID: "g", ID: "a"}, []float32{1, 0}),
		"no id":         idx.Upsert(hypha.VectorMeta{GroveID: "g", Table: "spores"}, []float32{1, 0}),
		"short vector":  idx.Upsert(meta("g", "a"), []float32{1}),
		"NaN":           idx.Upsert(meta("g", "a"), []float32{float32(math.NaN()), 0}),
		"Inf":           idx.Upsert(meta("g", "a"), []float32{float32(math.Inf(1)), 0}),
		"search grove":  second(idx.Search(ctx, []float32{1, 0}, 1, hypha.VectorFilter{})),
		"search k 0":    second(idx.Search(ctx, []float32{1, 0}, 0, hypha.VectorFilter{GroveID: "g"})),
		"search k big":  second(idx.Search(ctx, []float32{1, 0}, hypha.MaxVectorTopK+1, hypha.VectorFilter{GroveID: "g"})),
		"search dims":   second(idx.Search(ctx, []float32{1, 0, 0}, 1, hypha.VectorFilter{GroveID: "g"})),
		"search finite": second(idx.Search(ctx, []float32{float32(math.NaN()), 0}, 1, hypha.VectorFilter{GroveID: "g"})),
	} {
		var e *hypha.Error
		if !errors.As(err, &e) || e.Code != hypha.EInvalid {
			t.Errorf("%s: err = %v, want code %s", name, err, hypha.EInvalid)
		}
	}
	if idx.Len() != 0 {
		t.Fatalf("rejected upserts were stored: Len() = %d", idx.Len())
	}
}

func second[T any](_ T, err error) error { return err }

func TestIndexHonoursContext(t *testing.T) {
	idx := search.NewIndex(2)
	MustUpsert(t, idx, meta("g", "a"), []float32{1, 0})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := idx.Search(ctx, []float32{1, 0}, 1, hypha.VectorFilter{GroveID: "g"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Search with a cancelled context: %v", err)
	}
}

func TestLoad(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	type stored struct {
		meta hypha.VectorMeta
		vec  []float32
	}
	var rows []stored
	for i := range 3000 {
		rows = append(rows, stored{meta(fmt.Sprint("g", i%3), fmt.Sprint(i)), randVec(r, 16)})
	}
	scan := func(yield func(hypha.VectorMeta, []float32) error) error {
		for _, s := range rows {
			if err := yield(s.meta, s.vec); err != nil {
				return err
			}
		}
		return nil
	}
	idx, err := search.Load(context.Background(), 16, scan)
	if err != nil {
		t.Fatal(err)
	}
	if s := idx.Stats(); s.Vectors != 3000 || s.Groves != 3 || s.Bytes < 3000*16*4 {
		t.Fatalf("Stats() = %+v", s)
	}
	if got := ids(MustSearch(t, idx, rows[1234].vec, 1, hypha.VectorFilter{GroveID: rows[1234].meta.GroveID})); got[0] != "1234" {
		t.Fatalf("loaded index finds %v, want 1234", got)
	}

	rows[2000].vec = rows[2000].vec[:3]
	if _, err := search.Load(context.Background(), 16, scan); err == nil {
		t.Fatal("Load accepted a vector of the wrong length")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := search.Load(ctx, 16, scan); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a cancelled context: %v", err)
	}
}

func TestIndexConcurrentUpsertsDeletesAndSearches(t *testing.T) {
	// Run under -race. Writers churn three groves while readers search;
	// every hit a reader sees must be visible to it.
	const dims = 16
	idx := search.NewIndex(dims)
	groves := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 10))
			for i := range 3000 {
				g := groves[r.IntN(len(groves))]
				id := fmt.Sprint(r.IntN(2000))
				if i%4 == 3 {
					idx.Delete(g, "spores", "m1", id)
					continue
				}
				m := meta(g, id)
				m.Shared = r.IntN(2) == 0
				m.Status = []string{"active", "superseded"}[r.IntN(2)]
				if err := idx.Upsert(m, randVec(r, dims)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 20))
			for range 300 {
				f := hypha.VectorFilter{GroveID: groves[r.IntN(3)], SharedFrom: []string{groves[r.IntN(3)]}}
				if r.IntN(2) == 0 {
					f.Status = "active"
				}
				hits, err := idx.Search(context.Background(), randVec(r, dims), 1+r.IntN(hypha.MaxVectorTopK), f)
				if err != nil {
					t.Error(err)
					return
				}
				for _, h := range hits {
					own := h.Meta.GroveID == f.GroveID
					shared := h.Meta.GroveID == f.SharedFrom[0] && h.Meta.Shared
					if !own && !shared || (f.Status != "" && h.Meta.Status != f.Status) {
						t.Errorf("filter %+v returned %+v", f, h.Meta)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	_ = idx.Stats()
}

func TestIndexCompactsAfterMassDelete(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	const dims = 8
	idx := search.NewIndex(dims)
	vecs := map[string][]float32{}
	for i := range 10_000 {
		id := fmt.Sprint(i)
		vecs[id] = randVec(r, dims)
		m := meta("g", id)
		m.SessionID = id // 10,000 distinct values in the dictionary
		MustUpsert(t, idx, m, vecs[id])
	}
	full := idx.Stats()
	for i := range 9_000 {
		idx.Delete("g", "spores", "m1", fmt.Sprint(i))
		delete(vecs, fmt.Sprint(i))
	}
	s := idx.Stats()
	if s.Vectors != 1000 || s.Tombstones >= 1024 || s.Bytes > full.Bytes/4 {
		t.Fatalf("after deleting 90 %%: %+v (full: %+v)", s, full)
	}
	for id, v := range vecs {
		if hits := MustSearch(t, idx, v, 1, hypha.VectorFilter{GroveID: "g", SessionID: id}); len(hits) != 1 || hits[0].Meta.ID != id {
			t.Fatalf("%s finds %v after compaction", id, ids(hits))
		}
	}
	if hits := MustSearch(t, idx, randVec(r, dims), 10, hypha.VectorFilter{GroveID: "g", SessionID: "5"}); len(hits) != 0 {
		t.Fatalf("a deleted record's session still matches: %v", ids(hits))
	}
}

func TestIndexSearchesSeeStableRecordsDuringChurn(t *testing.T) {
	// Run under -race. Stable records never change while a writer adds and
	// deletes thousands of others, which compacts the partition again and
	// again under the searches. A search must still find every stable
	// record it asks for, and never return a record twice.
	const dims = 16
	r := rand.New(rand.NewPCG(9, 9))
	idx := search.NewIndex(dims)
	stable := make([][]float32, 6000)
	for i := range stable {
		stable[i] = randVec(r, dims)
		MustUpsert(t, idx, meta("g", fmt.Sprint("s", i)), stable[i])
	}
	done := make(chan struct{})
	var rounds atomic.Int64
	var writer, searchers sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		r := rand.New(rand.NewPCG(10, 10))
		for round := 0; ; round++ {
			rounds.Store(int64(round))
			select {
			case <-done:
				return
			default:
			}
			for i := range 2500 {
				m := meta("g", fmt.Sprint("c", round, "-", i))
				m.Status = "churn"
				if err := idx.Upsert(m, randVec(r, dims)); err != nil {
					t.Error(err)
					return
				}
			}
			for i := range 2500 {
				idx.Delete("g", "spores", "m1", fmt.Sprint("c", round, "-", i))
			}
		}
	}()
	for w := range 2 {
		searchers.Add(1)
		go func() {
			defer searchers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 11))
			for n := 0; n < 50 || rounds.Load() < 3; n++ {
				i := r.IntN(len(stable))
				hits := MustSearch(t, idx, stable[i], 50, hypha.VectorFilter{GroveID: "g"})
				if len(hits) == 0 || hits[0].Meta.ID != fmt.Sprint("s", i) {
					t.Errorf("stable record s%d not found first: %v", i, ids(hits))
					return
				}
				seen := map[string]bool{}
				for _, h := range hits {
					if seen[h.Meta.ID] {
						t.Errorf("%s returned twice", h.Meta.ID)
						return
					}
					seen[h.Meta.ID] = true
				}
			}
		}()
	}
	searchers.Wait()
	close(done)
	writer.Wait()
}
