package app

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
)

// Activity windows of the grove visibility metrics.
const (
	activeWindow     = 24 * time.Hour // a project synced within it is "active"
	groveMetricsTTL  = 2 * time.Second
	maxDeadLetterLog = 500
)

// groveMetricsCache keeps recent results, so a daemon polling /health every
// few seconds does not scan its grove each time.
type groveMetricsCache struct {
	mu sync.Mutex
	m  map[string]cachedMetrics
}

type cachedMetrics struct {
	m  *hypha.GroveMetrics
	at time.Time
}

// GroveMetrics computes (or returns a result at most two seconds old) the
// visibility metrics of a grove.
func (h *Health) GroveMetrics(ctx context.Context, grove string) (*hypha.GroveMetrics, error) {
	h.metrics.mu.Lock()
	if c, ok := h.metrics.m[grove]; ok && time.Since(c.at) < groveMetricsTTL {
		h.metrics.mu.Unlock()
		return c.m, nil
	}
	h.metrics.mu.Unlock()
	m, err := computeGroveMetrics(ctx, h.Store, grove)
	if err != nil {
		return nil, err
	}
	h.metrics.mu.Lock()
	if h.metrics.m == nil {
		h.metrics.m = map[string]cachedMetrics{}
	}
	h.metrics.m[grove] = cachedMetrics{m: m, at: time.Now()}
	h.metrics.mu.Unlock()
	return m, nil
}

func computeGroveMetrics(ctx context.Context, store hypha.Store, grove string) (*hypha.GroveMetrics, error) {
	now := store.Now()
	m := &hypha.GroveMetrics{GroveID: grove, GroveProjects: []string{},
		SyncMetrics: hypha.GroveSyncMetrics{ProjectSyncStatus: map[string]hypha.ProjectStatus{}}}
	projects, err := store.ListProjects(ctx, grove)
	if err != nil {
		return nil, err
	}
	var last int64
	for _, p := range projects {
		m.GroveProjects = append(m.GroveProjects, p.ID)
		ps := hypha.ProjectStatus{Status: "idle"}
		if p.LastSyncAt > 0 {
			ps.LastSync = rfc3339(p.LastSyncAt)
			if now.Sub(time.Unix(p.LastSyncAt, 0)) < activeWindow {
				ps.Status = "active"
			}
		}
		m.SyncMetrics.ProjectSyncStatus[p.ID] = ps
		last = max(last, p.LastSyncAt)
	}
	sort.Strings(m.GroveProjects)
	counts, err := store.CountJobs(ctx, grove)
	if err != nil {
		return nil, err
	}
	m.PendingOperations = counts.Pending + counts.Leased
	m.SyncMetrics.OutboxQueueDepth = m.PendingOperations
	m.SyncMetrics.DeadLetters = counts.DeadLetters
	if counts.DeadLetters > 0 {
		dls, err := store.ListDeadLetters(ctx, grove, maxDeadLetterLog)
		if err != nil {
			return nil, err
		}
		since := now.Add(-activeWindow).Unix()
		for _, d := range dls {
			if d.CreatedAt >= since {
				m.SyncMetrics.SyncFailuresLast24h++
			}
		}
	}
	bytes, err := store.GroveDataBytes(ctx, grove)
	if err != nil {
		return nil, err
	}
	m.SyncMetrics.GroveDataVolumeMB = float64(bytes*10/(1<<20)) / 10
	if last > 0 {
		m.LastSyncAt = rfc3339(last)
		m.SyncMetrics.LastSuccessfulSync = m.LastSyncAt
	}
	switch {
	case last == 0:
		m.SyncStatus = "never_synced"
	case m.SyncMetrics.SyncFailuresLast24h > 0:
		m.SyncStatus = "degraded"
	case now.Sub(time.Unix(last, 0)) < activeWindow:
		m.SyncStatus = "active"
	default:
		m.SyncStatus = "idle"
	}
	return m, nil
}

func rfc3339(unix int64) *string {
	s := time.Unix(unix, 0).UTC().Format(time.RFC3339)
	return &s
}
