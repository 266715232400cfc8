package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

// TestSync_ManifestIntegerOrder: /manifest of an integer-keyed table
// pages its ids as numbers, as upstream's INTEGER column does (the ids
// 7 and 10 of the captured protocol-3 client come as 7, 10), and a text
// table bytewise.
func TestSync_ManifestIntegerOrder(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		var batch []json.RawMessage
		ids := []int{100, 9, 10, 1, 101, 11, 99, 2, 7}
		for _, id := range ids {
			batch = append(batch,
				rec("prompt_batches", "upsert", fmt.Sprint(id), "m1", map[string]any{"id": id, "project_id": projA, "session_id": "s"}),
				rec("sessions", "upsert", fmt.Sprint(id), "m1", map[string]any{"project_id": projA, "agent": "a"}))
		}
		if res := enqueue(t, s, "g1", 3, batch...); res.Accepted != 2*len(ids) {
			t.Fatalf("enqueue: %+v", res)
		}
		walk := func(table string, limit int) []string {
			var out []string
			cursor := ""
			for range 100 {
				page, _, err := s.Manifest(ctx, "g1", app.ManifestRequest{MachineID: "m1", Table: table, Limit: limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range page.Items {
					out = append(out, it.ID)
				}
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			return out
		}
		numeric := []string{"1", "2", "7", "9", "10", "11", "99", "100", "101"}
		bytewise := []string{"1", "10", "100", "101", "11", "2", "7", "9", "99"}
		for _, limit := range []int{1, 2, 4, 200} {
			if got := walk("prompt_batches", limit); !reflect.DeepEqual(got, numeric) {
				t.Errorf("prompt_batches, limit %d: %q, want %q", limit, got, numeric)
			}
			if got := walk("sessions", limit); !reflect.DeepEqual(got, bytewise) {
				t.Errorf("sessions, limit %d: %q, want %q", limit, got, bytewise)
			}
		}
		// The captured client's second page: cursor 10, limit 1.
		page, _, err := s.Manifest(ctx, "g1", app.ManifestRequest{MachineID: "m1", Table: "prompt_batches", Limit: 1, Cursor: "10"})
		if err != nil || len(page.Items) != 1 || page.Items[0].ID != "11" || page.NextCursor != "11" {
			t.Fatalf("after cursor 10: %+v, %v", page, err)
		}
	})
}
