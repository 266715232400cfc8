package app

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// Defaults of the search indexes' catch-up loop.
const (
	DefaultIndexPoll       = time.Second    // how often other servers' changes are looked for
	DefaultTombstoneMaxAge = 24 * time.Hour // tombstones older than this are pruned
	tombstonePruneEvery    = 10 * time.Minute
)

// SearchIndex keeps this server's in-memory search indexes, the vector
// index (search.Index) and the keyword index (search.TextIndex), equal to
// the search documents in the store. It builds both from one scan of the
// store at start, then follows the store's search change sequence: every
// transaction that writes or removes documents bumps it, here or on any
// other server sharing the database, and the loop applies the tombstones
// and documents written since the sequence number it last saw. A server
// that fell behind the pruned tombstones rebuilds instead.
type SearchIndex struct {
	Store    hypha.Store
	Dims     int           // the embedder's dimension
	Poll     time.Duration // DefaultIndexPoll when 0
	MaxAge   time.Duration // DefaultTombstoneMaxAge when 0
	Logger   *slog.Logger
	Ready    func() bool // when set, the loop waits until it returns true (schema, embedding model)
	Rebuilds atomic.Int64

	vectors   atomic.Pointer[search.Index]
	text      atomic.Pointer[search.TextIndex]
	seq       atomic.Int64
	mu        sync.Mutex // one catch-up at a time
	wake      chan struct{}
	cancel    context.CancelFunc
	done      chan struct{}
	lastPrune time.Time
}

func (v *SearchIndex) logger() *slog.Logger {
	if v.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return v.Logger
}

// Vectors returns the current vector index, or nil before the first build.
func (v *SearchIndex) Vectors() *search.Index { return v.vectors.Load() }

// Text returns the current keyword index, or nil before the first build.
func (v *SearchIndex) Text() *search.TextIndex { return v.text.Load() }

// Seq is the change sequence number the index has caught up to.
func (v *SearchIndex) Seq() int64 { return v.seq.Load() }

// Notify asks the loop to catch up now (after a local write).
func (v *SearchIndex) Notify() {
	if v == nil || v.wake == nil {
		return
	}
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// Start runs the catch-up loop in the background until Stop.
func (v *SearchIndex) Start(ctx context.Context) {
	v.wake = make(chan struct{}, 1)
	ctx, v.cancel = context.WithCancel(ctx)
	v.done = make(chan struct{})
	go v.loop(ctx)
}

// Stop ends the loop and waits for it.
func (v *SearchIndex) Stop() {
	if v.cancel == nil {
		return
	}
	v.cancel()
	<-v.done
}

func (v *SearchIndex) loop(ctx context.Context) {
	defer close(v.done)
	poll := v.Poll
	if poll <= 0 {
		poll = DefaultIndexPoll
	}
	t := time.NewTimer(0)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.wake:
		case <-t.C:
		}
		if v.Ready == nil || v.Ready() {
			if err := v.CatchUp(ctx); err != nil && ctx.Err() == nil {
				failures++
				if failures == 1 || failures%60 == 0 {
					v.logger().Warn("search index: catching up failed; retrying", "err", err, "consecutive_failures", failures)
				}
			} else {
				failures = 0
			}
			v.prune(ctx)
		}
		t.Reset(poll)
	}
}

// CatchUp applies the changes since the last one seen, or builds the
// indexes when there are none yet or the tombstones they need were pruned.
func (v *SearchIndex) CatchUp(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	hi, pruned, err := v.Store.SearchSeq(ctx)
	if err != nil {
		return err
	}
	vectors, text, seen := v.vectors.Load(), v.text.Load(), v.seq.Load()
	if vectors == nil || text == nil || seen < pruned || hi < seen {
		// hi < seen: the database was replaced (a restore): start over.
		return v.rebuild(ctx, hi)
	}
	if hi == seen {
		return nil
	}
	err = v.Store.ScanSearchTombstones(ctx, seen, hi, func(k hypha.RecordKey) error {
		vectors.Delete(k.GroveID, k.Table.Name, k.MachineID, k.ID)
		text.Delete(k.GroveID, k.Table.Name, k.MachineID, k.ID)
		return nil
	})
	if err != nil {
		return err
	}
	err = v.Store.ScanSearchDocs(ctx, seen, hi, v.Dims, func(d *hypha.SearchDoc, vec []float32) error {
		return apply(vectors, text, d, vec)
	})
	if err != nil {
		return err
	}
	v.seq.Store(hi)
	return nil
}

// apply makes both indexes hold document d: its words, and its vector or
// none.
func apply(vectors *search.Index, text *search.TextIndex, d *hypha.SearchDoc, vec []float32) error {
	if err := text.Upsert(d); err != nil {
		return err
	}
	if vec == nil {
		vectors.Delete(d.Key.GroveID, d.Key.Table.Name, d.Key.MachineID, d.Key.ID)
		return nil
	}
	return vectors.Upsert(d.Meta(), vec)
}

// rebuild loads new indexes of every document up to hi and swaps them in.
// Documents written during the scan may be in them already; the next
// catch-up applies them again, which changes nothing.
func (v *SearchIndex) rebuild(ctx context.Context, hi int64) error {
	start := time.Now()
	vectors, text := search.NewIndex(v.Dims), search.NewTextIndex()
	// The scan reads the store on this goroutine; workers on the other
	// cores split the documents into words and insert them (both indexes
	// take concurrent writers; a scan holds each document once, so the
	// order of the inserts does not matter).
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type scanned struct {
		d   *hypha.SearchDoc
		vec []float32
	}
	work := make(chan scanned, 256)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range work {
				if err := apply(vectors, text, w.d, w.vec); err != nil {
					cancel(err)
				}
			}
		}()
	}
	err := v.Store.ScanSearchDocs(ctx, -1, hi, v.Dims, func(d *hypha.SearchDoc, vec []float32) error {
		select {
		case work <- scanned{d, vec}:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(work)
	wg.Wait()
	if cause := context.Cause(ctx); err == nil && cause != nil {
		err = cause
	}
	if err != nil {
		return fmt.Errorf("build the search indexes: %w", err)
	}
	v.text.Store(text)
	v.vectors.Store(vectors)
	v.seq.Store(hi)
	v.Rebuilds.Add(1)
	v.logger().Info("search indexes built from the store", "documents", text.Len(), "vectors", vectors.Len(), "seq", hi,
		"took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// prune deletes old tombstones now and then; any server may, the store
// keeps the highest pruned sequence number so laggards rebuild.
func (v *SearchIndex) prune(ctx context.Context) {
	if time.Since(v.lastPrune) < tombstonePruneEvery {
		return
	}
	v.lastPrune = time.Now()
	age := v.MaxAge
	if age <= 0 {
		age = DefaultTombstoneMaxAge
	}
	if _, err := v.Store.PruneSearchTombstones(ctx, v.Store.Now().Add(-age).Unix()); err != nil && ctx.Err() == nil {
		v.logger().Warn("search index: pruning tombstones failed", "err", err)
	}
}
