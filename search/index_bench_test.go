package search_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// The benchmark corpus: 100,000 records × 384 dimensions, the issue's
// target size, all in one grove (the worst case for a per-grove scan).
const (
	benchN    = 100_000
	benchDims = 384
	// benchProjects spreads records over projects: a project_id filter
	// selects 1 % of them.
	benchProjects = 100
)

type benchRecord struct {
	meta hypha.VectorMeta
	vec  []float32
}

var benchData = sync.OnceValue(func() []benchRecord {
	r := rand.New(rand.NewPCG(42, 42))
	recs := make([]benchRecord, benchN)
	for i := range recs {
		recs[i] = benchRecord{
			meta: hypha.VectorMeta{
				GroveID: "bench", Table: "spores", MachineID: fmt.Sprint("m", i%8), ID: fmt.Sprint("spore-", i),
				ProjectID: fmt.Sprint("p", i%benchProjects), Status: []string{"active", "superseded"}[i%2],
				SessionID: fmt.Sprint("s", i/50), CreatedAt: int64(1_700_000_000 + i),
			},
			vec: randVec(r, benchDims),
		}
	}
	return recs
})

func scanOf(recs []benchRecord) func(yield func(hypha.VectorMeta, []float32) error) error {
	return func(yield func(hypha.VectorMeta, []float32) error) error {
		for _, rec := range recs {
			if err := yield(rec.meta, rec.vec); err != nil {
				return err
			}
		}
		return nil
	}
}

var benchIndex = sync.OnceValues(func() (*search.Index, error) {
	return search.Load(context.Background(), benchDims, scanOf(benchData()))
})

func mustBenchIndex(b *testing.B) *search.Index {
	b.Helper()
	idx, err := benchIndex()
	if err != nil {
		b.Fatal(err)
	}
	return idx
}

// reportLatency reports the median and 95th percentile of durations.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.95), "p95-ms")
}

// BenchmarkSearch measures one query at a time against 100,000 × 384:
// unfiltered (every row scored), with a filter half the rows pass, and
// with a selective one (project_id, 1 %). Run with -benchtime 200x or
// more for a stable p95.
func BenchmarkSearch(b *testing.B) {
	idx := mustBenchIndex(b)
	cases := []struct {
		name string
		f    hypha.VectorFilter
	}{
		{"unfiltered", hypha.VectorFilter{GroveID: "bench"}},
		{"status_50pct", hypha.VectorFilter{GroveID: "bench", Status: "active"}},
		{"project_1pct", hypha.VectorFilter{GroveID: "bench", ProjectID: "p7"}},
		{"session_0.05pct", hypha.VectorFilter{GroveID: "bench", SessionID: "s1234"}},
	}
	for _, c := range cases {
		for _, k := range []int{10, hypha.MaxVectorTopK} {
			b.Run(fmt.Sprintf("%s/k=%d", c.name, k), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				queries := make([][]float32, 64)
				for i := range queries {
					queries[i] = randVec(r, benchDims)
				}
				lat := make([]time.Duration, 0, 1024)
				i := 0
				for b.Loop() {
					start := time.Now()
					hits, err := idx.Search(context.Background(), queries[i%len(queries)], k, c.f)
					lat = append(lat, time.Since(start))
					if err != nil || len(hits) == 0 {
						b.Fatalf("Search: %d hits, %v", len(hits), err)
					}
					i++
				}
				reportLatency(b, lat)
			})
		}
	}
}

// BenchmarkSearchParallel measures throughput with as many concurrent
// searchers as cores: searches share the index and do not wait for each
// other (each still splits its scan, so they compete for the cores).
func BenchmarkSearchParallel(b *testing.B) {
	idx := mustBenchIndex(b)
	f := hypha.VectorFilter{GroveID: "bench"}
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 2))
		q := randVec(r, benchDims)
		for pb.Next() {
			if _, err := idx.Search(context.Background(), q, 10, f); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLoad measures building the index from 100,000 stored vectors
// (the start-up rebuild, from memory: the store's read time is not
// included) and the heap the index holds afterwards.
func BenchmarkLoad(b *testing.B) {
	data := benchData()
	var ms runtime.MemStats
	var heap uint64
	b.StopTimer()
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapInuse
		b.StartTimer()
		idx, err := search.Load(context.Background(), benchDims, scanOf(data))
		b.StopTimer()
		if err != nil || idx.Len() != benchN {
			b.Fatalf("Load: %v, %d vectors", err, idx.Len())
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap = ms.HeapInuse - before
		b.ReportMetric(float64(idx.Stats().Bytes)/(1<<20), "est-MiB")
		runtime.KeepAlive(idx)
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(benchN*benchDims*4)/(1<<20), "raw-vectors-MiB")
}

// BenchmarkUpsert measures replacing vectors in a full index, as the
// embedding consumer does.
func BenchmarkUpsert(b *testing.B) {
	idx := mustBenchIndex(b)
	data := benchData()
	i := 0
	for b.Loop() {
		rec := data[(i*7919)%len(data)]
		if err := idx.Upsert(rec.meta, rec.vec); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRecall reports recall@10 of the index against a float64
// brute-force scan of the same 100,000 vectors, unfiltered and with the
// selective filter. The index is exact, so anything below 1 would be a
// bug or float32 rounding between near-equal scores.
func BenchmarkRecall(b *testing.B) {
	idx := mustBenchIndex(b)
	data := benchData()
	unit := make([][]float64, len(data))
	for i, rec := range data {
		unit[i] = unit64(rec.vec)
	}
	for _, f := range []hypha.VectorFilter{{GroveID: "bench"}, {GroveID: "bench", ProjectID: "p7"}} {
		name := "unfiltered"
		if f.ProjectID != "" {
			name = "project_1pct"
		}
		b.Run(name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 3))
			var found, total int
			for b.Loop() {
				q := randVec(r, benchDims)
				qu := unit64(q)
				type scored struct {
					id    string
					score float64
				}
				var all []scored
				for i, rec := range data {
					if f.ProjectID != "" && rec.meta.ProjectID != f.ProjectID {
						continue
					}
					var s float64
					for j := range qu {
						s += qu[j] * unit[i][j]
					}
					all = append(all, scored{rec.meta.ID, s})
				}
				slices.SortFunc(all, func(x, y scored) int { return cmp.Compare(y.score, x.score) })
				want := map[string]bool{}
				for _, s := range all[:10] {
					want[s.id] = true
				}
				for _, h := range MustSearch(b, idx, q, 10, f) {
					if want[h.Meta.ID] {
						found++
					}
				}
				total += 10
			}
			b.ReportMetric(float64(found)/float64(total), "recall@10")
		})
	}
}

// BenchmarkUpsertDuringSearches measures upsert latency while two
// goroutines search the same grove without pause: a writer waits for the
// block each search is scanning, not for whole searches.
func BenchmarkUpsertDuringSearches(b *testing.B) {
	idx := mustBenchIndex(b)
	data := benchData()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := randVec(rand.New(rand.NewPCG(uint64(w), 4)), benchDims)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := idx.Search(context.Background(), q, 10, hypha.VectorFilter{GroveID: "bench"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	lat := make([]time.Duration, 0, 1024)
	i := 0
	for b.Loop() {
		rec := data[(i*7919)%len(data)]
		start := time.Now()
		if err := idx.Upsert(rec.meta, rec.vec); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}

// BenchmarkDeleteCompaction deletes every fourth record of a fresh
// 100,000 × 384 index, one at a time. The quarter's last delete compacts
// the grove under its write lock; max-ms is that pause, which searches of
// the grove wait for.
func BenchmarkDeleteCompaction(b *testing.B) {
	data := benchData()
	var worst time.Duration
	b.StopTimer()
	for range b.N {
		idx, err := search.Load(context.Background(), benchDims, scanOf(data))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < len(data); i += 4 {
			m := data[i].meta
			start := time.Now()
			idx.Delete(m.GroveID, m.Table, m.MachineID, m.ID)
			worst = max(worst, time.Since(start))
		}
		b.StopTimer()
		if s := idx.Stats(); s.Tombstones != 0 || s.Vectors != benchN*3/4 {
			b.Fatalf("after deleting a quarter: %+v", s)
		}
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
}
