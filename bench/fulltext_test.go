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
// KeywordSearch latency, limit 10, by how many documents the query words
// occur in: rare (0.1–0.5 % of the spores), medium (2–5 %), common
// (15–35 %), very common (over 90 %, as a stop word would), a mix of one
// medium and two rare words, and that mix under filters (one observation
// type of five and half of the created_at range). The cost of a query
// grows with the documents its words occur in: both engines rank every
// match. Each sub-benchmark reports p50 and p95 beside ns/op.
//
//	HYPHA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test go test ./bench -run x -bench KeywordSearch -benchtime 200x -v
func BenchmarkKeywordSearch(b *testing.B) {
	vocab := vocabulary(5000)
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) {
			db := testdb.MustOpen(b, engine)
			ctx := context.Background()
			start := time.Now()
			df, err := loadSpores(ctx, db, vocab, ftSpores)
			if err != nil {
				b.Fatal(err)
			}
			if err := db.Analyze(ctx, []string{"spores", "fulltext_docs"}); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %d spores written and indexed in %s", engine, ftSpores, time.Since(start).Round(time.Millisecond))
			rng := rand.New(rand.NewPCG(5, 6))
			// word picks a word occurring in lo..hi per cent of the spores.
			word := func(lo, hi float64) string {
				var in []string
				for i, n := range df {
					if p := 100 * float64(n) / ftSpores; p >= lo && p <= hi {
						in = append(in, vocab[i])
					}
				}
				if len(in) == 0 {
					b.Fatalf("no word occurs in %v–%v %% of the spores", lo, hi)
				}
				return in[rng.IntN(len(in))]
			}
			queries := func(fn func() string) []string {
				out := make([]string, 64)
				for i := range out {
					out[i] = fn()
				}
				return out
			}
			mixed := func() string { return word(2, 5) + " " + word(0.1, 0.5) + " " + word(0.1, 0.5) }
			for _, c := range []struct {
				name    string
				queries []string
				filter  hypha.VectorFilter
			}{
				{"rare", queries(func() string { return word(0.1, 0.5) }), hypha.VectorFilter{}},
				{"medium", queries(func() string { return word(2, 5) }), hypha.VectorFilter{}},
				{"common", queries(func() string { return word(15, 35) }), hypha.VectorFilter{}},
				{"very_common", queries(func() string { return word(90, 100) }), hypha.VectorFilter{}},
				{"mixed", queries(mixed), hypha.VectorFilter{}},
				{"mixed_filtered", queries(mixed),
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

// loadSpores writes n active spores of the "bench" grove in batches and
// returns in how many spores each word of vocab occurs.
func loadSpores(ctx context.Context, db hypha.Store, vocab []string, n int) ([]int, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, uint64(len(vocab)-1))
	spores := hypha.LookupTable("spores")
	types := []string{"decision", "gotcha", "discovery", "trade_off", "bug_fix"}
	df := make([]int, len(vocab))
	seen := make([]int, len(vocab)) // the last spore (+1) each word was counted for
	const batch = 500
	for lo := 0; lo < n; lo += batch {
		recs := make([]*hypha.Record, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			var b strings.Builder
			for range 80 + rng.IntN(81) {
				w := zipf.Uint64()
				if seen[w] != i+1 {
					seen[w], df[w] = i+1, df[w]+1
				}
				b.WriteString(vocab[w])
				b.WriteByte(' ')
			}
			r, err := hypha.NewRecord(spores, "bench", fmt.Sprintf("m%d", i%4), fmt.Sprintf("spore-%06d", i), map[string]any{
				"project_id": fmt.Sprintf("proj_%032x", i%10), "observation_type": types[i%len(types)], "status": "active",
				"content": b.String(), "created_at": int64(1_700_000_000 + i)})
			if err != nil {
				return nil, err
			}
			recs = append(recs, r)
		}
		if _, err := db.UpsertRecords(ctx, recs); err != nil {
			return nil, err
		}
	}
	return df, nil
}
