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

// GroveMetrics are the seed's grove visibility metrics (Procedure A),
// computed from the grove's data. They are shown only to a caller
// authenticated for the grove.
type GroveMetrics struct {
	GroveID           string           `json:"grove_id"`
	SyncStatus        string           `json:"sync_status"` // active, idle, degraded or never_synced
	LastSyncAt        *string          `json:"last_sync_at"`
	PendingOperations int64            `json:"pending_operations"`
	GroveProjects     []string         `json:"grove_projects"`
	SyncMetrics       GroveSyncMetrics `json:"sync_metrics"`
	computedAt        time.Time
}

// GroveSyncMetrics is the sync_metrics object of a grove.
type GroveSyncMetrics struct {
	// OutboxQueueDepth is the server's queue of work for the grove
	// (embedding jobs waiting or running); a daemon's own outbox is in
	// `hypha daemon status`.
	OutboxQueueDepth    int64                    `json:"outbox_queue_depth"`
	LastSuccessfulSync  *string                  `json:"last_successful_sync"`
	SyncFailuresLast24h int64                    `json:"sync_failures_last_24h"`
	GroveDataVolumeMB   float64                  `json:"grove_data_volume_mb"`
	ProjectSyncStatus   map[string]ProjectStatus `json:"project_sync_status"`
	DeadLetters         int64                    `json:"dead_letters"`
}

// ProjectStatus is one project's line of project_sync_status.
type ProjectStatus struct {
	Status   string  `json:"status"` // active (synced in the last 24 h) or idle
	LastSync *string `json:"last_sync"`
}

// groveMetricsCache keeps recent results, so a daemon polling /health every
// few seconds does not scan its grove each time.
type groveMetricsCache struct {
	mu sync.Mutex
	m  map[string]*GroveMetrics
}

// GroveMetrics computes (or returns a result at most two seconds old) the
// visibility metrics of a grove.
func (h *Health) GroveMetrics(ctx context.Context, grove string) (*GroveMetrics, error) {
	h.metrics.mu.Lock()
	if m, ok := h.metrics.m[grove]; ok && time.Since(m.computedAt) < groveMetricsTTL {
		h.metrics.mu.Unlock()
		return m, nil
	}
	h.metrics.mu.Unlock()
	m, err := computeGroveMetrics(ctx, h.Store, grove)
	if err != nil {
		return nil, err
	}
	h.metrics.mu.Lock()
	if h.metrics.m == nil {
		h.metrics.m = map[string]*GroveMetrics{}
	}
	h.metrics.m[grove] = m
	h.metrics.mu.Unlock()
	return m, nil
}

func computeGroveMetrics(ctx context.Context, store hypha.Store, grove string) (*GroveMetrics, error) {
	now := store.Now()
	m := &GroveMetrics{GroveID: grove, GroveProjects: []string{}, computedAt: time.Now(),
		SyncMetrics: GroveSyncMetrics{ProjectSyncStatus: map[string]ProjectStatus{}}}
	projects, err := store.ListProjects(ctx, grove)
	if err != nil {
		return nil, err
	}
	var last int64
	for _, p := range projects {
		m.GroveProjects = append(m.GroveProjects, p.ID)
		ps := ProjectStatus{Status: "idle"}
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
