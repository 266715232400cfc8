package bench_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hyphateam/hypha/bench"
	"github.com/hyphateam/hypha/internal/testdb"
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
