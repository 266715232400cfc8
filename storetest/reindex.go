package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hyphateam/hypha"
)

// testReindex covers what a reindex and an embedder change rely on: paging
// through exactly the rows the consumer embeds, and dropping the vectors of
// another model.
func testReindex(t *testing.T, open OpenFunc) {
	t.Run("ListEmbeddableKeysMatchesTheConsumer", func(t *testing.T) {
		s, _ := setup(t, open)
		p := projectID(1)
		recs := []*hypha.Record{
			record(t, "spores", "g", "m2", "a", map[string]any{"project_id": p, "content": "active", "status": "active"}),
			record(t, "spores", "g", "m1", "z", map[string]any{"project_id": p, "content": "active too"}),
			record(t, "spores", "g", "m1", "b", map[string]any{"project_id": p, "content": "gone", "status": "superseded"}),
			record(t, "spores", "g", "m1", "c", map[string]any{"project_id": p, "content": "", "status": "active"}),
			record(t, "spores", "g", "m1", "d", map[string]any{"project_id": p, "status": "active"}),
			record(t, "spores", "g2", "m1", "a", map[string]any{"project_id": projectID(2), "content": "other grove"}),
			record(t, "sessions", "g", "m1", "s1", map[string]any{"project_id": p, "summary": "a summary"}),
			record(t, "sessions", "g", "m1", "s2", map[string]any{"project_id": p, "title": "no summary"}),
		}
		for i := range 7 {
			recs = append(recs, record(t, "spores", "g", "m1", fmt.Sprintf("n%d", i), map[string]any{"project_id": p, "content": fmt.Sprint("idea ", i)}))
		}
		mustUpsert(t, s, recs...)
		var want []string
		for _, r := range recs {
			if r.Table.Name == "spores" && r.GroveID == "g" && r.Embeddable() {
				want = append(want, r.MachineID+"/"+r.ID)
			}
		}
		slices.Sort(want)
		spores := table(t, "spores")
		var got []string
		q := hypha.EmbeddableQuery{Table: spores, GroveID: "g", Limit: 3}
		for page := 0; ; page++ {
			keys, err := s.ListEmbeddableKeys(t.Context(), q)
			if err != nil {
				t.Fatalf("ListEmbeddableKeys page %d: %v", page, err)
			}
			for _, k := range keys {
				if k.Table != spores || k.GroveID != "g" {
					t.Fatalf("key %+v is not of spores in grove g", k)
				}
				got = append(got, k.MachineID+"/"+k.ID)
			}
			if len(keys) < q.Limit {
				break
			}
			last := keys[len(keys)-1]
			q.AfterMachineID, q.AfterID = last.MachineID, last.ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages gave %v, want %v (machine then id order, active spores with text only)", got, want)
		}
		counts, err := s.CountEmbeddable(t.Context(), "g")
		if err != nil {
			t.Fatal(err)
		}
		if counts["spores"] != int64(len(want)) || counts["sessions"] != 1 {
			t.Fatalf("CountEmbeddable = %v, want spores %d and sessions 1, as listed", counts, len(want))
		}
		sessions, err := s.ListEmbeddableKeys(t.Context(), hypha.EmbeddableQuery{Table: table(t, "sessions"), GroveID: "g"})
		if err != nil || len(sessions) != 1 || sessions[0].ID != "s1" {
			t.Fatalf("sessions = %+v, %v; want s1 only", sessions, err)
		}
		_, err = s.ListEmbeddableKeys(t.Context(), hypha.EmbeddableQuery{Table: table(t, "entities"), GroveID: "g"})
		wantCode(t, err, hypha.EInvalid)
	})
	t.Run("DeleteEmbeddingsNotOfModel", func(t *testing.T) {
		s, _ := setup(t, open)
		keep := []*hypha.Embedding{
			{Key: key(t, "spores", "g1", "m", "a"), Model: "new", Vector: vector(4, 1), UpdatedAt: 1},
			{Key: key(t, "plans", "g2", "m", "b"), Model: "new", Vector: vector(4, 2), UpdatedAt: 1},
		}
		drop := []*hypha.Embedding{
			{Key: key(t, "spores", "g1", "m", "old"), Model: "old", Vector: vector(4, 3), UpdatedAt: 1},
			{Key: key(t, "sessions", "g2", "m", "wide"), Model: "new", Vector: vector(8, 4), UpdatedAt: 1},
			{Key: key(t, "spores", "g3", "m", "x"), Model: "new-ish", Vector: vector(4, 5), UpdatedAt: 1},
		}
		mustPutEmbeddings(t, s, append(slices.Clone(keep), drop...)...)
		n, err := s.DeleteEmbeddingsNotOfModel(t.Context(), "new", 4)
		if err != nil || n != 3 {
			t.Fatalf("DeleteEmbeddingsNotOfModel = %d, %v; want 3", n, err)
		}
		for _, e := range keep {
			sameEmbedding(t, mustFindEmbedding(t, s, e.Key), e)
		}
		for _, e := range drop {
			wantNoEmbedding(t, s, e.Key)
		}
		for g, want := range map[string]int64{"g1": 1, "g2": 1, "g3": 0} {
			if got, err := s.CountEmbeddings(t.Context(), g); err != nil || got != want {
				t.Fatalf("CountEmbeddings(%s) = %d, %v; want %d", g, got, err, want)
			}
		}
		if n, err := s.DeleteEmbeddingsNotOfModel(t.Context(), "new", 4); err != nil || n != 0 {
			t.Fatalf("second DeleteEmbeddingsNotOfModel = %d, %v; want 0", n, err)
		}
	})
}
