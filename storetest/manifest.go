package storetest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/hyphateam/hypha"
)

// manifestIDs are ids around every boundary where bytewise and numeric
// order differ (9/10, 99/100/101, 1000), plus ids that are not integers:
// leading zeros, a sign, letters, a digit-leading word, and non-ASCII.
var manifestIDs = []string{
	"1", "2", "9", "10", "11", "19", "20", "99", "100", "101", "999", "1000", "0",
	"9223372036854775807", "18446744073709551616", // past int64: still a number
	"007", "-5", "abc", "10a", "B", "a", "ü", "1 ", " 1",
}

// manifestOrderInteger is the order of manifestIDs in an IntegerID table:
// the integers by value, then the rest bytewise.
var manifestOrderInteger = []string{
	"0", "1", "2", "9", "10", "11", "19", "20", "99", "100", "101", "999", "1000",
	"9223372036854775807", "18446744073709551616",
	" 1", "-5", "007", "1 ", "10a", "B", "a", "abc", "ü",
}

func testManifest(t *testing.T, open OpenFunc) {
	t.Run("IntegerIDsInNumericOrder", func(t *testing.T) {
		s, _ := setup(t, open)
		mustGrove(t, s, "g")
		putManifestRows(t, s, "prompt_batches", manifestIDs)
		for _, limit := range []int{1, 2, 3, 5, 1000} {
			if got := manifestWalk(t, s, "prompt_batches", limit); !reflect.DeepEqual(got, manifestOrderInteger) {
				t.Fatalf("limit %d: pages gave %q, want %q", limit, got, manifestOrderInteger)
			}
		}
	})
	t.Run("CursorsInsideTheOrder", func(t *testing.T) {
		s, _ := setup(t, open)
		mustGrove(t, s, "g")
		putManifestRows(t, s, "digest_extracts", manifestIDs)
		tests := []struct{ cursor, want string }{
			{"9", "10"}, {"99", "100"}, {"100", "101"}, {"1000", "9223372036854775807"},
			{"50", "99"},                   // not an id held: the next one in the order
			{"18446744073709551616", " 1"}, // the last integer: the others follow
			{"0", "1"}, {"05", "1 "},       // a leading zero is not an integer: among the others
			{"abc", "ü"}, {"ü", ""}, // bytewise among the others
		}
		for _, tt := range tests {
			page, err := s.ManifestPage(t.Context(), hypha.ManifestQuery{Table: table(t, "digest_extracts"), GroveID: "g", MachineID: "m1", Cursor: tt.cursor, Limit: 1})
			if err != nil {
				t.Fatalf("cursor %q: %v", tt.cursor, err)
			}
			got := ""
			if len(page.Items) > 0 {
				got = page.Items[0].ID
			}
			if got != tt.want {
				t.Errorf("after cursor %q: %q, want %q", tt.cursor, got, tt.want)
			}
		}
	})
	t.Run("EveryIntegerKeyedTable", func(t *testing.T) {
		s, _ := setup(t, open)
		mustGrove(t, s, "g")
		for _, tb := range hypha.SyncedTables {
			if !tb.InManifest {
				continue
			}
			ids := []string{"10", "9", "100", "x"}
			putManifestRows(t, s, tb.Name, ids)
			want := []string{"10", "100", "9", "x"} // bytewise
			if tb.IntegerID {
				want = []string{"9", "10", "100", "x"}
			}
			if got := manifestWalk(t, s, tb.Name, 2); !reflect.DeepEqual(got, want) {
				t.Errorf("%s (IntegerID %v): %q, want %q", tb.Name, tb.IntegerID, got, want)
			}
		}
	})
	t.Run("ProjectFilterKeepsTheOrder", func(t *testing.T) {
		s, _ := setup(t, open)
		mustGrove(t, s, "g")
		var recs []*hypha.Record
		for i := 1; i <= 120; i++ {
			data := map[string]any{hypha.ColProject: projectID(i % 2), "session_id": "s"}
			recs = append(recs, record(t, "knowledge_release_state", "g", "m1", fmt.Sprint(i), data))
		}
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		mustUpsert(t, s, recs...)
		var got []string
		cursor := ""
		for {
			page, err := s.ManifestPage(t.Context(), hypha.ManifestQuery{Table: table(t, "knowledge_release_state"), GroveID: "g", MachineID: "m1",
				ProjectID: projectID(1), Cursor: cursor, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if page.Count != 60 {
				t.Fatalf("count = %d, want 60", page.Count)
			}
			for _, it := range page.Items {
				got = append(got, it.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		var want []string
		for i := 1; i <= 120; i += 2 {
			want = append(want, fmt.Sprint(i))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("odd ids of project 1 = %q, want %q", got, want)
		}
	})
	t.Run("OrderMatchesManifestIDLess", func(t *testing.T) {
		sorted := slices.Clone(manifestIDs)
		slices.SortFunc(sorted, func(a, b string) int {
			switch {
			case hypha.ManifestIDLess(a, b):
				return -1
			case hypha.ManifestIDLess(b, a):
				return 1
			}
			return 0
		})
		if !reflect.DeepEqual(sorted, manifestOrderInteger) {
			t.Fatalf("ManifestIDLess sorts %q, want %q", sorted, manifestOrderInteger)
		}
	})
}

// putManifestRows stores rows of one machine with the given ids, in a
// shuffled order so that insertion order cannot pass for the right one.
func putManifestRows(t *testing.T, s hypha.Queries, tableName string, ids []string) {
	t.Helper()
	ids = slices.Clone(ids)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	var recs []*hypha.Record
	for _, id := range ids {
		recs = append(recs, record(t, tableName, "g", "m1", id, map[string]any{hypha.ColProject: projectID(1)}))
	}
	mustUpsert(t, s, recs...)
}

// manifestWalk pages through one machine's manifest of a table and returns
// the ids in the order the pages gave them.
func manifestWalk(t *testing.T, s hypha.Queries, tableName string, limit int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 1000 {
		page, err := s.ManifestPage(t.Context(), hypha.ManifestQuery{Table: table(t, tableName), GroveID: "g", MachineID: "m1", Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("ManifestPage(%s, cursor %q): %v", tableName, cursor, err)
		}
		if len(page.Items) > limit {
			t.Fatalf("%d items for limit %d", len(page.Items), limit)
		}
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			return ids
		}
	}
	t.Fatal("manifest pages never end")
	return nil
}
