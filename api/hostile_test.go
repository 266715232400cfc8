package api_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/api"
)

// TestHostile_PathAndQueryBytes: a NUL or invalid UTF-8 in a path or a
// query value is a clear 400 on both engines, before any store sees it.
func TestHostile_PathAndQueryBytes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		for _, p := range []string{
			"/records/spores/a%00b",
			"/records/spores/a%FFb",
			"/records/spores/x?machine_id=m%00",
			"/manifest?table=spores&machine_id=m%00",
			"/manifest?table=spores&machine_id=%C3%28",
			"/sync-summary?machine_id=%00",
			"/search?q=a%00",
			"/members/m%00",
			"/dlq?limit=1%00",
			"/manifest?ta%00ble=spores",
		} {
			method := "GET"
			if strings.HasPrefix(p, "/members/") {
				method = "DELETE"
			}
			status, _, body := e.do(method, p, e.auth(), nil)
			wantError(t, status, body, http.StatusBadRequest, hypha.EInvalid)
		}
	})
}

// TestHostile_NotFoundEchoIsBounded: a 404 never repeats an unbounded id.
func TestHostile_NotFoundEchoIsBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		long := strings.Repeat("x", 100_000)
		for _, p := range []string{"/records/spores/" + long, "/records/" + long + "/x", "/sync-summary?machine_id=" + long,
			"/manifest?table=spores&machine_id=" + long, "/search?q=x&mode=" + long} {
			status, _, raw := e.doRaw("GET", p, e.auth(), nil)
			if status/100 != 4 || len(raw) > 1024 {
				t.Errorf("GET %.40s… = %d with a %d-byte answer: %.200s", p, status, len(raw), raw)
			}
		}
		// Rejections echo a record's table and operation clipped.
		rec := map[string]any{"table": long, "operation": long, "id": "x", "machine_id": "m1", "data": map[string]any{}}
		rec2 := map[string]any{"table": "spores", "operation": long, "id": "y", "machine_id": "m1", "data": map[string]any{}}
		status, _, raw := e.doRaw("POST", "/enqueue", e.auth(), map[string]any{"sync_protocol_version": 3, "records": []any{rec, rec2}})
		if status != http.StatusOK || len(raw) > 2048 {
			t.Errorf("/enqueue of records with 100 KB table and operation = %d with a %d-byte answer", status, len(raw))
		}
	})
}

// TestHostile_BodyKeyBytes: a NUL in an id sent in a JSON body (dead-letter
// lease ids, MCP get ids) is a 400 on both engines, never a store error.
func TestHostile_BodyKeyBytes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		for _, route := range []string{"/dlq/retry", "/dlq/discard"} {
			status, _, body := e.do("POST", route, e.auth(), `{"lease_ids":["a\u0000b"]}`)
			wantError(t, status, body, http.StatusBadRequest, hypha.EInvalid)
		}
	})
}

// TestServer_ShutdownBeforeServe: a Shutdown that comes before Serve (a
// stop signal right at start) makes Serve return at once instead of
// serving forever.
func TestServer_ShutdownBeforeServe(t *testing.T) {
	e := newEnv(t, "sqlite")
	srv := &api.Server{Store: e.DB, Schema: e.Server.Schema, Auth: e.Creds, Credentials: e.Creds, Logger: e.Server.Logger}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Shutdown = %v", err)
		}
	case <-t.Context().Done():
		t.Fatal("Serve after Shutdown did not return")
	}
}
