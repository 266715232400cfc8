package app_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testclock"

	"go.uber.org/goleak"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/search"
)

// flakyEmbedder is a fake of an outside embedding provider: it fails its
// first failFirst calls (all of them when failFirst < 0), and runs hook, if
// set, before each call.
type flakyEmbedder struct {
	inner     *search.HashEmbedder
	failFirst int64
	calls     atomic.Int64
	hook      func(ctx context.Context, text string) error
}

func (f *flakyEmbedder) Model() string { return f.inner.Model() }
func (f *flakyEmbedder) Dims() int     { return f.inner.Dims() }

func (f *flakyEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	n := f.calls.Add(1)
	if f.hook != nil {
		if err := f.hook(ctx, text); err != nil {
			return nil, err
		}
	}
	if f.failFirst < 0 || n <= f.failFirst {
		return nil, fmt.Errorf("provider unavailable (call %d)", n)
	}
	return f.inner.Embed(ctx, text)
}

// jobsEnv is a migrated store on a fixed clock with a consumer whose
// retries are due at once.
type jobsEnv struct {
	db    hypha.Store
	clock *testclock.Clock
	emb   *flakyEmbedder
	jobs  *app.Jobs
}

func forEachJobsEngine(t *testing.T, fn func(t *testing.T, e *jobsEnv)) {
	jobsEngines(t, true, fn)
}

// jobsEngines runs fn on every engine, in parallel or one after the other
// (tests that check for leaked goroutines must not overlap another test).
func jobsEngines(t *testing.T, parallel bool, fn func(t *testing.T, e *jobsEnv)) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			c := testclock.NewClock()
			db := testdb.Open(t, engine, c.Now)
			if _, err := db.Migrate(t.Context(), 0); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			e := &jobsEnv{db: db, clock: c, emb: &flakyEmbedder{inner: search.NewHashEmbedder(0)}}
			e.jobs = app.NewJobs(db, e.emb, nil, app.JobsOptions{Backoff: func(int) time.Duration { return 0 }})
			fn(t, e)
		})
	}
}

// record builds a record of the named table in grove g.
func (e *jobsEnv) record(t *testing.T, table, g, id string, data map[string]any) *hypha.Record {
	t.Helper()
	data["project_id"] = projA
	r, err := hypha.NewRecord(hypha.LookupTable(table), g, "m1", id, data)
	if err != nil {
		t.Fatalf("NewRecord: %v", err)
	}
	return r
}

// ingest writes records and enqueues the embed jobs of those written in
// one transaction, as /enqueue does.
func (e *jobsEnv) ingest(t *testing.T, recs ...*hypha.Record) []*hypha.Job {
	t.Helper()
	var jobs []*hypha.Job
	err := e.db.InTx(t.Context(), func(tx hypha.Queries) error {
		written, err := tx.UpsertRecords(t.Context(), recs)
		if err != nil {
			return err
		}
		var changed []*hypha.Record
		for i, r := range recs {
			if written[i] {
				changed = append(changed, r)
			}
		}
		jobs = app.EmbedJobs(changed)
		return tx.EnqueueJobs(t.Context(), jobs)
	})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return jobs
}

func (e *jobsEnv) runOnce(t *testing.T) int {
	t.Helper()
	n, err := e.jobs.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

// drain runs batches until none is due.
func (e *jobsEnv) drain(t *testing.T) {
	t.Helper()
	for range 1000 {
		if e.runOnce(t) == 0 {
			return
		}
	}
	t.Fatal("the queue never drained")
}

func (e *jobsEnv) stats(t *testing.T, g string) *app.QueueStats {
	t.Helper()
	st, err := e.jobs.Stats(t.Context(), g)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// wantVectorOf fails unless the stored vector of key is the embedding of text.
func (e *jobsEnv) wantVectorOf(t *testing.T, key hypha.RecordKey, text string) {
	t.Helper()
	got, err := e.db.FindEmbedding(t.Context(), key)
	if err != nil {
		t.Fatalf("FindEmbedding(%s/%s): %v", key.Table.Name, key.ID, err)
	}
	want, _ := search.NewHashEmbedder(0).Embed(t.Context(), search.TruncateForEmbedding(text))
	if got.Model != search.HashModel || len(got.Vector) != len(want) {
		t.Fatalf("embedding of %s: model %q, %d dims", key.ID, got.Model, len(got.Vector))
	}
	for i := range want {
		if math.Float32bits(got.Vector[i]) != math.Float32bits(want[i]) {
			t.Fatalf("embedding of %s is not the vector of %.30q", key.ID, text)
		}
	}
}

func (e *jobsEnv) wantNoVector(t *testing.T, key hypha.RecordKey) {
	t.Helper()
	if _, err := e.db.FindEmbedding(t.Context(), key); hypha.ErrorCode(err) != hypha.ENotFound {
		t.Fatalf("FindEmbedding(%s/%s) = %v, want not_found", key.Table.Name, key.ID, err)
	}
}

func TestJobs_EmbedJobsFollowsTheReference(t *testing.T) {
	mk := func(table string, data map[string]any) *hypha.Record {
		data["project_id"] = projA
		r, err := hypha.NewRecord(hypha.LookupTable(table), "g", "m1", "id1", data)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cases := []struct {
		name string
		rec  *hypha.Record
		want bool
	}{
		{"session_with_summary", mk("sessions", map[string]any{"summary": "did things"}), true},
		{"session_without_summary", mk("sessions", map[string]any{"title": "t"}), false},
		{"active_spore", mk("spores", map[string]any{"content": "x", "status": "active"}), true},
		{"spore_status_omitted_is_active_by_default", mk("spores", map[string]any{"content": "x"}), true},
		{"superseded_spore", mk("spores", map[string]any{"content": "x", "status": "superseded"}), false},
		{"plan", mk("plans", map[string]any{"content": "step 1"}), true},
		{"empty_plan", mk("plans", map[string]any{"content": ""}), false},
		{"artifact", mk("artifacts", map[string]any{"content": "a", "source_path": "p", "title": "t"}), true},
		{"skill_record", mk("skill_records", map[string]any{"description": "d"}), true},
		{"table_without_text", mk("entities", map[string]any{"name": "n"}), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			jobs := app.EmbedJobs([]*hypha.Record{c.rec})
			if got := len(jobs) == 1; got != c.want {
				t.Fatalf("EmbedJobs gave %d jobs, want embedded = %v", len(jobs), c.want)
			}
			if c.want {
				j := jobs[0]
				if j.Kind != hypha.JobEmbed || j.GroveID != "g" || j.Key != c.rec.Table.Name+":id1:m1" || j.RecordID != "id1" || j.MachineID != "m1" ||
					!strings.Contains(string(j.Payload), `"operation":"embed"`) {
					t.Fatalf("job = %+v (payload %s)", j, j.Payload)
				}
			}
		})
	}
}

func TestJobs_EmbedsWrittenRecords(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		long := strings.Repeat("mycelium ", 1200) // 10,800 characters: truncated
		recs := []*hypha.Record{
			e.record(t, "sessions", "g", "s1", map[string]any{"summary": "Fixed the flaky queue test"}),
			e.record(t, "spores", "g", "sp1", map[string]any{"content": long, "status": "active"}),
			e.record(t, "spores", "g", "sp2", map[string]any{"content": "old idea", "status": "superseded"}),
			e.record(t, "plans", "g", "p1", map[string]any{"content": ""}),
			e.record(t, "plans", "other", "p1", map[string]any{"content": "another grove's plan"}),
		}
		if jobs := e.ingest(t, recs...); len(jobs) != 3 {
			t.Fatalf("%d embed jobs, want 3", len(jobs))
		}
		if st := e.stats(t, "g"); st.Enqueued != 2 || st.Backlog() != 2 || st.Pending != 2 {
			t.Fatalf("before the consumer: %+v", st)
		}
		e.drain(t)
		e.wantVectorOf(t, recs[0].Key(), "Fixed the flaky queue test")
		e.wantVectorOf(t, recs[1].Key(), long)
		e.wantNoVector(t, recs[2].Key())
		e.wantNoVector(t, recs[3].Key())
		e.wantVectorOf(t, recs[4].Key(), "another grove's plan")
		st := e.stats(t, "g")
		want := hypha.SyncStats{Enqueued: 2, Processed: 2, EmbedOK: 2, LastRunAt: e.clock.Now().Unix(), LastEmbedAt: e.clock.Now().Unix()}
		if st.SyncStats != want || st.Backlog() != 0 || st.DeadLetters != 0 {
			t.Fatalf("after the consumer: %+v, want %+v and an empty queue", st, want)
		}
		if other := e.stats(t, "other"); other.Processed != 1 || other.EmbedOK != 1 {
			t.Fatalf("grove other: %+v", other)
		}
	})
}

func TestJobs_RetriesDeadLettersReplaysAndParks(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		var mu sync.Mutex
		var backoffs []int
		e.emb.failFirst = -1
		e.jobs = app.NewJobs(e.db, e.emb, nil, app.JobsOptions{Backoff: func(attempt int) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			backoffs = append(backoffs, attempt)
			return 30 * time.Second
		}})
		r := e.record(t, "spores", "g", "poison", map[string]any{"content": "always fails"})
		e.ingest(t, r)
		for round := 1; round <= 4; round++ {
			for attempt := 1; attempt <= 10; attempt++ {
				if n := e.runOnce(t); n != 1 {
					t.Fatalf("round %d attempt %d claimed %d jobs, want 1", round, attempt, n)
				}
				if attempt < 10 {
					// The retry waits for its backoff: nothing is due before.
					if n := e.runOnce(t); n != 0 {
						t.Fatalf("round %d: the retry ran before its backoff", round)
					}
					e.clock.Advance(30 * time.Second)
				}
			}
			d, err := e.db.FindDeadLetter(t.Context(), "g", "spores:poison:m1")
			if err != nil {
				t.Fatalf("round %d: FindDeadLetter: %v", round, err)
			}
			st := e.stats(t, "g")
			if round < 4 {
				if d.ReplayCount != int64(round) || d.Reason != "dead-lettered after max retries" || st.Backlog() != 1 || st.Failed != 0 {
					t.Fatalf("round %d: dead letter %+v, stats %+v; want a replay queued at once", round, d, st)
				}
				continue
			}
			if d.ReplayCount != 4 || d.Reason != "replay capped after 3 attempts" || d.Operation != "embed" || d.TableName != "spores" ||
				d.RowID != "poison" || d.MachineID != "m1" {
				t.Fatalf("parked dead letter = %+v", d)
			}
			if st.Backlog() != 0 || st.DeadLetters != 1 || st.Failed != 1 || st.EmbedFailed != 40 || st.Processed != 4 || st.Enqueued != 4 ||
				!strings.Contains(st.LastError, "replay capped") || !strings.Contains(st.LastEmbedError, "provider unavailable") {
				t.Fatalf("stats after parking: %+v", st)
			}
		}
		if got := e.emb.calls.Load(); got != 40 {
			t.Fatalf("the embedder was called %d times, want 4 rounds × 10 attempts", got)
		}
		mu.Lock()
		if len(backoffs) != 36 || backoffs[0] != 1 || backoffs[8] != 9 || backoffs[9] != 1 {
			t.Fatalf("backoff asked for attempts %v, want 1…9 per round", backoffs)
		}
		mu.Unlock()
		if n := e.runOnce(t); n != 0 {
			t.Fatalf("a parked job still ran")
		}

		// The operator retries it once the provider is back.
		e.emb.failFirst = 0
		n, err := e.jobs.RetryDeadLetters(t.Context(), "g", []string{"spores:poison:m1", "spores:unknown:m1"})
		if err != nil || n != 1 {
			t.Fatalf("RetryDeadLetters = %d, %v; want 1", n, err)
		}
		e.drain(t)
		e.wantVectorOf(t, r.Key(), "always fails")
		if st := e.stats(t, "g"); st.DeadLetters != 0 || st.Backlog() != 0 || st.Enqueued != 5 {
			t.Fatalf("after the retry: %+v", st)
		}
	})
}

func TestJobs_SuccessAfterAReplayDeletesTheDeadLetter(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		e.emb.failFirst = 10
		r := e.record(t, "plans", "g", "p1", map[string]any{"content": "flaky"})
		e.ingest(t, r)
		for range 10 {
			e.runOnce(t)
		}
		if st := e.stats(t, "g"); st.DeadLetters != 1 || st.Backlog() != 1 {
			t.Fatalf("after one round: %+v, want a dead letter and its replay", st)
		}
		e.drain(t)
		e.wantVectorOf(t, r.Key(), "flaky")
		if st := e.stats(t, "g"); st.DeadLetters != 0 || st.Failed != 0 || st.EmbedFailed != 10 || st.EmbedOK != 1 {
			t.Fatalf("after success: %+v", st)
		}
	})
}

func TestJobs_UpdateDuringEmbeddingIsEmbeddedAgain(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		var once sync.Once
		e.emb.hook = func(ctx context.Context, text string) error {
			// An ingest of newer text commits while the old one is embedded.
			once.Do(func() { e.ingest(t, e.record(t, "sessions", "g", "s1", map[string]any{"summary": "new summary"})) })
			return nil
		}
		r := e.record(t, "sessions", "g", "s1", map[string]any{"summary": "old summary"})
		e.ingest(t, r)
		if n := e.runOnce(t); n != 1 {
			t.Fatalf("claimed %d", n)
		}
		e.wantVectorOf(t, r.Key(), "old summary")
		if st := e.stats(t, "g"); st.Backlog() != 1 {
			t.Fatalf("the newer generation was dropped: %+v", st)
		}
		e.drain(t)
		e.wantVectorOf(t, r.Key(), "new summary")
	})
}

func TestJobs_DeletedRecordCompletesWithoutEmbedding(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		r := e.record(t, "spores", "g", "sp1", map[string]any{"content": "soon gone"})
		e.ingest(t, r)
		if _, err := e.db.DeleteRecords(t.Context(), []hypha.RecordKey{r.Key()}); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		if e.emb.calls.Load() != 0 {
			t.Fatal("a deleted record was embedded")
		}
		e.wantNoVector(t, r.Key())
		if st := e.stats(t, "g"); st.Backlog() != 0 || st.Processed != 1 || st.EmbedOK != 0 {
			t.Fatalf("stats: %+v", st)
		}
	})
}

func TestJobs_NotEmbeddableAnyMoreDropsTheVector(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		sp := e.record(t, "spores", "g", "sp1", map[string]any{"content": "an idea", "status": "active"})
		plan := e.record(t, "plans", "g", "p1", map[string]any{"content": "a plan"})
		e.ingest(t, sp, plan)
		e.drain(t)
		e.wantVectorOf(t, sp.Key(), "an idea")
		// The spore is superseded and the plan emptied; their jobs (queued
		// explicitly, as an embed operation would) drop the vectors.
		e.ingest(t, e.record(t, "spores", "g", "sp1", map[string]any{"content": "an idea", "status": "superseded"}),
			e.record(t, "plans", "g", "p1", map[string]any{"content": ""}))
		if err := e.db.EnqueueJobs(t.Context(), []*hypha.Job{app.EmbedJob(sp.Key()), app.EmbedJob(plan.Key())}); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		e.wantNoVector(t, sp.Key())
		e.wantNoVector(t, plan.Key())
	})
}

func TestJobs_UnchangedTextIsNotEmbeddedAgain(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		e.ingest(t, e.record(t, "sessions", "g", "s1", map[string]any{"summary": "same", "prompt_count": 1}))
		e.drain(t)
		e.ingest(t, e.record(t, "sessions", "g", "s1", map[string]any{"summary": "same", "prompt_count": 2}))
		e.drain(t)
		if n := e.emb.calls.Load(); n != 1 {
			t.Fatalf("the embedder ran %d times for one unchanged text", n)
		}
		if st := e.stats(t, "g"); st.Processed != 2 || st.Backlog() != 0 {
			t.Fatalf("stats: %+v", st)
		}
	})
}

func TestJobs_DeadLettersStayInTheirGrove(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		e.emb.failFirst = -1
		e.jobs = app.NewJobs(e.db, e.emb, nil, app.JobsOptions{MaxAttempts: 1, MaxReplays: 1, Backoff: func(int) time.Duration { return 0 }})
		for _, g := range []string{"g1", "g2"} {
			e.ingest(t, e.record(t, "spores", g, "sp1", map[string]any{"content": "x"}))
		}
		e.drain(t)
		for _, g := range []string{"g1", "g2"} {
			if ds, err := e.jobs.DeadLetters(t.Context(), g, 0); err != nil || len(ds) != 1 || ds[0].GroveID != g || ds[0].ReplayCount != 2 {
				t.Fatalf("DeadLetters(%s) = %v, %v", g, ds, err)
			}
		}
		if n, err := e.jobs.DiscardDeadLetters(t.Context(), "g1", []string{"spores:sp1:m1", "spores:sp1:m1"}); err != nil || n != 1 {
			t.Fatalf("DiscardDeadLetters = %d, %v; want 1", n, err)
		}
		if n, err := e.jobs.RetryDeadLetters(t.Context(), "g1", []string{"spores:sp1:m1"}); err != nil || n != 0 {
			t.Fatalf("RetryDeadLetters after discard = %d, %v; want 0", n, err)
		}
		if st := e.stats(t, "g2"); st.DeadLetters != 1 || st.Backlog() != 0 {
			t.Fatalf("grove g2 was touched: %+v", st)
		}
	})
}

func TestJobs_StartNotifyStop(t *testing.T) {
	jobsEngines(t, false, func(t *testing.T, e *jobsEnv) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		// Without Notify, nothing would run for an hour after the first poll.
		e.jobs = app.NewJobs(e.db, e.emb, nil, app.JobsOptions{PollInterval: time.Hour})
		e.jobs.Start(t.Context())
		defer e.jobs.Stop()
		r := e.record(t, "sessions", "g", "s1", map[string]any{"summary": "woken up"})
		e.ingest(t, r)
		e.jobs.Notify()
		waitFor(t, func() bool { _, err := e.db.FindEmbedding(t.Context(), r.Key()); return err == nil })
		e.jobs.Stop()
		e.jobs.Stop() // a second Stop is harmless
	})
}

func TestJobs_StopReleasesTheBatchInFlight(t *testing.T) {
	jobsEngines(t, false, func(t *testing.T, e *jobsEnv) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		started := make(chan struct{})
		var once sync.Once
		e.emb.hook = func(ctx context.Context, _ string) error {
			once.Do(func() { close(started) })
			<-ctx.Done() // a provider that hangs until shutdown
			return ctx.Err()
		}
		e.jobs = app.NewJobs(e.db, e.emb, nil, app.JobsOptions{})
		e.ingest(t, e.record(t, "sessions", "g", "s1", map[string]any{"summary": "slow"}))
		e.jobs.Start(t.Context())
		<-started
		e.jobs.Stop()
		st := e.stats(t, "g")
		if st.Pending != 1 || st.Leased != 0 || st.EmbedFailed != 0 || st.Processed != 0 {
			t.Fatalf("after Stop: %+v, want the job released, not counted as failed", st)
		}
	})
}

func TestJobs_NoEmbedder(t *testing.T) {
	db := testdb.MustOpen(t, "sqlite")
	if _, err := app.NewJobs(db, nil, nil, app.JobsOptions{}).RunOnce(t.Context()); err == nil {
		t.Fatal("RunOnce without an embedder succeeded")
	}
}

func TestDefaultBackoff(t *testing.T) {
	for attempt, want := range map[int][2]time.Duration{
		1: {500 * time.Millisecond, time.Second}, 2: {time.Second, 2 * time.Second}, 4: {4 * time.Second, 8 * time.Second},
		9: {128 * time.Second, 256 * time.Second}, 10: {150 * time.Second, 300 * time.Second}, 40: {150 * time.Second, 300 * time.Second},
	} {
		for range 50 {
			if d := app.DefaultBackoff(attempt); d < want[0] || d > want[1] {
				t.Fatalf("DefaultBackoff(%d) = %v, want within %v", attempt, d, want)
			}
		}
	}
}

// waitFor polls cond until it holds; it fails only when the condition never
// comes true within a generous bound, never on how long it took.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
