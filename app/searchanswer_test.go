package app_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/search"
)

// TestSearch_AnswerMachineIDs: GET /search's answer carries the distinct
// machine ids of its results, best result's machine first, on both
// engines and in every mode.
func TestSearch_AnswerMachineIDs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		emb := search.NewHashEmbedder(0)
		var recs []json.RawMessage
		for _, r := range []struct{ id, machine, text string }{
			{"s1", "laptop", "rsync retry rsync retry rsync retry"},
			{"s2", "desk", "rsync retry loop"},
			{"s3", "laptop", "rsync once"},
			{"s4", "ci", "nothing to see"},
		} {
			recs = append(recs, rec("spores", "upsert", r.id, r.machine, map[string]any{"project_id": projA, "content": r.text, "status": "active"}))
		}
		if res := enqueue(t, s, "g1", 3, recs...); res.Accepted != 4 {
			t.Fatalf("enqueue: %+v", res)
		}
		jobs := app.NewJobs(db, emb, nil, app.JobsOptions{})
		for {
			n, err := jobs.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		idx := &app.SearchIndex{Store: db, Dims: emb.Dims()}
		if err := idx.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		srch := &app.Search{Store: db, Embedder: emb, Index: idx}
		for _, mode := range []string{hypha.SearchKeyword, hypha.SearchHybrid} {
			ans, err := srch.Answer(ctx, "g1", hypha.SearchQuery{Text: "rsync retry", Mode: mode})
			if err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			var want []string
			seen := map[string]bool{}
			for _, r := range ans.Results {
				if !seen[r.MachineID] {
					seen[r.MachineID] = true
					want = append(want, r.MachineID)
				}
			}
			if len(ans.Results) < 3 || ans.Results[0].ID != "s1" || !reflect.DeepEqual(ans.MachineIDs, want) || ans.MachineIDs[0] != "laptop" {
				t.Fatalf("%s: machine_ids %q for results %v; want the distinct machines in rank order, laptop first", mode, ans.MachineIDs, ans.Results)
			}
		}
		ans, err := srch.Answer(ctx, "g1", hypha.SearchQuery{Text: "rsync", Mode: hypha.SearchKeyword, MachineID: "desk"})
		if err != nil || !reflect.DeepEqual(ans.MachineIDs, []string{"desk"}) {
			t.Fatalf("filtered to one machine: %+v, %v", ans, err)
		}
		ans, err = srch.Answer(ctx, "g1", hypha.SearchQuery{Text: "zebra", Mode: hypha.SearchKeyword})
		if err != nil || len(ans.Results) != 0 || ans.MachineIDs == nil || len(ans.MachineIDs) != 0 {
			t.Fatalf("no results: %+v, %v; want empty, non-nil machine_ids", ans, err)
		}
		if _, err := srch.Answer(ctx, "g1", hypha.SearchQuery{Text: " "}); hypha.ErrorCode(err) != hypha.EInvalid {
			t.Fatalf("blank query: %v", err)
		}
	})
}
