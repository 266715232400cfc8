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
	t.Run("ListRecordsIn", func(t *testing.T) {
		s, _ := setup(t, open)
		var recs []*hypha.Record
		for i, ns := range []string{"spores", "plans", "sessions"} {
			for j := range 4 {
				recs = append(recs, record(t, "knowledge_release_state", "g", "m1", fmt.Sprintf("%s-%d", ns, j),
					map[string]any{"project_id": projectID(1), "namespace": ns, "record_id": fmt.Sprint("r", j), "checked_at": int64(10*i + j)}))
			}
		}
		recs = append(recs, record(t, "knowledge_release_state", "g2", "m1", "spores-0",
			map[string]any{"project_id": projectID(2), "namespace": "spores", "record_id": "r0"}))
		mustUpsert(t, s, recs...)
		rs := hypha.LookupTable("knowledge_release_state")
		list := func(in ...hypha.ColumnIn) []string {
			t.Helper()
			rows, err := s.ListRecords(t.Context(), hypha.RecordFilter{Table: rs, GroveID: "g", In: in})
			if err != nil {
				t.Fatalf("ListRecords(%v): %v", in, err)
			}
			var ids []string
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			sort.Strings(ids)
			return ids
		}
		got := list(hypha.ColumnIn{Column: "namespace", Values: []any{"spores", "sessions", "nope"}},
			hypha.ColumnIn{Column: "record_id", Values: []any{"r1", "r3", "r9"}})
		if want := []string{"sessions-1", "sessions-3", "spores-1", "spores-3"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("two IN conditions: %v, want %v", got, want)
		}
		if got := list(hypha.ColumnIn{Column: "record_id", Values: []any{"r0"}}); len(got) != 3 {
			t.Fatalf("one IN condition: %v, want the three r0 rows of grove g", got)
		}
		if got := list(hypha.ColumnIn{Column: "namespace", Values: []any{"spores"}}, hypha.ColumnIn{Column: "record_id"}); len(got) != 0 {
			t.Fatalf("an empty IN list selected %v", got)
		}
		for _, in := range []hypha.ColumnIn{{Column: "no_such_column", Values: []any{"x"}}, {Column: "record_id", Values: make([]any, 1001)}} {
			if _, err := s.ListRecords(t.Context(), hypha.RecordFilter{Table: rs, GroveID: "g", In: []hypha.ColumnIn{in}}); hypha.ErrorCode(err) != hypha.EInvalid {
				t.Fatalf("IN on %s with %d values: %v, want EInvalid", in.Column, len(in.Values), err)
			}
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
