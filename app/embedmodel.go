package app

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hyphateam/hypha"
)

// team_config keys of the embedder in use (reference §4.4, plus the
// provider).
const (
	ConfigEmbeddingProvider   = "embedding_provider"
	ConfigEmbeddingModel      = "embedding_model"
	ConfigEmbeddingDimensions = "embedding_dimensions"
)

// ModelChange is what an embedder check found and did.
type ModelChange struct {
	Previous hypha.EmbedderInfo // from team_config; zero on a first start
	Current  hypha.EmbedderInfo
	// Changed reports that team_config named another provider, model or
	// dimension (a first start is not a change).
	Changed bool
	// Deleted counts the vectors of other models that were deleted.
	Deleted int64
	// Reindex is the reindex queued for the change, nil when none was
	// needed.
	Reindex *ReindexResult
}

// EmbeddingModel keeps the stored vectors in one vector space: the one of
// the embedder in use. Its check records the provider, model and dimension
// in team_config; when they differ from the recorded ones, or vectors of
// another model or dimension exist, it deletes those vectors and queues
// every embeddable record of every grove again, so the consumer re-embeds
// them with the new model. Vectors of two models are never compared.
//
// Every server sharing a database must run the same embedder: two servers
// with different ones would each delete the other's vectors at start.
type EmbeddingModel struct {
	Store    hypha.Store
	Embedder hypha.EmbedderInfo
	Logger   *slog.Logger

	mu   sync.Mutex
	done atomic.Bool
}

// Ready runs the check until it succeeds once, and reports whether it
// has: the consumer must not embed before (its vectors could join the old
// space). A failure is logged and tried again at the next call.
func (m *EmbeddingModel) Ready(ctx context.Context) bool {
	if m.done.Load() {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done.Load() {
		return true
	}
	if _, err := m.Check(ctx); err != nil {
		if ctx.Err() == nil {
			m.logger().Error("embedding model check failed; embedding waits until it succeeds", "err", err)
		}
		return false
	}
	m.done.Store(true)
	return true
}

func (m *EmbeddingModel) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// Check compares the embedder with team_config and the stored vectors and
// answers a change with a reindex (see EmbeddingModel).
func (m *EmbeddingModel) Check(ctx context.Context) (*ModelChange, error) {
	cur := m.Embedder
	out := &ModelChange{Current: cur}
	cfg, err := m.Store.TeamConfig(ctx)
	if err != nil {
		return nil, err
	}
	dims, _ := strconv.Atoi(cfg[ConfigEmbeddingDimensions])
	out.Previous = hypha.EmbedderInfo{Provider: cfg[ConfigEmbeddingProvider], Model: cfg[ConfigEmbeddingModel], Dims: dims}
	out.Changed = out.Previous.Model != "" && (out.Previous.Model != cur.Model || dims != cur.Dims ||
		out.Previous.Provider != "" && out.Previous.Provider != cur.Provider)
	if out.Deleted, err = m.Store.DeleteEmbeddingsNotOfModel(ctx, cur.Model, cur.Dims); err != nil {
		return nil, err
	}
	if out.Changed || out.Deleted > 0 {
		if out.Reindex, err = m.reindexAll(ctx); err != nil {
			return nil, err
		}
		m.logger().Warn("embedding model changed: vectors of other models deleted, every embeddable record queued for embedding with the new one",
			"previous_provider", out.Previous.Provider, "previous_model", out.Previous.Model, "previous_dims", out.Previous.Dims,
			"provider", cur.Provider, "model", cur.Model, "dims", cur.Dims,
			"vectors_deleted", out.Deleted, "records_queued", out.Reindex.Enqueued)
	}
	// Recorded last: a check that fails before this point sees the change
	// again next time and queues the records it may not have queued.
	want := map[string]string{
		ConfigEmbeddingProvider: cur.Provider, ConfigEmbeddingModel: cur.Model, ConfigEmbeddingDimensions: strconv.Itoa(cur.Dims),
	}
	for k, v := range want {
		if cfg[k] == v {
			delete(want, k)
		}
	}
	if len(want) > 0 {
		if err := m.Store.PutTeamConfig(ctx, want); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reindexAll queues every embeddable record of every grove.
func (m *EmbeddingModel) reindexAll(ctx context.Context) (*ReindexResult, error) {
	groves, err := m.Store.ListGroves(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(groves))
	for i, g := range groves {
		ids[i] = g.ID
	}
	return ReindexVectors(ctx, m.Store, ids, "")
}
