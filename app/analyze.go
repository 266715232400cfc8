package app

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
)

// Thresholds of the statistics refresher.
const (
	analyzeMinRows   = 1000            // rows written to a table before its first refresh
	analyzeGrowth    = 5               // then after it grew by 1/analyzeGrowth (20 %)
	analyzeMinPeriod = 2 * time.Second // at most one refresh every period
)

// statsRefresher asks the store to refresh planner statistics of tables
// that grew fast. PostgreSQL plans a bulk-loaded table as if it were empty
// until autovacuum analyses it (up to a minute later): lookups by primary
// key then filter whole partitions, and the embedding backlog drains at a
// few hundred records a second. SQLite needs none (Analyze is a no-op).
type statsRefresher struct {
	mu      sync.Mutex
	written map[string]int64 // rows written since the table's last refresh
	size    map[string]int64 // rows written before it (a size estimate)
	last    time.Time
	running bool
}

// note records rows written to tables by a committed transaction and
// starts a refresh in the background when one is due.
func (r *statsRefresher) note(store hypha.Store, logger *slog.Logger, rows map[string]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written == nil {
		r.written, r.size = map[string]int64{}, map[string]int64{}
	}
	var due []string
	for t, n := range rows {
		r.written[t] += n
		if w := r.written[t]; w >= analyzeMinRows && w >= r.size[t]/analyzeGrowth {
			due = append(due, t)
		}
	}
	if len(due) == 0 || r.running || time.Since(r.last) < analyzeMinPeriod {
		return
	}
	for _, t := range due {
		r.size[t] += r.written[t]
		r.written[t] = 0
	}
	// The queue and the vectors grow with the records.
	due = append(due, "jobs", "embeddings")
	sort.Strings(due)
	r.running, r.last = true, time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := store.Analyze(ctx, due); err != nil && logger != nil {
			logger.Warn("refresh planner statistics", "tables", due, "err", err)
		}
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
}
