package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/search"
)

// batchEmbedder is a fake of a provider over the network: it embeds in
// batches (recording their sizes) with a model of its own, and fails a
// batch with fail when set.
type batchEmbedder struct {
	inner *search.HashEmbedder
	model string
	mu    sync.Mutex
	sizes []int
	fail  func(texts []string) error
	calls int // single Embed calls
}

func (b *batchEmbedder) Model() string { return b.model }
func (b *batchEmbedder) Dims() int     { return b.inner.Dims() }
func (b *batchEmbedder) Info() hypha.EmbedderInfo {
	return hypha.EmbedderInfo{Provider: "openai", Model: b.model, Dims: b.inner.Dims()}
}

func (b *batchEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	if b.fail != nil {
		if err := b.fail([]string{text}); err != nil {
			return nil, err
		}
	}
	return b.inner.Embed(ctx, text)
}

func (b *batchEmbedder) EmbedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(texts))
	b.mu.Unlock()
	if b.fail != nil {
		if err := b.fail(texts); err != nil {
			return nil, err
		}
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i], _ = b.inner.Embed(ctx, t)
	}
	return out, nil
}

// seedGroves writes, in groves g1 and g2, records of every embeddable kind
// plus rows a reindex must skip, and returns the embeddable count per grove.
func (e *jobsEnv) seedGroves(t *testing.T) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	for _, g := range []string{"g1", "g2"} {
		if _, err := e.db.EnsureGrove(t.Context(), &hypha.Grove{ID: g, Name: g}); err != nil {
			t.Fatal(err)
		}
		recs := []*hypha.Record{
			e.record(t, "sessions", g, "s1", map[string]any{"summary": "fixed the queue in " + g}),
			e.record(t, "sessions", g, "s2", map[string]any{"title": "no summary"}),
			e.record(t, "spores", g, "gone", map[string]any{"content": "superseded idea", "status": "superseded"}),
			e.record(t, "plans", g, "p1", map[string]any{"content": "plan of " + g}),
			e.record(t, "artifacts", g, "a1", map[string]any{"content": "notes", "source_path": "notes.md", "title": "n"}),
			e.record(t, "skill_records", g, "k1", map[string]any{"description": "a skill", "name": "k"}),
			e.record(t, "entities", g, "e1", map[string]any{"name": "no text to embed"}),
		}
		for i := range 5 {
			recs = append(recs, e.record(t, "spores", g, fmt.Sprintf("sp%d", i), map[string]any{"content": fmt.Sprintf("idea %d of %s", i, g)}))
		}
		if _, err := e.db.UpsertRecords(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Embeddable() {
				want[g]++
			}
		}
	}
	return want
}

// vectorModels returns the models of a grove's stored vectors of the seeded
// keys, counted.
func (e *jobsEnv) vectorModels(t *testing.T, g string) map[string]int {
	t.Helper()
	var keys []hypha.RecordKey
	for _, tb := range app.EmbeddableTables() {
		ks, err := e.db.ListEmbeddableKeys(t.Context(), hypha.EmbeddableQuery{Table: tb, GroveID: g})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ks...)
	}
	embs, err := e.db.FindEmbeddings(t.Context(), keys)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, em := range embs {
		out[fmt.Sprintf("%s/%d", em.Model, len(em.Vector))]++
	}
	return out
}

func TestReindexVectors(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		want := e.seedGroves(t)
		res, err := app.ReindexVectors(t.Context(), e.db, []string{"g1"}, "")
		if err != nil {
			t.Fatalf("ReindexVectors: %v", err)
		}
		counts, err := e.db.CountEmbeddable(t.Context(), "g1")
		if err != nil {
			t.Fatal(err)
		}
		if res.Enqueued != want["g1"] || strings.Join(res.Tables, ",") != "sessions,spores,plans,artifacts,skill_records" {
			t.Fatalf("reindex = %+v, want %d jobs over the five embeddable tables", res, want["g1"])
		}
		for name, n := range counts {
			if res.ByTable[name] != n {
				t.Fatalf("by table %v, want the embeddable counts %v (reference §12.7)", res.ByTable, counts)
			}
		}
		if st := e.stats(t, "g1"); st.Pending != want["g1"] || st.Enqueued != want["g1"] {
			t.Fatalf("g1 queue %+v, want %d pending and counted as enqueued", st, want["g1"])
		}
		if st := e.stats(t, "g2"); st.Pending != 0 {
			t.Fatalf("grove g2 got %d jobs from g1's reindex", st.Pending)
		}
		cfg, _ := e.db.TeamConfig(t.Context())
		if cfg["vector_reindex_status"] != "queued" || cfg["vector_reindex_last_processed"] != fmt.Sprint(want["g1"]) ||
			cfg["vector_reindex_last_error"] != "" || cfg["vector_reindex_last_run_at"] != fmt.Sprint(e.clock.Now().Unix()) {
			t.Fatalf("team_config after reindex: %v", cfg)
		}
		e.drain(t)
		if n, _ := e.db.CountEmbeddings(t.Context(), "g1"); n != want["g1"] {
			t.Fatalf("vector_count %d after draining, want embeddable_count %d", n, want["g1"])
		}

		one, err := app.ReindexVectors(t.Context(), e.db, []string{"g1"}, "spores")
		if err != nil || one.Enqueued != 5 || len(one.ByTable) != 1 || one.Tables[0] != "spores" {
			t.Fatalf("spores only = %+v, %v; want the 5 active spores", one, err)
		}
		calls := e.emb.calls.Load()
		e.drain(t)
		if e.emb.calls.Load() != calls {
			t.Fatal("a reindex of unchanged texts embedded them again")
		}
		for _, bad := range []string{"toString", "constructor", "__proto__", "entities", "Spores", "spores "} {
			_, err := app.ReindexVectors(t.Context(), e.db, []string{"g1"}, bad)
			if hypha.ErrorCode(err) != hypha.EInvalid || hypha.ErrorMessage(err) != "Unknown table: "+bad {
				t.Fatalf("table %q: %v, want invalid \"Unknown table: %s\"", bad, err, bad)
			}
		}
	})
}

func TestReindexVectors_PagesThroughLargeTables(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		var recs []*hypha.Record
		for i := range 2345 {
			recs = append(recs, e.record(t, "spores", "g", fmt.Sprintf("sp%05d", i), map[string]any{"content": fmt.Sprint("idea ", i)}))
		}
		if _, err := e.db.UpsertRecords(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
		res, err := app.ReindexVectors(t.Context(), e.db, []string{"g"}, "spores")
		if err != nil || res.Enqueued != 2345 {
			t.Fatalf("ReindexVectors = %+v, %v; want 2345", res, err)
		}
		if st := e.stats(t, "g"); st.Pending != 2345 {
			t.Fatalf("%d jobs pending, want one per row", st.Pending)
		}
	})
}

func TestEmbeddingModel_ChangeReindexesWithoutMixing(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		want := e.seedGroves(t)
		hash := hypha.DescribeEmbedder(e.emb.inner)
		first, err := (&app.EmbeddingModel{Store: e.db, Embedder: hash}).Check(t.Context())
		if err != nil || first.Changed || first.Deleted != 0 || first.Reindex != nil {
			t.Fatalf("first start: %+v, %v; want it recorded, nothing else", first, err)
		}
		cfg, _ := e.db.TeamConfig(t.Context())
		if cfg["embedding_provider"] != "hash" || cfg["embedding_model"] != search.HashModel || cfg["embedding_dimensions"] != "384" {
			t.Fatalf("team_config %v does not record the embedder", cfg)
		}
		if _, err := app.ReindexVectors(t.Context(), e.db, []string{"g1", "g2"}, ""); err != nil {
			t.Fatal(err)
		}
		e.drain(t)
		for _, g := range []string{"g1", "g2"} {
			if got := e.vectorModels(t, g); got[search.HashModel+"/384"] != int(want[g]) || len(got) != 1 {
				t.Fatalf("grove %s before the change: %v", g, got)
			}
		}

		// The operator points Hypha at a semantic model of another dimension.
		sem := &batchEmbedder{inner: search.NewHashEmbedder(64), model: "nomic-embed-text"}
		guard := &app.EmbeddingModel{Store: e.db, Embedder: hypha.DescribeEmbedder(sem)}
		ch, err := guard.Check(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !ch.Changed || ch.Deleted != want["g1"]+want["g2"] || ch.Reindex == nil || ch.Reindex.Enqueued != want["g1"]+want["g2"] ||
			ch.Previous.Model != search.HashModel {
			t.Fatalf("change = %+v, want every old vector deleted and every record queued", ch)
		}
		for _, g := range []string{"g1", "g2"} {
			if n, _ := e.db.CountEmbeddings(t.Context(), g); n != 0 {
				t.Fatalf("grove %s still counts %d vectors of the old model", g, n)
			}
		}
		e.jobs = app.NewJobs(e.db, sem, nil, app.JobsOptions{Batch: 4})
		for e.runOnce(t) > 0 {
			for _, g := range []string{"g1", "g2"} {
				if got := e.vectorModels(t, g); len(got) > 1 || len(got) == 1 && got["nomic-embed-text/64"] == 0 {
					t.Fatalf("grove %s mixes vector spaces mid-reindex: %v", g, got)
				}
			}
		}
		for _, g := range []string{"g1", "g2"} {
			if got := e.vectorModels(t, g); got["nomic-embed-text/64"] != int(want[g]) {
				t.Fatalf("grove %s after the reindex: %v, want %d vectors of the new model", g, got, want[g])
			}
		}
		// The server's vector index, built in the new space, answers
		// semantic queries.
		vi := &app.SearchIndex{Store: e.db, Dims: sem.Dims()}
		if err := vi.CatchUp(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := vi.Vectors().Len(); got != int(want["g1"]+want["g2"]) {
			t.Fatalf("vector index after the reindex holds %d vectors, want %d", got, want["g1"]+want["g2"])
		}
		res, err := (&app.Search{Store: e.db, Embedder: sem.inner, Index: vi}).Search(t.Context(), "g1",
			hypha.SearchQuery{Text: "idea", Mode: hypha.SearchSemantic})
		if err != nil || len(res) == 0 {
			t.Fatalf("semantic search after the reindex: %d results, %v", len(res), err)
		}
		for _, size := range sem.sizes {
			if size > 4 || size < 1 {
				t.Fatalf("batch sizes %v, want batches of the claimed jobs", sem.sizes)
			}
		}
		if sem.calls != 0 || len(sem.sizes) == 0 {
			t.Fatalf("%d single calls and %d batches: the consumer did not batch", sem.calls, len(sem.sizes))
		}
		if again, err := guard.Check(t.Context()); err != nil || again.Changed || again.Deleted != 0 || again.Reindex != nil {
			t.Fatalf("second start with the same model: %+v, %v; want nothing to do", again, err)
		}

		// A stray vector of another model (another server, an import) is
		// answered the same way, even though team_config did not change.
		stray := &hypha.Embedding{Key: hypha.RecordKey{Table: hypha.LookupTable("plans"), GroveID: "g1", MachineID: "m1", ID: "p1"}, Model: "stray", Vector: make([]float32, 8)}
		if err := e.db.PutEmbeddings(t.Context(), []*hypha.Embedding{stray}); err != nil {
			t.Fatal(err)
		}
		if ch, err := guard.Check(t.Context()); err != nil || ch.Changed || ch.Deleted != 1 || ch.Reindex == nil {
			t.Fatalf("stray vector: %+v, %v; want it deleted and a reindex", ch, err)
		}
		e.drain(t)
		if got := e.vectorModels(t, "g1"); got["nomic-embed-text/64"] != int(want["g1"]) || len(got) != 1 {
			t.Fatalf("g1 after the stray vector: %v", got)
		}
	})
}

func TestJobs_BatchFailures(t *testing.T) {
	forEachJobsEngine(t, func(t *testing.T, e *jobsEnv) {
		sem := &batchEmbedder{inner: search.NewHashEmbedder(16), model: "m"}
		e.jobs = app.NewJobs(e.db, sem, nil, app.JobsOptions{Backoff: func(int) time.Duration { return 0 }})
		var recs []*hypha.Record
		for i := range 3 {
			recs = append(recs, e.record(t, "spores", "g", fmt.Sprint("sp", i), map[string]any{"content": fmt.Sprint("idea ", i)}))
		}
		recs = append(recs, e.record(t, "spores", "g", "poison", map[string]any{"content": "too long for the model"}))
		// The provider refuses a batch holding the poison text: the others
		// are embedded one by one and only the poison fails.
		sem.fail = func(texts []string) error {
			for _, t := range texts {
				if strings.Contains(t, "too long") {
					return hypha.Errorf(hypha.EInvalid, "input too long")
				}
			}
			return nil
		}
		e.ingest(t, recs...)
		e.runOnce(t)
		if st := e.stats(t, "g"); st.EmbedOK != 3 || st.EmbedFailed != 1 || st.Pending != 1 {
			t.Fatalf("after a refused batch: %+v, want 3 embedded one by one and the poison retried", st)
		}
		// A provider that is down fails the whole batch, every job retried.
		sem.fail = func([]string) error { return hypha.Errorf(hypha.EUnavailable, "provider down") }
		e.ingest(t, e.record(t, "spores", "g", "sp0", map[string]any{"content": "changed idea"}))
		calls := sem.calls
		e.runOnce(t)
		if st := e.stats(t, "g"); st.EmbedFailed != 3 || st.Pending != 2 || sem.calls != calls {
			t.Fatalf("after an unavailable provider: %+v (%d single calls), want both jobs retried without one-by-one calls", st, sem.calls-calls)
		}
		sem.fail = nil
		e.drain(t)
		if st := e.stats(t, "g"); st.Pending != 0 || st.EmbedOK != 5 {
			t.Fatalf("after recovery: %+v", st)
		}
	})
}
