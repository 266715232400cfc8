package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// Defaults of the job consumer (reference §8 and §11).
const (
	DefaultJobBatch     = 100                    // jobs claimed and acknowledged per transaction
	DefaultJobPoll      = 300 * time.Millisecond // idle poll when nobody calls Notify
	DefaultJobLease     = 2 * time.Minute        // a crashed consumer's jobs run again after this
	DefaultMaxAttempts  = 10                     // attempts per round before a dead letter
	DefaultMaxReplays   = 3                      // MAX_DLQ_REPLAYS: rounds replayed before a record is parked
	DefaultMaxBackoff   = 5 * time.Minute
	maxIdleAfterFailure = 30 * time.Second
)

// Dead-letter reasons, as the Myco worker words them.
const (
	ReasonMaxRetries = "dead-lettered after max retries"
	reasonCapped     = "replay capped after %d attempts"
)

// JobsOptions tunes the consumer; zero values take the defaults. Tests
// inject a backoff of zero and a clock to run retries without waiting.
type JobsOptions struct {
	Batch        int           // jobs per claim, DefaultJobBatch
	PollInterval time.Duration // DefaultJobPoll
	Lease        time.Duration // DefaultJobLease
	MaxAttempts  int           // DefaultMaxAttempts
	MaxReplays   int           // DefaultMaxReplays
	// Backoff is the delay before attempt+1 after attempt failed
	// (attempt ≥ 1); DefaultBackoff when nil.
	Backoff func(attempt int) time.Duration
	// Clock dates retries and statistics; the store's clock when nil. It
	// must agree with the store's, which decides when a job is due.
	Clock func() time.Time
	// Indexed, when set, is called after a batch that changed the search
	// index committed, so this server's vector index catches up at once.
	Indexed func()
	// Ready, when set, pauses the consumer while it returns false (for
	// example while the schema is behind and the jobs table may not exist).
	Ready func() bool
	// Busy, when set, reports that ingest requests are in flight. The
	// consumer then defers its next batch (up to MaxDefer), so on a small
	// machine the answer a daemon waits for is not slowed by indexing work
	// that can run a moment later.
	Busy     func() bool
	MaxDefer time.Duration // default 1 s
}

// DefaultBackoff waits 1 s × 2^(attempt-1), at most DefaultMaxBackoff,
// with "equal jitter": half of it fixed, half random, so retries of a batch
// that failed together spread out.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 20)
	d = min(d, DefaultMaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Jobs runs the durable queue of asynchronous work: it claims embed jobs in
// batches, embeds each record's text one row at a time, and acknowledges
// the batch in one transaction with the vectors and the statistics.
// Failures are retried with backoff, then dead-lettered and replayed up to
// MaxReplays times before they are parked for the operator (reference §8.3).
type Jobs struct {
	store    hypha.Store
	embedder hypha.Embedder
	log      *slog.Logger
	opts     JobsOptions

	wake chan struct{}
	// The loop's own state: planner statistics refreshed for this backlog.
	analyzed     bool
	sinceAnalyze int
	mu           sync.Mutex
	cancel       context.CancelFunc
	done         chan struct{}
}

// NewJobs returns a consumer over store. embedder may be nil for a Jobs
// that only serves the queue's statistics and dead letters.
func NewJobs(store hypha.Store, embedder hypha.Embedder, logger *slog.Logger, opts JobsOptions) *Jobs {
	if opts.Batch <= 0 {
		opts.Batch = DefaultJobBatch
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultJobPoll
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultJobLease
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxReplays <= 0 {
		opts.MaxReplays = DefaultMaxReplays
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Clock == nil {
		opts.Clock = store.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Jobs{store: store, embedder: embedder, log: logger, opts: opts, wake: make(chan struct{}, 1)}
}

// EmbedJobs returns the embed jobs (see EmbedJob) of the records that have
// text to embed, decided as the reference does (§6.2): a non-empty text
// column and, for spores, status "active". Ingest calls it with the records
// it wrote and enqueues the jobs in the same transaction.
func EmbedJobs(recs []*hypha.Record) []*hypha.Job {
	var out []*hypha.Job
	for _, r := range recs {
		if r.Embeddable() {
			out = append(out, EmbedJob(r.Key()))
		}
	}
	return out
}

// Notify wakes the consumer at once, after an ingest committed jobs.
func (j *Jobs) Notify() {
	if j == nil {
		return
	}
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// Start runs the consumer in the background until Stop or until ctx ends.
func (j *Jobs) Start(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cancel != nil {
		return
	}
	ctx, j.cancel = context.WithCancel(ctx)
	j.done = make(chan struct{})
	go j.loop(ctx)
}

// Stop ends the consumer and waits for it. The batch in flight is
// abandoned and its jobs released, so they run again at the next start.
func (j *Jobs) Stop() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cancel == nil {
		return
	}
	j.cancel()
	<-j.done
}

func (j *Jobs) loop(ctx context.Context) {
	defer close(j.done)
	timer := time.NewTimer(j.opts.PollInterval)
	defer timer.Stop()
	failures := 0
	for {
		n := 0
		if j.opts.Ready == nil || j.opts.Ready() {
			j.deferWhileBusy(ctx)
			var err error
			n, err = j.RunOnce(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				failures++
				j.log.Error("job queue: batch failed; retrying", "err", err, "consecutive_failures", failures)
			default:
				failures = 0
			}
		}
		if n >= j.opts.Batch {
			j.analyzeBacklog(ctx, n)
			continue // a full batch: more is probably waiting
		}
		wait := j.opts.PollInterval
		if failures > 0 {
			wait = min(j.opts.PollInterval<<min(failures, 10), maxIdleAfterFailure)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-j.wake:
		case <-timer.C:
		}
		timer.Stop() // since Go 1.23 a stopped timer delivers no stale tick
	}
}

// analyzeEvery is how many jobs a consumer works through a backlog between
// two refreshes of the planner statistics of the tables it reads.
const analyzeEvery = 50_000

// analyzeBacklog refreshes planner statistics at the start of a backlog and
// every analyzeEvery jobs of it: PostgreSQL plans a queue it has no
// statistics for as if it were empty, and each claim and acknowledgement
// then scans the whole backlog (SQLite's Analyze is a no-op).
func (j *Jobs) analyzeBacklog(ctx context.Context, n int) {
	j.sinceAnalyze += n
	if j.analyzed && j.sinceAnalyze < analyzeEvery {
		return
	}
	j.analyzed, j.sinceAnalyze = true, 0
	tables := []string{"jobs", "embeddings", "search_docs"}
	for _, t := range hypha.SyncedTables {
		if t.TextColumn != "" {
			tables = append(tables, t.Name) // the consumer reads the records it embeds
		}
	}
	if err := j.store.Analyze(ctx, tables); err != nil && ctx.Err() == nil {
		j.log.Warn("job queue: refresh planner statistics", "err", err)
	}
}

// deferWhileBusy waits while ingest is in flight, at most MaxDefer.
func (j *Jobs) deferWhileBusy(ctx context.Context) {
	if j.opts.Busy == nil {
		return
	}
	limit := j.opts.MaxDefer
	if limit <= 0 {
		limit = time.Second
	}
	deadline := time.Now().Add(limit)
	for j.opts.Busy() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// outcome is what one claimed job came to.
type outcome struct {
	job  *hypha.Job
	emb  *hypha.Embedding // embedded
	doc  *hypha.SearchDoc // the record's search document, written whatever the vector's fate
	drop bool             // record gone or nothing to embed: remove its document and vector
	err  error            // failed: retry or dead-letter
	todo *pendingEmbed    // text still to embed (between decide and embed)
}

// RunOnce claims at most one batch, works it and acknowledges it. It
// returns how many jobs it claimed.
func (j *Jobs) RunOnce(ctx context.Context) (int, error) {
	if j.embedder == nil {
		return 0, errors.New("job queue: no embedder configured")
	}
	jobs, err := j.store.ClaimJobs(ctx, hypha.JobEmbed, j.opts.Batch, j.opts.Lease)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	outs := j.work(ctx, jobs)
	if ctx.Err() != nil {
		j.release(jobs)
		return 0, ctx.Err()
	}
	if err := j.finish(ctx, outs); err != nil {
		if ctx.Err() != nil {
			j.release(jobs)
		}
		return 0, fmt.Errorf("acknowledge %d jobs: %w", len(jobs), err)
	}
	return len(jobs), nil
}

// batchRead is what work reads of a batch in two statements per table,
// grove and machine instead of two per job.
type batchRead struct {
	recs map[string]*hypha.Record
	embs map[string]*hypha.Embedding
	err  error // reading the records failed: every job is retried
}

func recordKeyString(k hypha.RecordKey) string {
	return k.GroveID + "\x00" + k.Table.Name + "\x00" + k.MachineID + "\x00" + k.ID
}

// jobKey returns the record key of an embed job; ok is false for a table
// without text (an embed of it is acknowledged without action, as on the
// worker, §5.5).
func jobKey(job *hypha.Job) (hypha.RecordKey, bool) {
	t := hypha.LookupTable(job.TableName)
	if t == nil || t.TextColumn == "" {
		return hypha.RecordKey{}, false
	}
	return hypha.RecordKey{Table: t, GroveID: job.GroveID, MachineID: job.MachineID, ID: job.RecordID}, true
}

// work reads the batch's records and embeds their texts (see embed); it
// writes nothing.
func (j *Jobs) work(ctx context.Context, jobs []*hypha.Job) []outcome {
	var keys []hypha.RecordKey
	for _, job := range jobs {
		if k, ok := jobKey(job); ok {
			keys = append(keys, k)
		}
	}
	rd := batchRead{recs: map[string]*hypha.Record{}, embs: map[string]*hypha.Embedding{}}
	if len(keys) > 0 {
		recs, err := j.store.FindRecords(ctx, keys)
		for _, r := range recs {
			rd.recs[recordKeyString(r.Key())] = r
		}
		rd.err = err
		// The stored vectors only let unchanged texts skip the embedder;
		// without them every text is embedded.
		embs, _ := j.store.FindEmbeddings(ctx, keys)
		for _, e := range embs {
			rd.embs[recordKeyString(e.Key)] = e
		}
	}
	outs := make([]outcome, len(jobs))
	var todo []int
	for i, job := range jobs {
		outs[i] = j.decide(job, &rd)
		if outs[i].todo != nil {
			todo = append(todo, i)
		}
	}
	j.embed(ctx, outs, todo)
	return outs
}

// decide settles one job from what was read, or leaves its text to embed.
func (j *Jobs) decide(job *hypha.Job, rd *batchRead) outcome {
	key, ok := jobKey(job)
	if !ok {
		return outcome{job: job}
	}
	if rd.err != nil {
		return outcome{job: job, err: fmt.Errorf("read records: %w", rd.err)}
	}
	rec := rd.recs[recordKeyString(key)]
	switch {
	case rec == nil:
		return outcome{job: job, drop: true} // deleted meanwhile
	case !rec.Embeddable():
		return outcome{job: job, drop: true} // inactive spore or emptied text
	}
	doc := hypha.NewSearchDoc(rec)
	text := search.TruncateForEmbedding(rec.Text())
	sum := sha256.Sum256([]byte(text))
	hash := hex.EncodeToString(sum[:])
	// The same text embedded by the same model needs no new vector (a
	// session whose counters changed but whose summary did not); its
	// document is still rewritten, as its metadata may have changed.
	if e := rd.embs[recordKeyString(key)]; e != nil && e.Model == j.embedder.Model() && e.ContentHash == hash &&
		len(e.Vector) == j.embedder.Dims() {
		return outcome{job: job, doc: doc}
	}
	return outcome{job: job, doc: doc, todo: &pendingEmbed{key: key, text: text, hash: hash}}
}

// embedError marks a failure of the embedder itself, counted in
// embed_failed.
type embedError struct{ err error }

func (e *embedError) Error() string { return "embed: " + e.err.Error() }
func (e *embedError) Unwrap() error { return e.err }

// finish acknowledges a worked batch in one transaction: vectors, completed
// jobs, retries, dead letters and statistics commit together.
func (j *Jobs) finish(ctx context.Context, outs []outcome) error {
	now := j.opts.Clock()
	var drops []hypha.RecordKey
	var embs []*hypha.Embedding
	var docs []*hypha.SearchDoc
	var done, failed []*hypha.Job
	stats := map[string]*hypha.SyncStats{}
	statsOf := func(grove string) *hypha.SyncStats {
		s := stats[grove]
		if s == nil {
			s = &hypha.SyncStats{LastRunAt: now.Unix()}
			stats[grove] = s
		}
		return s
	}
	failErrs := map[*hypha.Job]error{}
	for _, o := range outs {
		st := statsOf(o.job.GroveID)
		if o.doc != nil {
			// Keyword search needs no vector: a record whose embedding
			// failed is still found by its words.
			docs = append(docs, o.doc)
		}
		switch {
		case o.err != nil:
			failed = append(failed, o.job)
			failErrs[o.job] = o.err
			var ee *embedError
			if errors.As(o.err, &ee) {
				st.EmbedFailed++
				st.LastEmbedError = o.job.Key + ": " + ee.err.Error()
				st.LastEmbedAt = now.Unix()
			}
		case o.emb != nil:
			embs = append(embs, o.emb)
			done = append(done, o.job)
			st.EmbedOK++
			st.LastEmbedAt = now.Unix()
		default:
			if o.drop {
				key := hypha.RecordKey{Table: hypha.LookupTable(o.job.TableName), GroveID: o.job.GroveID, MachineID: o.job.MachineID, ID: o.job.RecordID}
				drops = append(drops, key)
			}
			done = append(done, o.job)
		}
	}
	for _, job := range done {
		statsOf(job.GroveID).Processed++
	}
	// Rows are written in key order, as every writer does, so this
	// transaction cannot deadlock with an ingest on PostgreSQL.
	sort.Slice(drops, func(a, b int) bool { return keyLess(drops[a], drops[b]) })
	sort.Slice(failed, func(a, b int) bool {
		x, y := failed[a], failed[b]
		return x.GroveID < y.GroveID || x.GroveID == y.GroveID && x.Key < y.Key
	})
	groves := make([]string, 0, len(stats))
	for g := range stats {
		groves = append(groves, g)
	}
	sort.Strings(groves)
	ack := func(tx hypha.Queries) error {
		// fail adds to the statistics: work on a copy, so a retried
		// transaction counts once.
		delta := make(map[string]*hypha.SyncStats, len(stats))
		for g, st := range stats {
			c := *st
			delta[g] = &c
		}
		if len(drops) > 0 {
			if err := tx.RemoveSearchDocs(ctx, drops); err != nil {
				return err
			}
		}
		// Documents before vectors: every writer of the search tables
		// takes the search sequence's row lock first, so on PostgreSQL
		// they all lock in one order and cannot deadlock.
		if len(docs) > 0 {
			if err := tx.PutSearchDocs(ctx, docs); err != nil {
				return err
			}
		}
		if len(embs) > 0 {
			if err := tx.PutEmbeddings(ctx, embs); err != nil {
				return err
			}
		}
		if len(done) > 0 {
			if err := tx.CompleteJobs(ctx, done); err != nil {
				return err
			}
			// A job that succeeds heals its record: its dead letter, left
			// by an earlier round, goes.
			byGrove := leaseIDsByGrove(done)
			groves := make([]string, 0, len(byGrove))
			for g := range byGrove {
				groves = append(groves, g)
			}
			sort.Strings(groves)
			for _, g := range groves {
				if _, err := tx.DeleteDeadLetters(ctx, g, byGrove[g]); err != nil {
					return err
				}
			}
		}
		for _, job := range failed {
			if err := j.fail(ctx, tx, job, failErrs[job], now, delta[job.GroveID]); err != nil {
				return err
			}
		}
		for _, g := range groves {
			if err := tx.AddSyncStats(ctx, g, *delta[g]); err != nil {
				return err
			}
		}
		return nil
	}
	err := j.store.InTx(ctx, ack)
	if hypha.ErrorCode(err) == hypha.EUnavailable && ctx.Err() == nil {
		// A deadlock or serialization failure chose this transaction on
		// PostgreSQL, or the database blinked: try once more rather than
		// leave the batch to its lease.
		err = j.store.InTx(ctx, ack)
	}
	if err == nil && (len(drops) > 0 || len(docs) > 0) && j.opts.Indexed != nil {
		j.opts.Indexed()
	}
	return err
}

// fail retries a failed job with backoff or, once it used its attempts,
// dead-letters it: replayed at once while the dead letter's replay count
// is within MaxReplays, parked for the operator after that.
func (j *Jobs) fail(ctx context.Context, tx hypha.Queries, job *hypha.Job, cause error, now time.Time, st *hypha.SyncStats) error {
	msg := cause.Error()
	if job.Attempts < j.opts.MaxAttempts {
		runAt := now.Add(j.opts.Backoff(job.Attempts)).Unix()
		return tx.RetryJob(ctx, job, runAt, msg)
	}
	var prev int64
	switch d, err := tx.FindDeadLetter(ctx, job.GroveID, job.Key); {
	case err == nil:
		prev = d.ReplayCount
	case hypha.ErrorCode(err) != hypha.ENotFound:
		return err
	}
	replay := prev+1 <= int64(j.opts.MaxReplays)
	reason := ReasonMaxRetries
	if !replay {
		reason = fmt.Sprintf(reasonCapped, j.opts.MaxReplays)
	}
	d, err := tx.DeadLetterJob(ctx, job, reason)
	if hypha.ErrorCode(err) == hypha.EConflict {
		// Enqueued again while it failed: the new content gets a fresh
		// round of attempts.
		return tx.RetryJob(ctx, job, now.Unix(), msg)
	}
	if err != nil {
		return err
	}
	st.Processed++
	if replay {
		j.log.Warn("job dead-lettered after max retries; replaying it", "grove", job.GroveID, "lease_id", job.Key,
			"replay", d.ReplayCount, "max_replays", j.opts.MaxReplays, "err", msg)
		return tx.EnqueueJobs(ctx, []*hypha.Job{d.Job()})
	}
	st.Failed++
	st.LastError = job.Key + ": " + reason + ": " + msg
	j.log.Error("job parked in the dead-letter queue; retry it with POST /dlq/retry", "grove", job.GroveID, "lease_id", job.Key,
		"replays", d.ReplayCount, "err", msg)
	return nil
}

// release gives claimed jobs back after an interrupted batch, so they run
// again without waiting for their lease to expire.
func (j *Jobs) release(jobs []*hypha.Job) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := j.opts.Clock().Unix()
	err := j.store.InTx(ctx, func(tx hypha.Queries) error {
		for _, job := range jobs {
			if err := tx.RetryJob(ctx, job, now, "interrupted by shutdown"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		j.log.Warn("job queue: could not release claimed jobs; they run again when their lease expires", "jobs", len(jobs), "err", err)
	}
}

func leaseIDsByGrove(jobs []*hypha.Job) map[string][]string {
	out := map[string][]string{}
	for _, job := range jobs {
		out[job.GroveID] = append(out[job.GroveID], job.Key)
	}
	return out
}

func keyLess(a, b hypha.RecordKey) bool {
	if a.GroveID != b.GroveID {
		return a.GroveID < b.GroveID
	}
	if a.Table.Name != b.Table.Name {
		return a.Table.Name < b.Table.Name
	}
	if a.MachineID != b.MachineID {
		return a.MachineID < b.MachineID
	}
	return a.ID < b.ID
}
