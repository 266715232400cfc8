package storetest

import (
	"fmt"
	"sort"
	"testing"

	"github.com/hyphateam/hypha"
)

// testLookups covers the batch reads FindRecords and FindEmbeddings: only
// existing keys come back, each once, across tables, groves, machines and
// more ids than one statement holds.
func testLookups(t *testing.T, open OpenFunc) {
	t.Run("FindRecords", func(t *testing.T) {
		s, _ := setup(t, open)
		var recs []*hypha.Record
		var keys []hypha.RecordKey
		for i := range 1100 {
			r := record(t, "spores", "g", "m1", fmt.Sprintf("sp%04d", i), map[string]any{"project_id": projectID(1), "content": fmt.Sprint("text ", i)})
			recs = append(recs, r)
			if i%2 == 0 {
				keys = append(keys, r.Key())
			}
		}
		other := []*hypha.Record{
			record(t, "spores", "g2", "m1", "sp0000", map[string]any{"project_id": projectID(2), "content": "other grove"}),
			record(t, "spores", "g", "m2", "sp0000", map[string]any{"project_id": projectID(1), "content": "other machine"}),
			record(t, "plans", "g", "m1", "sp0000", map[string]any{"project_id": projectID(1), "content": "other table"}),
		}
		mustUpsert(t, s, append(recs, other...)...)
		keys = append(keys, other[0].Key(), other[2].Key(), key(t, "spores", "g", "m1", "missing"), keys[0])
		got, err := s.FindRecords(t.Context(), keys)
		if err != nil {
			t.Fatalf("FindRecords: %v", err)
		}
		if len(got) != 550+2 {
			t.Fatalf("FindRecords returned %d records, want 552 (550 spores, 2 others, no missing, no duplicate)", len(got))
		}
		byKey := map[string]*hypha.Record{}
		for _, r := range got {
			byKey[r.Table.Name+"/"+r.GroveID+"/"+r.MachineID+"/"+r.ID] = r
		}
		sameRecord(t, byKey["spores/g/m1/sp1098"], recs[1098])
		sameRecord(t, byKey["spores/g2/m1/sp0000"], other[0])
		sameRecord(t, byKey["plans/g/m1/sp0000"], other[2])
		if _, ok := byKey["spores/g/m2/sp0000"]; ok {
			t.Fatal("FindRecords returned a key it was not asked for")
		}
		if none, err := s.FindRecords(t.Context(), nil); err != nil || len(none) != 0 {
			t.Fatalf("FindRecords(nil) = %d, %v", len(none), err)
		}
	})
	t.Run("FindEmbeddings", func(t *testing.T) {
		s, _ := setup(t, open)
		var embs []*hypha.Embedding
		var keys []hypha.RecordKey
		for i := range 600 {
			e := &hypha.Embedding{Key: key(t, "spores", "g", "m1", fmt.Sprintf("sp%04d", i)), Model: "m", Vector: vector(8, i),
				ContentHash: fmt.Sprint("h", i), UpdatedAt: int64(i + 1)}
			embs = append(embs, e)
			keys = append(keys, e.Key)
		}
		elsewhere := &hypha.Embedding{Key: key(t, "spores", "g2", "m1", "sp0000"), Model: "m", Vector: vector(8, 9), UpdatedAt: 1}
		mustPutEmbeddings(t, s, append(embs[:599], elsewhere)...) // sp0599 has none
		got, err := s.FindEmbeddings(t.Context(), append(keys, key(t, "plans", "g", "m1", "sp0000")))
		if err != nil {
			t.Fatalf("FindEmbeddings: %v", err)
		}
		sort.Slice(got, func(i, j int) bool { return got[i].Key.ID < got[j].Key.ID })
		if len(got) != 599 {
			t.Fatalf("FindEmbeddings returned %d vectors, want 599", len(got))
		}
		for _, i := range []int{0, 499, 500, 598} {
			sameEmbedding(t, got[i], embs[i])
		}
	})
}
