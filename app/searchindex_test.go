package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/postgres"
	"github.com/hyphateam/hypha/search"
)

// twoHandles opens two independent stores on one database, as two servers
// sharing it would.
func twoHandles(t *testing.T, engine string) (*sqlstore.DB, *sqlstore.DB) {
	t.Helper()
	if engine == "sqlite" {
		path := filepath.Join(t.TempDir(), "shared.db")
		a := testdb.OpenSQLite(t, path, nil)
		if _, err := a.Migrate(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		return a, testdb.OpenSQLite(t, path, nil)
	}
	url := testdb.NewSchema(t)
	open := func() *sqlstore.DB {
		db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a := open()
	if _, err := a.Migrate(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	return a, open()
}

// TestSearchIndex_TwoServersCatchUp writes through one server and checks
// that the other server's vector and keyword indexes follow from the
// change sequence:
// new records, metadata changes, deletions, and a rebuild once the
// tombstones it needed were pruned.
func TestSearchIndex_TwoServersCatchUp(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dbA, dbB := twoHandles(t, engine)
			emb := search.NewHashEmbedder(0)
			jobs := app.NewJobs(dbA, emb, nil, app.JobsOptions{})
			syncA := &app.Sync{Store: dbA, Jobs: jobs}
			drain := func() {
				t.Helper()
				for {
					n, err := jobs.RunOnce(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
			}
			push := func(recs ...json.RawMessage) {
				t.Helper()
				if _, err := syncA.Enqueue(ctx, "g1", &app.EnqueueRequest{Protocol: 3, MachineID: "m1", Records: recs}); err != nil {
					t.Fatal(err)
				}
			}
			viA := &app.SearchIndex{Store: dbA, Dims: emb.Dims()}
			viB := &app.SearchIndex{Store: dbB, Dims: emb.Dims()}
			for _, vi := range []*app.SearchIndex{viA, viB} {
				if err := vi.CatchUp(ctx); err != nil {
					t.Fatal(err)
				}
			}
			searchB := func(f hypha.VectorFilter) []string {
				t.Helper()
				if err := viB.CatchUp(ctx); err != nil {
					t.Fatal(err)
				}
				q, _ := emb.Embed(ctx, "queue worker retries")
				f.GroveID = "g1"
				hits, err := viB.Vectors().Search(ctx, q, 50, f)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, h := range hits {
					out = append(out, h.Meta.ID)
				}
				// The keyword index holds the same documents (every text
				// has the words).
				words, err := viB.Text().Search(ctx, "queue worker retries", 50, f)
				if err != nil {
					t.Fatal(err)
				}
				var wordIDs []string
				for _, h := range words {
					wordIDs = append(wordIDs, h.Key.ID)
				}
				if !slices.Equal(slices.Sorted(slices.Values(wordIDs)), slices.Sorted(slices.Values(out))) {
					t.Fatalf("server B's keyword index has %v, its vector index %v", wordIDs, out)
				}
				return out
			}

			push(spore("s1", "queue worker retries with backoff"), spore("s2", "queue worker retries forever"),
				rec("plans", "upsert", "p1", "m1", map[string]any{"project_id": projA, "content": "plan for queue worker retries", "status": "draft"}))
			drain()
			if got := searchB(hypha.VectorFilter{}); len(got) != 3 {
				t.Fatalf("server B after the first batch: %v", got)
			}
			// A metadata change without a text change reaches B.
			push(rec("plans", "upsert", "p1", "m1", map[string]any{"project_id": projA, "content": "plan for queue worker retries", "status": "done"}))
			drain()
			if got := searchB(hypha.VectorFilter{Status: "done"}); len(got) != 1 || got[0] != "p1" {
				t.Fatalf("server B after the status change: %v", got)
			}
			// A delete and a spore that stops being active.
			push(rec("spores", "delete", "s1", "m1", nil), spore("s2", "queue worker retries forever", "status", "superseded"))
			drain()
			if got := searchB(hypha.VectorFilter{}); len(got) != 1 || got[0] != "p1" {
				t.Fatalf("server B after the delete: %v", got)
			}
			if viB.Rebuilds.Load() != 1 {
				t.Fatalf("server B rebuilt %d times, want only its first build", viB.Rebuilds.Load())
			}
			// B falls behind pruned tombstones: it rebuilds instead.
			seenB := viB.Seq()
			push(spore("s3", "queue worker retries once"))
			drain()
			push(rec("spores", "delete", "s3", "m1", nil))
			drain()
			if n, err := dbA.PruneSearchTombstones(ctx, time.Now().Add(time.Hour).Unix()); err != nil || n == 0 {
				t.Fatalf("PruneSearchTombstones = %d, %v", n, err)
			}
			if _, pruned, _ := dbB.SearchSeq(ctx); pruned <= seenB {
				t.Fatalf("pruned_seq %d not past B's %d", pruned, seenB)
			}
			if got := searchB(hypha.VectorFilter{}); len(got) != 1 || got[0] != "p1" {
				t.Fatalf("server B after pruning: %v", got)
			}
			if viB.Rebuilds.Load() != 2 {
				t.Fatalf("server B rebuilt %d times, want 2", viB.Rebuilds.Load())
			}
			// Server A's own index followed as well.
			if err := viA.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			if viA.Vectors().Len() != 1 || viA.Text().Len() != 1 {
				t.Fatalf("server A holds %d vectors and %d keyword documents, want 1", viA.Vectors().Len(), viA.Text().Len())
			}
		})
	}
}

// TestSearchIndex_LoopFollowsNotify runs the background loop: a consumer
// batch notifies it and the record is searchable without waiting a poll.
func TestSearchIndex_LoopFollowsNotify(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ *app.Sync, db hypha.Store) {
		ctx := t.Context()
		emb := search.NewHashEmbedder(0)
		vi := &app.SearchIndex{Store: db, Dims: emb.Dims(), Poll: time.Hour}
		vi.Start(ctx)
		defer vi.Stop()
		jobs := app.NewJobs(db, emb, nil, app.JobsOptions{Indexed: vi.Notify})
		s := &app.Sync{Store: db, Jobs: jobs}
		if _, err := s.Enqueue(ctx, "g1", &app.EnqueueRequest{Protocol: 3, MachineID: "m1", Records: []json.RawMessage{spore("n1", "notify me")}}); err != nil {
			t.Fatal(err)
		}
		if n, err := jobs.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if idx, text := vi.Vectors(), vi.Text(); idx != nil && idx.Len() == 1 && text.Len() == 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the loop did not pick up the consumer's batch")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// TestSearchIndex_BuildAndWordsWithoutVector checks the build from the
// store: a cancelled build fails and installs nothing; a record whose
// embedding failed is in the keyword index (found by its words) but not in
// the vector index.
func TestSearchIndex_BuildAndWordsWithoutVector(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ *app.Sync, db hypha.Store) {
		ctx := t.Context()
		hash := search.NewHashEmbedder(0)
		emb := &flakyEmbedder{inner: hash, failFirst: -1} // the provider is down
		jobs := app.NewJobs(db, emb, nil, app.JobsOptions{})
		s := &app.Sync{Store: db, Jobs: jobs}
		var recs []json.RawMessage
		for i := range 300 {
			recs = append(recs, spore(fmt.Sprint("s", i), fmt.Sprintf("rotation of the grove token number %d", i)))
		}
		if _, err := s.Enqueue(ctx, "g1", &app.EnqueueRequest{Protocol: 3, MachineID: "m1", Records: recs}); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := jobs.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		vi := &app.SearchIndex{Store: db, Dims: hash.Dims()}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := vi.CatchUp(cancelled); err == nil || vi.Vectors() != nil || vi.Text() != nil {
			t.Fatalf("a cancelled build: %v, indexes %v %v; want an error and none", err, vi.Vectors(), vi.Text())
		}
		if err := vi.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		if vi.Vectors().Len() != 0 || vi.Text().Len() != 300 {
			t.Fatalf("built %d vectors and %d keyword documents; want 0 and 300", vi.Vectors().Len(), vi.Text().Len())
		}
		srch := &app.Search{Store: db, Embedder: hash, Index: vi}
		res, err := srch.Search(ctx, "g1", hypha.SearchQuery{Text: "number 217", Mode: hypha.SearchKeyword})
		if err != nil || len(res) == 0 || res[0].ID != "s217" {
			t.Fatalf("keyword search for a record without a vector: %v, %v", res, err)
		}
		if res, err := srch.Search(ctx, "g1", hypha.SearchQuery{Text: "number 217"}); err != nil || len(res) == 0 || res[0].ID != "s217" {
			t.Fatalf("hybrid search for a record without a vector: %v, %v", res, err)
		}
	})
}
