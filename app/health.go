package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hyphateam/hypha"
)

// Health keeps the figures /health shows that come from storage, refreshed
// in the background, so /health itself never reads storage.
//
// The seed's grove visibility metrics (sync status, outbox depth, failures
// in the last 24 h, data volume, per-project status) belong here too, as a
// method computing them for one grove from real data; the HTTP layer shows
// them only to a caller authenticated for that grove.
type Health struct {
	Store    hypha.Store
	Interval time.Duration // default 5 s
	Logger   *slog.Logger

	nodes   atomic.Int64
	metrics groveMetricsCache
	loop    periodic
}

// NodeCount is the number of distinct machines registered in any grove, as
// of the last refresh (0 before the first).
func (h *Health) NodeCount() int { return int(h.nodes.Load()) }

// Refresh re-reads the figures now; a failure keeps the previous ones.
func (h *Health) Refresh(ctx context.Context) error {
	n, err := h.Store.CountNodes(ctx)
	if err != nil {
		return err
	}
	h.nodes.Store(int64(n))
	return nil
}

// Start refreshes once, then every Interval until Stop.
func (h *Health) Start(ctx context.Context) {
	if h.Interval <= 0 {
		h.Interval = 5 * time.Second
	}
	h.loop.start(ctx, h.Interval, h.refresh)
}

func (h *Health) refresh(ctx context.Context) {
	if err := h.Refresh(ctx); err != nil && ctx.Err() == nil && h.Logger != nil {
		// Before the schema is migrated this fails on every tick; debug
		// keeps it out of the way while /health reports the schema state.
		h.Logger.Debug("refresh health figures", "err", err)
	}
}

// Stop ends Start's loop and waits for it.
func (h *Health) Stop() { h.loop.stop() }
