package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// runFlusher sends the grove's outbox until ctx ends: shortly after a local
// write (lingering so that writes arriving together leave together), at once
// while the outbox holds full batches, otherwise every FlushInterval, and
// after failures when the backoff or the server's Retry-After allows.
func (g *grove) runFlusher(ctx context.Context) {
	for {
		wait := g.flushOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-g.wake:
			t.Stop()
			// Linger briefly so that writes arriving together (a hook
			// capturing a session) leave in one batch, not one request each.
			if !sleepCtx(ctx, min(g.d.opts.FlushInterval/2, flushLinger)) {
				return
			}
		case <-t.C:
		}
	}
}

// flushLinger is how long a woken flusher waits for more local writes.
const flushLinger = 25 * time.Millisecond

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// flushOnce sends at most one batch and returns how long to wait before the
// next attempt (0: at once, after a full batch); a local write cuts a wait
// short.
func (g *grove) flushOnce(ctx context.Context) time.Duration {
	idle := g.d.opts.FlushInterval
	if ok, _ := g.schemaOK(); !ok && !g.checkSchema(ctx) {
		return idle
	}
	cfg, key := g.settings()
	if cfg.ServerURL == "" || key == "" {
		return idle
	}
	g.mu.Lock()
	paused := !g.protoPausedAt.IsZero()
	wait := time.Until(g.nextAttempt)
	limit := g.batchLimit
	g.mu.Unlock()
	if paused {
		return idle // a protocol mismatch keeps everything queued; the watcher resumes
	}
	if wait > 0 {
		return wait
	}
	rows, err := g.store.OutboxBatch(ctx, limit)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Error("read outbox", "err", err)
		}
		return idle
	}
	if len(rows) == 0 {
		return idle
	}
	recs := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		recs[i] = r.Payload
	}
	ans, err := g.remote(cfg).enqueue(ctx, key, g.store.MachineID(), recs)
	if err != nil {
		if ctx.Err() != nil {
			return 0 // stopping: the rows stay queued for the next start
		}
		return g.flushFailed(ctx, rows, err)
	}
	// Rejections name (table, id); everything else in the batch was
	// accepted, and the answer came after the server's commit.
	byKey := make(map[[2]string]int, len(rows))
	for i, r := range rows {
		byKey[[2]string{r.Table, r.RecordID}] = i
	}
	rejected := map[int]string{}
	for _, rj := range ans.Rejected {
		if i, ok := byKey[[2]string{rj.Table, rj.ID}]; ok {
			rejected[i] = rj.Error
		} else {
			g.log.Warn("the server rejected a record this batch did not carry", "table", rj.Table, "id", rj.ID, "error", rj.Error)
		}
	}
	var accepted []int64
	var refused []Rejected
	for i, r := range rows {
		if msg, ok := rejected[i]; ok {
			refused = append(refused, Rejected{Row: r, Error: msg})
			g.log.Warn("record rejected by the server; kept in rejections, not retried", "table", r.Table, "id", r.RecordID, "error", msg)
			continue
		}
		accepted = append(accepted, r.Seq)
	}
	if err := g.store.Settle(ctx, accepted, refused, true); err != nil {
		// The server has the records; sending them again is harmless
		// (the upsert is idempotent), losing them is not.
		g.log.Error("settle outbox after an accepted batch; the batch will be sent again", "err", err)
		return idle
	}
	g.mu.Lock()
	g.failures, g.nextAttempt, g.flushErr, g.authErr = 0, time.Time{}, nil, nil
	g.batchLimit = min(MaxBatch, g.batchLimit*2)
	g.mu.Unlock()
	g.log.Debug("flushed", "sent", len(rows), "accepted", len(accepted), "rejected", len(refused))
	if len(rows) < limit {
		// The outbox is drained up to the writes made while this batch
		// was in flight: let them gather (the next write wakes the
		// flusher, which lingers) rather than sending a few at once.
		return idle
	}
	return 0 // a full batch: the outbox may be deep, send the next at once
}

// flushFailed handles an /enqueue that did not answer 200. Nothing leaves
// the outbox, except a single record the server refuses to take at all.
func (g *grove) flushFailed(ctx context.Context, rows []OutboxRow, err error) time.Duration {
	state, status := failureState(err)
	var re *RemoteError
	errors.As(err, &re)
	if re != nil && (re.Status == http.StatusRequestEntityTooLarge || re.Status == http.StatusBadRequest) {
		if len(rows) > 1 {
			// Find the record the server cannot take: halve the batch.
			g.mu.Lock()
			g.batchLimit = max(1, len(rows)/2)
			g.mu.Unlock()
			g.log.Warn("the server refused a batch; sending smaller ones", "records", len(rows), "error", err.Error())
			return 0
		}
		if serr := g.store.Settle(ctx, nil, []Rejected{{Row: rows[0], Error: "refused by the server: " + err.Error()}}, false); serr != nil {
			g.log.Error("record a refused record", "err", serr)
			return g.d.opts.FlushInterval
		}
		g.log.Warn("record refused by the server; kept in rejections, not retried", "table", rows[0].Table, "id", rows[0].RecordID, "error", err.Error())
		return 0
	}
	if ferr := g.store.RecordFailure(ctx, "enqueue", status, err.Error()); ferr != nil && ctx.Err() == nil {
		g.log.Error("record a flush failure", "err", ferr)
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures++
	g.flushErr = &callError{state: state, msg: err.Error(), at: now}
	var wait time.Duration
	switch state {
	case StateProtocolPaused:
		g.pauseProtocolLocked("POST /enqueue: " + err.Error())
		wait = g.d.opts.FlushInterval
	case StateRateLimited, StateServerUnavailable:
		// Honour Retry-After; without one, back off as for any failure.
		wait = re.RetryAfter
		if wait <= 0 {
			wait = backoff(g.failures, g.d.opts.BackoffMax)
		}
		wait = min(wait, maxRetryAfter)
	case StateAuthFailed:
		g.authErr = g.flushErr
		wait = backoff(g.failures, g.d.opts.BackoffMax)
	default:
		wait = backoff(g.failures, g.d.opts.BackoffMax)
	}
	g.nextAttempt = now.Add(wait)
	if g.failures == 1 || g.failures%20 == 0 {
		g.log.Warn("flush failed; the outbox keeps every record", "records", len(rows), "state", state,
			"retry_in", wait.Round(time.Millisecond).String(), "failures", g.failures, "error", err.Error())
	}
	return wait
}

// pauseProtocolLocked stops flushing until a /health poll shows a protocol
// window that includes this daemon's version (checked again no sooner than
// ConnectInterval, as Myco's daemon caches its version probe).
func (g *grove) pauseProtocolLocked(reason string) {
	if g.protoPausedAt.IsZero() {
		g.log.Warn("paused: the team server does not accept this daemon's sync protocol; nothing is dropped", "reason", reason)
	}
	g.protoPausedAt, g.protoReason = time.Now(), reason
}
