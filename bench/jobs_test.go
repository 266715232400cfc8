package bench_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/bench"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/search"
)

// BenchmarkJobs reports the durable queue's rates in batches of 100 on every
// configured engine: enqueue + claim + complete interleaved, as a consumer
// that keeps up with ingest; and the enqueue rate of a 20,000-job backlog
// and the claim + complete rate draining it, with one and two consumers.
func BenchmarkJobs(b *testing.B) {
	for _, engine := range testdb.Engines() {
		for _, opts := range []bench.JobsOptions{{Stream: true}, {Consumers: 1}, {Consumers: 2}} {
			name := fmt.Sprintf("%s/drain/consumers=%d", engine, opts.Consumers)
			if opts.Stream {
				name = engine + "/stream"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					db := testdb.MustOpen(b, engine)
					opts.Jobs = 20000
					res, err := bench.Jobs(context.Background(), db, opts)
					if err != nil {
						b.Fatal(err)
					}
					if !opts.Stream {
						b.ReportMetric(res.EnqueuePerSec, "enqueue-jobs/s")
					}
					b.ReportMetric(res.WorkPerSec, "jobs/s")
					b.Log("\n" + res.String())
				}
			})
		}
	}
}

// TestJobsBenchmarkRuns keeps the driver working without measuring.
func TestJobsBenchmarkRuns(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			for _, opts := range []bench.JobsOptions{{Jobs: 450, Consumers: 2}, {Jobs: 450, Stream: true}} {
				res, err := bench.Jobs(t.Context(), testdb.MustOpen(t, engine), opts)
				if err != nil {
					t.Fatal(err)
				}
				if res.Jobs != 450 || res.WorkPerSec <= 0 {
					t.Fatalf("result %+v", res)
				}
			}
		})
	}
}

// BenchmarkConsumer reports how fast one app.Jobs consumer embeds (with the
// built-in lexical embedder) and stores the vectors of 5,000 spores of
// ~1 KB that ingest wrote and queued, in batches of 100, on every
// configured engine. The tables are fresh: on PostgreSQL they have no
// planner statistics yet, the worst case of a first sync.
func BenchmarkConsumer(b *testing.B) {
	const n = 5000
	text := strings.Repeat("a spore records what an agent observed while working on the project ", 15)
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				db := testdb.MustOpen(b, engine)
				ctx := context.Background()
				for lo := 0; lo < n; lo += 100 {
					var recs []*hypha.Record
					for i := lo; i < lo+100; i++ {
						r, err := hypha.NewRecord(hypha.LookupTable("spores"), "bench", "m1", fmt.Sprintf("sp%06d", i),
							map[string]any{"project_id": "proj_0123456789abcdef0123456789abcdef", "content": fmt.Sprint(i, " ", text)})
						if err != nil {
							b.Fatal(err)
						}
						recs = append(recs, r)
					}
					err := db.InTx(ctx, func(tx hypha.Queries) error {
						if _, err := tx.UpsertRecords(ctx, recs); err != nil {
							return err
						}
						return tx.EnqueueJobs(ctx, app.EmbedJobs(recs))
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				jobs := app.NewJobs(db, search.NewHashEmbedder(0), nil, app.JobsOptions{})
				b.StartTimer()
				start := time.Now()
				// As the consumer loop does when it meets a backlog.
				if err := db.Analyze(ctx, []string{"jobs", "spores", "embeddings"}); err != nil {
					b.Fatal(err)
				}
				done := 0
				for {
					k, err := jobs.RunOnce(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if k == 0 {
						break
					}
					done += k
				}
				if done != n {
					b.Fatalf("consumed %d jobs of %d", done, n)
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
			}
		})
	}
}
