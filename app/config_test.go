package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

func TestPutConfig_Validation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		cfg, err := s.Config(ctx)
		if err != nil {
			t.Fatal(err)
		}
		teamID := cfg["team_id"]
		if !app.TeamIDPattern.MatchString(teamID) {
			t.Fatalf("team_id = %q", teamID)
		}
		many := map[string]any{}
		for i := range app.MaxConfigKeysPerPut + 1 {
			many[fmt.Sprint("k", i)] = "v"
		}
		tests := []struct {
			name string
			body map[string]any
			code string
			msg  string
		}{
			{"empty", map[string]any{}, hypha.EInvalid, "Empty config body"},
			{"null value", map[string]any{"team_name": nil}, hypha.EInvalid, "must be a string, number or boolean, got null"},
			{"object value", map[string]any{"team_name": map[string]any{"a": 1}}, hypha.EInvalid, `got {"a":1}`},
			{"array value", map[string]any{"team_name": []any{1}}, hypha.EInvalid, "got [1]"},
			{"empty key", map[string]any{"": "x"}, hypha.EInvalid, "config key"},
			{"key with a space", map[string]any{"team name": "x"}, hypha.EInvalid, `config key "team name"`},
			{"key with NUL", map[string]any{"a\x00": "x"}, hypha.EInvalid, "config key"},
			{"key too long", map[string]any{strings.Repeat("k", app.MaxConfigKeyBytes+1): "x"}, hypha.EInvalid, "must be 1-128"},
			{"value with NUL", map[string]any{"team_name": "a\x00"}, hypha.EInvalid, "UTF-8 text without NUL"},
			{"value not UTF-8", map[string]any{"team_name": "a\xff"}, hypha.EInvalid, "UTF-8 text without NUL"},
			{"value too long", map[string]any{"team_name": strings.Repeat("x", app.MaxConfigValueBytes+1)}, hypha.ETooLarge, "over the 16384-byte limit"},
			{"too many keys", many, hypha.ETooLarge, "201 config keys in one request; at most 200"},
			{"another team_id", map[string]any{"team_id": "team_0123456789abcdef0123456789abcdef", "team_name": "X"}, hypha.EForbidden, "team_id is owned by the server"},
			{"malformed team_id", map[string]any{"team_id": "/etc/passwd"}, hypha.EInvalid, "team_id must be team_<32 hex digits>"},
			{"empty team_id", map[string]any{"team_id": ""}, hypha.EInvalid, "team_id must be team_<32 hex digits>"},
			{"embedding model", map[string]any{"embedding_model": "@cf/baai/bge-m3"}, hypha.EForbidden, "embedding_model is owned by the server"},
			{"embedding dimensions", map[string]any{"embedding_dimensions": json.Number("1024")}, hypha.EForbidden, "it is not set"},
			{"reindex status", map[string]any{"vector_reindex_status": "queued"}, hypha.EForbidden, "vector reindex"},
			{"legacy reindex key", map[string]any{"vector_reindex_last_table": "spores"}, hypha.EForbidden, "owned by the server"},
		}
		for _, tt := range tests {
			n, err := s.PutConfig(ctx, tt.body)
			if hypha.ErrorCode(err) != tt.code || !strings.Contains(hypha.ErrorMessage(err), tt.msg) {
				t.Errorf("%s: %d, %v (%s); want %s containing %q", tt.name, n, err, hypha.ErrorCode(err), tt.code, tt.msg)
			}
		}
		after, _ := s.Config(ctx)
		if after["team_id"] != teamID || after["team_name"] != cfg["team_name"] || len(after) != len(cfg) {
			t.Fatalf("refused PUTs wrote something: %v, was %v", after, cfg)
		}
		// A server-owned key sent with the value it has is accepted: a
		// daemon may re-seed what it read.
		if n, err := s.PutConfig(ctx, map[string]any{"team_id": teamID, "team_name": "Ants", "created_at": json.Number("1700000000")}); err != nil || n != 3 {
			t.Fatalf("unchanged team_id with other keys: %d, %v", n, err)
		}
		if after, _ := s.Config(ctx); after["team_name"] != "Ants" || after["created_at"] != "1700000000" || after["team_id"] != teamID {
			t.Fatalf("config = %v", after)
		}
	})
}

func TestPutConfig_TotalLimits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		cfg, err := s.Config(ctx)
		if err != nil {
			t.Fatal(err)
		}
		room := app.MaxConfigKeys - len(cfg)
		put := func(from, n int) error {
			body := map[string]any{}
			for i := from; i < from+n; i++ {
				body[fmt.Sprintf("key_%04d", i)] = "v"
			}
			_, err := s.PutConfig(ctx, body)
			return err
		}
		for from := 0; from < room-1; from += app.MaxConfigKeysPerPut {
			if err := put(from, min(app.MaxConfigKeysPerPut, room-1-from)); err != nil {
				t.Fatalf("filling up to one key short of the limit: %v", err)
			}
		}
		if err := put(room-1, 2); hypha.ErrorCode(err) != hypha.ETooLarge || !strings.Contains(err.Error(), fmt.Sprintf("%d keys, over the limit of %d", app.MaxConfigKeys+1, app.MaxConfigKeys)) {
			t.Fatalf("one key over the limit: %v", err)
		}
		if err := put(room-1, 1); err != nil {
			t.Fatalf("the last key that fits: %v", err)
		}
		// Replacing values never counts as new keys.
		if _, err := s.PutConfig(ctx, map[string]any{"key_0000": "w", "team_name": "Ants"}); err != nil {
			t.Fatalf("replacing values at the key limit: %v", err)
		}
	})
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		big := strings.Repeat("x", app.MaxConfigValueBytes)
		var err error
		i := 0
		for ; err == nil && i < 100; i++ {
			_, err = s.PutConfig(ctx, map[string]any{fmt.Sprint("blob_", i): big})
		}
		if hypha.ErrorCode(err) != hypha.ETooLarge || !strings.Contains(err.Error(), "bytes of keys and values, over the limit") || i != app.MaxConfigBytes/app.MaxConfigValueBytes {
			t.Fatalf("after %d values of 16 KiB: %v", i, err)
		}
		// Shrinking stays possible even when a store was filled past the
		// limit by other means.
		if err := db.PutTeamConfig(ctx, map[string]string{"blob_x": big, "blob_y": big}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutConfig(ctx, map[string]any{"blob_x": "small"}); err != nil {
			t.Fatalf("shrinking a value over the limit: %v", err)
		}
		if _, err := s.PutConfig(ctx, map[string]any{"blob_z": "new"}); hypha.ErrorCode(err) != hypha.ETooLarge {
			t.Fatalf("growing while over the limit: %v", err)
		}
	})
}

func TestSetTeamID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		const id = "team_0123456789abcdef0123456789abcdef"
		if err := app.SetTeamID(ctx, db, "team_XYZ"); hypha.ErrorCode(err) != hypha.EInvalid {
			t.Fatalf("malformed: %v", err)
		}
		if err := app.SetTeamID(ctx, db, id); err != nil {
			t.Fatal(err)
		}
		if cfg, _ := s.Config(ctx); cfg["team_id"] != id {
			t.Fatalf("team_id = %q", cfg["team_id"])
		}
		if _, err := s.PutConfig(ctx, map[string]any{"team_id": id}); err != nil {
			t.Fatalf("re-seeding the operator's team_id: %v", err)
		}
	})
}
