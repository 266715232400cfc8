package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
)

// JobsOptions configures the queue benchmark.
type JobsOptions struct {
	Jobs      int // jobs enqueued and then worked (default 20,000)
	Batch     int // jobs per enqueue, claim and complete (default 100, as the consumer)
	Consumers int // goroutines claiming at once (default 1)
	// Stream interleaves the work with the enqueues (enqueue a batch,
	// claim and complete a batch), as a consumer keeping up with ingest
	// does, instead of draining a backlog of Jobs.
	Stream bool
}

// JobsResult holds the measured rates of the durable queue.
type JobsResult struct {
	Engine                 string
	Jobs, Batch, Consumers int
	Stream                 bool
	EnqueuePerSec          float64 // EnqueueJobs, one transaction per batch (backlog mode)
	WorkPerSec             float64 // ClaimJobs + CompleteJobs, two transactions per batch (stream mode: plus the enqueue)
	EnqueueElapsed         time.Duration
	WorkElapsed            time.Duration
}

// Jobs measures the queue's own overhead, with no work between claim and
// complete: either enqueueing a backlog of embed jobs in batches and then
// draining it with Consumers claiming at once, or (Stream) enqueueing,
// claiming and completing one batch after the other. db must be a migrated,
// empty scratch database.
// River's SQLite driver works 100–170 jobs/s on the same machine; this is
// the figure the table-backed queue replaces.
func Jobs(ctx context.Context, db hypha.Store, opts JobsOptions) (*JobsResult, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = 20000
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.Consumers <= 0 {
		opts.Consumers = 1
	}
	res := &JobsResult{Engine: db.Engine(), Jobs: opts.Jobs, Batch: opts.Batch, Consumers: opts.Consumers, Stream: opts.Stream}
	if opts.Stream {
		start := time.Now()
		for lo := 0; lo < opts.Jobs; lo += opts.Batch {
			if err := db.EnqueueJobs(ctx, benchJobs(lo, min(lo+opts.Batch, opts.Jobs))); err != nil {
				return nil, err
			}
			jobs, err := db.ClaimJobs(ctx, hypha.JobEmbed, opts.Batch, time.Minute)
			if err != nil {
				return nil, err
			}
			if err := db.CompleteJobs(ctx, jobs); err != nil {
				return nil, err
			}
		}
		res.WorkElapsed = time.Since(start)
		res.WorkPerSec = float64(opts.Jobs) / res.WorkElapsed.Seconds()
		return res, nil
	}
	start := time.Now()
	for lo := 0; lo < opts.Jobs; lo += opts.Batch {
		if err := db.EnqueueJobs(ctx, benchJobs(lo, min(lo+opts.Batch, opts.Jobs))); err != nil {
			return nil, err
		}
	}
	res.EnqueueElapsed = time.Since(start)
	res.EnqueuePerSec = float64(opts.Jobs) / res.EnqueueElapsed.Seconds()

	// The consumer loop refreshes planner statistics when it meets a
	// backlog (app.Jobs); do the same so this measures the queue as served.
	start = time.Now()
	if err := db.Analyze(ctx, []string{"jobs"}); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	done := 0
	errc := make(chan error, opts.Consumers)
	var wg sync.WaitGroup
	for range opts.Consumers {
		wg.Go(func() {
			for {
				jobs, err := db.ClaimJobs(ctx, hypha.JobEmbed, opts.Batch, time.Minute)
				if err != nil {
					errc <- err
					return
				}
				if len(jobs) == 0 {
					return
				}
				if err := db.CompleteJobs(ctx, jobs); err != nil {
					errc <- err
					return
				}
				mu.Lock()
				done += len(jobs)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	res.WorkElapsed = time.Since(start)
	if done != opts.Jobs {
		return nil, fmt.Errorf("worked %d jobs of %d", done, opts.Jobs)
	}
	res.WorkPerSec = float64(opts.Jobs) / res.WorkElapsed.Seconds()
	return res, nil
}

// benchJobs returns the embed jobs of spores lo to hi-1 of one grove.
func benchJobs(lo, hi int) []*hypha.Job {
	jobs := make([]*hypha.Job, 0, hi-lo)
	for i := lo; i < hi; i++ {
		id := fmt.Sprintf("sp%07d", i)
		jobs = append(jobs, &hypha.Job{Kind: hypha.JobEmbed, GroveID: "bench", Key: hypha.LeaseID("spores", id, "m1"),
			TableName: "spores", MachineID: "m1", RecordID: id,
			Payload: fmt.Appendf(nil, `{"table":"spores","operation":"embed","id":%q,"machine_id":"m1","data":{}}`, id)})
	}
	return jobs
}

// String renders the result as the lines BENCHMARKS.md quotes.
func (r *JobsResult) String() string {
	if r.Stream {
		return fmt.Sprintf("engine=%s jobs=%d batch=%d stream\n  enqueue + claim + complete: %9.0f jobs/s (%s)\n",
			r.Engine, r.Jobs, r.Batch, r.WorkPerSec, r.WorkElapsed.Round(time.Millisecond))
	}
	return fmt.Sprintf("engine=%s jobs=%d batch=%d consumers=%d\n  enqueue:          %9.0f jobs/s (%s)\n  claim + complete: %9.0f jobs/s (%s)\n",
		r.Engine, r.Jobs, r.Batch, r.Consumers, r.EnqueuePerSec, r.EnqueueElapsed.Round(time.Millisecond),
		r.WorkPerSec, r.WorkElapsed.Round(time.Millisecond))
}
