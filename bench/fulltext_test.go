package bench_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/testdb"
)

// ftSpores is the corpus size of BenchmarkKeywordSearch.
const ftSpores = 100_000

// BenchmarkKeywordSearch loads 100,000 spores of 80–160 words drawn from a
// Zipf-distributed vocabulary of 5,000 words into a fresh store (indexed
// by the triggers as they are written, in batches of 500) and measures
// KeywordSearch latency, limit 10, for queries of rare words, of common
// words (a quarter to half of the corpus matches), of a mix, and of the
// mix under filters. Each sub-benchmark reports p50 and p95 beside ns/op;
// the parent reports how long loading and indexing took.
//
//	HYPHA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test go test ./bench -run x -bench KeywordSearch -benchtime 400x
func BenchmarkKeywordSearch(b *testing.B) {
	vocab := vocabulary(5000)
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) {
			db := testdb.MustOpen(b, engine)
			ctx := context.Background()
			start := time.Now()
			if err := loadSpores(ctx, db, vocab, ftSpores); err != nil {
				b.Fatal(err)
			}
			if err := db.Analyze(ctx, []string{"spores", "fulltext_docs"}); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %d spores written and indexed in %s", engine, ftSpores, time.Since(start).Round(time.Millisecond))
			rng := rand.New(rand.NewPCG(5, 6))
			word := func(lo, hi int) string { return vocab[lo+rng.IntN(hi-lo)] }
			queries := func(fn func() string) []string {
				out := make([]string, 64)
				for i := range out {
					out[i] = fn()
				}
				return out
			}
			for _, c := range []struct {
				name    string
				queries []string
				filter  hypha.VectorFilter
			}{
				{"rare", queries(func() string { return word(2000, 5000) + " " + word(2000, 5000) }), hypha.VectorFilter{}},
				{"common", queries(func() string { return word(0, 10) + " " + word(0, 10) }), hypha.VectorFilter{}},
				{"mixed", queries(func() string { return word(0, 50) + " " + word(50, 500) + " " + word(500, 2000) }), hypha.VectorFilter{}},
				{"mixed_filtered", queries(func() string { return word(0, 50) + " " + word(50, 500) + " " + word(500, 2000) }),
					hypha.VectorFilter{ObservationType: "decision", Since: 1_700_000_000 + ftSpores/4, Until: 1_700_000_000 + ftSpores*3/4}},
			} {
				b.Run(c.name, func(b *testing.B) {
					f := c.filter
					f.GroveID = "bench"
					var lat []time.Duration
					hits := 0
					i := 0
					for b.Loop() {
						t0 := time.Now()
						h, err := db.KeywordSearch(ctx, c.queries[i%len(c.queries)], 10, f)
						lat = append(lat, time.Since(t0))
						if err != nil {
							b.Fatal(err)
						}
						hits += len(h)
						i++
					}
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds()), "p95-µs")
					b.ReportMetric(float64(hits)/float64(len(lat)), "hits/op")
				})
			}
		})
	}
}

// vocabulary returns n distinct made-up words, the most frequent first.
func vocabulary(n int) []string {
	syll := []string{"ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "xu", "fe", "gi", "ho", "ju", "be"}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for x := i + 16; x > 0; x /= 16 {
			b.WriteString(syll[x%16])
		}
		out[i] = b.String() + "n" // "n" keeps every word clear of the stop word list
	}
	return out
}

// loadSpores writes n active spores of the "bench" grove in batches.
func loadSpores(ctx context.Context, db hypha.Store, vocab []string, n int) error {
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, uint64(len(vocab)-1))
	spores := hypha.LookupTable("spores")
	types := []string{"decision", "gotcha", "discovery", "trade_off", "bug_fix"}
	const batch = 500
	for lo := 0; lo < n; lo += batch {
		recs := make([]*hypha.Record, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			var b strings.Builder
			for range 80 + rng.IntN(81) {
				b.WriteString(vocab[zipf.Uint64()])
				b.WriteByte(' ')
			}
			r, err := hypha.NewRecord(spores, "bench", fmt.Sprintf("m%d", i%4), fmt.Sprintf("spore-%06d", i), map[string]any{
				"project_id": fmt.Sprintf("proj_%032x", i%10), "observation_type": types[i%len(types)], "status": "active",
				"content": b.String(), "created_at": int64(1_700_000_000 + i)})
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		if _, err := db.UpsertRecords(ctx, recs); err != nil {
			return err
		}
	}
	return nil
}
