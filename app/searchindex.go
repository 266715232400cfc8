package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// Defaults of the vector index's catch-up loop.
const (
	DefaultIndexPoll       = time.Second    // how often other servers' changes are looked for
	DefaultTombstoneMaxAge = 24 * time.Hour // tombstones older than this are pruned
	tombstonePruneEvery    = 10 * time.Minute
)

// VectorIndex keeps this server's in-memory vector index (search.Index)
// equal to the search documents in the store. It builds the index from the
// store at start, then follows the store's search change sequence: every
// transaction that writes or removes documents bumps it, here or on any
// other server sharing the database, and the loop applies the tombstones
// and documents written since the sequence number it last saw. A server
// that fell behind the pruned tombstones rebuilds instead.
type VectorIndex struct {
	Store    hypha.Store
	Dims     int           // the embedder's dimension
	Poll     time.Duration // DefaultIndexPoll when 0
	MaxAge   time.Duration // DefaultTombstoneMaxAge when 0
	Logger   *slog.Logger
	Ready    func() bool // when set, the loop waits until it returns true (schema, embedding model)
	Rebuilds atomic.Int64

	idx       atomic.Pointer[search.Index]
	seq       atomic.Int64
	mu        sync.Mutex // one catch-up at a time
	wake      chan struct{}
	cancel    context.CancelFunc
	done      chan struct{}
	lastPrune time.Time
}

func (v *VectorIndex) logger() *slog.Logger {
	if v.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return v.Logger
}

// Index returns the current index, or nil before the first build.
func (v *VectorIndex) Index() *search.Index { return v.idx.Load() }

// Seq is the change sequence number the index has caught up to.
func (v *VectorIndex) Seq() int64 { return v.seq.Load() }

// Notify asks the loop to catch up now (after a local write).
func (v *VectorIndex) Notify() {
	if v == nil || v.wake == nil {
		return
	}
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// Start runs the catch-up loop in the background until Stop.
func (v *VectorIndex) Start(ctx context.Context) {
	v.wake = make(chan struct{}, 1)
	ctx, v.cancel = context.WithCancel(ctx)
	v.done = make(chan struct{})
	go v.loop(ctx)
}

// Stop ends the loop and waits for it.
func (v *VectorIndex) Stop() {
	if v.cancel == nil {
		return
	}
	v.cancel()
	<-v.done
}

func (v *VectorIndex) loop(ctx context.Context) {
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
					v.logger().Warn("vector index: catching up failed; retrying", "err", err, "consecutive_failures", failures)
				}
			} else {
				failures = 0
			}
			v.prune(ctx)
		}
		t.Reset(poll)
	}
}

// CatchUp applies the changes since the last one seen, or builds the index
// when there is none yet or the tombstones it needs were pruned.
func (v *VectorIndex) CatchUp(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	hi, pruned, err := v.Store.SearchSeq(ctx)
	if err != nil {
		return err
	}
	idx, seen := v.idx.Load(), v.seq.Load()
	if idx == nil || seen < pruned || hi < seen {
		// hi < seen: the database was replaced (a restore): start over.
		return v.rebuild(ctx, hi)
	}
	if hi == seen {
		return nil
	}
	err = v.Store.ScanSearchTombstones(ctx, seen, hi, func(k hypha.RecordKey) error {
		idx.Delete(k.GroveID, k.Table.Name, k.MachineID, k.ID)
		return nil
	})
	if err != nil {
		return err
	}
	err = v.Store.ScanSearchVectors(ctx, seen, hi, v.Dims, func(m hypha.VectorMeta, vec []float32) error {
		return idx.Upsert(m, vec)
	})
	if err != nil {
		return err
	}
	v.seq.Store(hi)
	return nil
}

// rebuild loads a new index of every document up to hi and swaps it in.
// Documents written during the scan may be in it already; the next
// catch-up applies them again, which changes nothing.
func (v *VectorIndex) rebuild(ctx context.Context, hi int64) error {
	start := time.Now()
	idx, err := search.Load(ctx, v.Dims, func(yield func(hypha.VectorMeta, []float32) error) error {
		return v.Store.ScanSearchVectors(ctx, -1, hi, v.Dims, yield)
	})
	if err != nil {
		return err
	}
	v.idx.Store(idx)
	v.seq.Store(hi)
	v.Rebuilds.Add(1)
	v.logger().Info("vector index built from the store", "vectors", idx.Len(), "seq", hi, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// prune deletes old tombstones now and then; any server may, the store
// keeps the highest pruned sequence number so laggards rebuild.
func (v *VectorIndex) prune(ctx context.Context) {
	if time.Since(v.lastPrune) < tombstonePruneEvery {
		return
	}
	v.lastPrune = time.Now()
	age := v.MaxAge
	if age <= 0 {
		age = DefaultTombstoneMaxAge
	}
	if _, err := v.Store.PruneSearchTombstones(ctx, v.Store.Now().Add(-age).Unix()); err != nil && ctx.Err() == nil {
		v.logger().Warn("vector index: pruning tombstones failed", "err", err)
	}
}
