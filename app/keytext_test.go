package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

// TestSync_KeyBytesRejectedPerRecord: a NUL (or, from Go callers, invalid
// UTF-8) in a record's id, machine id or content hash is rejected with
// that record only, with the same answer on both engines; before, a NUL
// key failed the whole batch on PostgreSQL and was stored by SQLite.
func TestSync_KeyBytesRejectedPerRecord(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		noMachine := func(id string) json.RawMessage {
			b, _ := json.Marshal(map[string]any{"table": "spores", "operation": "upsert", "id": id,
				"data": map[string]any{"project_id": projA, "content": "c", "status": "active"}})
			return b
		}
		tests := []struct {
			name     string
			envelope string
			raw      json.RawMessage
			want     string // "" when accepted
		}{
			{"good", "m1", spore("ok1", "fine"), ""},
			{"NUL in id", "m1", spore("a\x00b", "c"), "id contains a NUL byte"},
			{"NUL in machine_id", "m1", rec("spores", "upsert", "s2", "m\x00", map[string]any{"project_id": projA}), "machine_id contains a NUL byte"},
			{"NUL in content_hash", "m1", json.RawMessage(`{"table":"spores","operation":"upsert","id":"s3","machine_id":"m1","content_hash":"h\u0000","data":{"project_id":"` + projA + `"}}`), "content_hash contains a NUL byte"},
			{"NUL in a delete's id", "m1", rec("spores", "delete", "d\x00", "m1", nil), "id contains a NUL byte"},
			{"NUL in an embed's machine", "m1", rec("spores", "embed", "e1", "\x00", map[string]any{}), "machine_id contains a NUL byte"},
			{"NUL in the envelope machine", "m\x00", noMachine("s4"), "machine_id contains a NUL byte"},
			{"invalid UTF-8 envelope machine", "m\xff", noMachine("s5"), "machine_id is not valid UTF-8"},
			{"bad envelope, own machine", "m\xff", spore("ok2", "fine"), ""},
			{"NUL in a team member id", "m1", rec("team_members", "upsert", "u\x00", "m1", map[string]any{"user": "al"}), "id contains a NUL byte"},
			{"NUL in text", "m1", spore("s6", "a\x00b"), "NUL"},
		}
		// All at once per envelope: the good records must survive the bad.
		byEnvelope := map[string][]json.RawMessage{}
		var order []string
		for _, tt := range tests {
			if _, ok := byEnvelope[tt.envelope]; !ok {
				order = append(order, tt.envelope)
			}
			byEnvelope[tt.envelope] = append(byEnvelope[tt.envelope], tt.raw)
		}
		rejections := map[string]string{}
		accepted := 0
		for _, env := range order {
			res, err := s.Enqueue(ctx, "g1", &app.EnqueueRequest{Protocol: 3, MachineID: env, Records: byEnvelope[env]})
			if err != nil {
				t.Fatalf("envelope %q: the batch failed: %v", env, err)
			}
			accepted += res.Accepted
			for _, r := range res.Rejected {
				rejections[r.ID] = r.Error
			}
		}
		for _, tt := range tests {
			var w struct{ ID string }
			_ = json.Unmarshal(tt.raw, &w)
			got, rejected := rejections[w.ID]
			if tt.want == "" {
				if rejected {
					t.Errorf("%s: rejected (%s), want accepted", tt.name, got)
				}
				continue
			}
			if !rejected || !strings.Contains(got, tt.want) {
				t.Errorf("%s: rejection %q (rejected %v), want one containing %q", tt.name, got, rejected, tt.want)
			}
		}
		if accepted != 2 {
			t.Errorf("accepted %d records, want the 2 good ones", accepted)
		}
		for _, id := range []string{"ok1", "ok2"} {
			if _, err := s.FindRecord(ctx, "g1", "spores", id, "m1"); err != nil {
				t.Errorf("good record %s: %v", id, err)
			}
		}
	})
}

// TestSync_KeyBytesRefusedInLookups: every lookup by id or machine id
// refuses bytes no engine can hold as an invalid-input error naming the
// field, on both engines, never a store error.
func TestSync_KeyBytesRefusedInLookups(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		enqueue(t, s, "g1", 3, spore("s1", "c"))
		search := &app.Search{Store: db}
		for _, bad := range []struct{ name, value, msg string }{
			{"NUL", "a\x00b", "contains a NUL byte"},
			{"invalid UTF-8", "a\xffb", "is not valid UTF-8"},
			{"truncated rune", "\xe6\x97", "is not valid UTF-8"},
		} {
			calls := []struct {
				name, field string
				call        func() error
			}{
				{"FindRecord id", "id", func() error { _, err := s.FindRecord(ctx, "g1", "spores", bad.value, ""); return err }},
				{"FindRecord machine_id", "machine_id", func() error { _, err := s.FindRecord(ctx, "g1", "spores", "s1", bad.value); return err }},
				{"Manifest machine_id", "machine_id", func() error {
					_, _, err := s.Manifest(ctx, "g1", app.ManifestRequest{MachineID: bad.value, Table: "spores"})
					return err
				}},
				{"Manifest cursor", "cursor", func() error {
					_, _, err := s.Manifest(ctx, "g1", app.ManifestRequest{MachineID: "m1", Table: "prompt_batches", Cursor: bad.value})
					return err
				}},
				{"Manifest project_id", "project_id", func() error {
					_, _, err := s.Manifest(ctx, "g1", app.ManifestRequest{MachineID: "m1", Table: "spores", ProjectID: bad.value, Summary: true})
					return err
				}},
				{"SyncSummary", "machine_id", func() error { _, err := s.SyncSummary(ctx, "g1", bad.value); return err }},
				{"RemoveMember", "machine_id", func() error { _, err := s.RemoveMember(ctx, "g1", bad.value); return err }},
				{"Rebuild", "machine_id", func() error { _, err := s.Rebuild(ctx, "g1", bad.value); return err }},
				{"Search machine_id", "machine_id", func() error {
					_, err := search.Search(ctx, "g1", hypha.SearchQuery{Text: "c", MachineID: bad.value})
					return err
				}},
				{"Search project_id", "project_id", func() error {
					_, err := search.Search(ctx, "g1", hypha.SearchQuery{Text: "c", ProjectID: bad.value})
					return err
				}},
			}
			for _, c := range calls {
				err := c.call()
				if hypha.ErrorCode(err) != hypha.EInvalid || !strings.HasPrefix(hypha.ErrorMessage(err), c.field+" ") || !strings.Contains(err.Error(), bad.msg) {
					t.Errorf("%s with %s: %v (code %s), want invalid naming %s: %s", c.name, bad.name, err, hypha.ErrorCode(err), c.field, bad.msg)
				}
			}
		}
		if _, err := s.RemoveMember(ctx, "g1", ""); hypha.ErrorCode(err) != hypha.EInvalid {
			t.Errorf("RemoveMember without machine: %v", err)
		}
		// Nothing was touched.
		if _, err := s.FindRecord(ctx, "g1", "spores", "s1", "m1"); err != nil {
			t.Fatalf("s1 after refused lookups: %v", err)
		}
	})
}
