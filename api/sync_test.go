package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/api"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/wire"
)

const projA = "proj_0123456789abcdef0123456789abcdef"

// withSync adds the ingest service to an env.
func withSync(e *env) { e.Server.Sync = &app.Sync{Store: e.DB} }

func sporeRec(id, content string) map[string]any {
	return map[string]any{"table": "spores", "operation": "upsert", "id": id, "machine_id": "m1",
		"data": map[string]any{"project_id": projA, "content": content, "status": "active", "agent_id": "a", "observation_type": "gotcha"}}
}

func enqueueBody(recs ...map[string]any) map[string]any {
	return map[string]any{"sync_protocol_version": 3, "machine_id": "m1", "records": recs}
}

func TestEnqueueRoute(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSync)
		status, hdr, body := e.do("POST", "/enqueue", e.auth(), enqueueBody(sporeRec("s1", "hello"), map[string]any{"table": "nope", "operation": "upsert", "id": "x"}))
		if status != 200 || body["accepted"] != float64(1) || hdr.Get(wire.HeaderProtocol) != "3" {
			t.Fatalf("enqueue = %d %v (protocol header %q)", status, body, hdr.Get(wire.HeaderProtocol))
		}
		rej, _ := body["rejected"].([]any)
		if len(rej) != 1 || rej[0].(map[string]any)["error"] != "Unknown table: nope" {
			t.Fatalf("rejected = %v", body["rejected"])
		}
		// Protocol window: typed 409 with the server's window.
		status, _, body = e.do("POST", "/enqueue", e.auth(), map[string]any{"sync_protocol_version": 9, "records": []any{sporeRec("s2", "x")}})
		if status != 409 || body["error"] != "protocol_version_unsupported" || body["code"] != "protocol_version_unsupported" ||
			body["sync_protocol_version"] != float64(3) || body["min_compat_client_version"] != float64(1) {
			t.Fatalf("out-of-window enqueue = %d %v", status, body)
		}
		// A missing version counts as v1, which cannot embed.
		status, _, body = e.do("POST", "/enqueue", e.auth(), map[string]any{"records": []any{map[string]any{"table": "spores", "operation": "embed", "id": "s1", "machine_id": "m1"}}})
		if status != 409 || body["code"] != "protocol_too_old_for_embed" {
			t.Fatalf("embed without version = %d %v", status, body)
		}
		// Records that are not an array are refused, not taken as an
		// empty batch: the client would believe its rows were sent.
		for _, bad := range []any{"nope", map[string]any{}, 7, nil} {
			status, _, body = e.do("POST", "/enqueue", e.auth(), map[string]any{"sync_protocol_version": 3, "records": bad})
			wantError(t, status, body, 400, hypha.EInvalid)
		}
		for _, bad := range []string{`{"records": [`, `not json`, `{"a":1} trailing`, ``} {
			status, _, body = e.do("POST", "/enqueue", e.auth(), bad)
			wantError(t, status, body, 400, hypha.EBadJSON)
		}
		status, _, body = e.do("POST", "/enqueue", e.auth(), `{"sync_protocol_version":"three","records":[]}`)
		wantError(t, status, body, 400, hypha.EInvalid)
		big := strings.Repeat("x", api.DefaultMaxBodyBytes)
		status, _, body = e.do("POST", "/enqueue", e.auth(), enqueueBody(sporeRec("s3", big)))
		wantError(t, status, body, 413, hypha.ETooLarge)
		status, hdr, body = e.do("GET", "/enqueue", e.auth(), nil)
		wantError(t, status, body, 405, hypha.EMethodNotAllowed)
		if hdr.Get("Allow") != "POST" {
			t.Errorf("Allow = %q", hdr.Get("Allow"))
		}
		// Legacy /sync answers in the old shape.
		status, _, body = e.do("POST", "/sync", e.auth(), enqueueBody(sporeRec("s1", "hello"), sporeRec("s4", "new")))
		if status != 200 || body["synced"] != float64(2) || body["skipped"] != float64(0) {
			t.Fatalf("/sync = %d %v", status, body)
		}
		// A delete of a row the server never had is applied all the same:
		// synced, or a 0.12.x daemon re-sends its batch forever.
		del := map[string]any{"table": "spores", "operation": "delete", "id": "never-had", "machine_id": "m1"}
		status, _, body = e.do("POST", "/sync", e.auth(), map[string]any{"sync_protocol_version": 1, "machine_id": "m1", "records": []any{del}})
		if status != 200 || body["synced"] != float64(1) {
			t.Fatalf("/sync of a delete of an absent row = %d %v, want synced 1", status, body)
		}
		// Resent unchanged: skipped, never 0 and 0.
		status, _, body = e.do("POST", "/sync", e.auth(), enqueueBody(sporeRec("s1", "hello")))
		if status != 200 || body["synced"].(float64)+body["skipped"].(float64) != 1 {
			t.Fatalf("/sync resent = %d %v", status, body)
		}
	})
}

func TestRecordsRoute(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSync)
		slashID := "notes/2024/a b"
		e.do("POST", "/enqueue", e.auth(), enqueueBody(sporeRec("s1", "hello"), sporeRec(slashID, "slashed")))
		status, _, body := e.do("GET", "/records/spores/s1", e.auth(), nil)
		rec, _ := body["record"].(map[string]any)
		if status != 200 || rec["content"] != "hello" || rec["machine_id"] != "m1" || rec["project_id"] != projA {
			t.Fatalf("/records = %d %v", status, body)
		}
		status, _, body = e.do("GET", "/records/spores/"+url.PathEscape(slashID), e.auth(), nil)
		if rec, _ := body["record"].(map[string]any); status != 200 || rec["content"] != "slashed" {
			t.Fatalf("/records with %%2F = %d %v", status, body)
		}
		status, _, body = e.do("GET", "/records/spores/missing", e.auth(), nil)
		wantError(t, status, body, 404, hypha.ENotFound)
		status, _, body = e.do("GET", "/records/prompt_batches/1", e.auth(), nil)
		wantError(t, status, body, 400, hypha.EInvalid)
		// Another grove sees nothing of this one.
		status, _, body = e.do("GET", "/records/spores/s1", e.auth(wire.HeaderGrove, "elsewhere"), nil)
		wantError(t, status, body, 404, hypha.ENotFound)
		// A grove's MCP token reads its own grove.
		conn := e.mustConnect(hypha.DefaultGroveID, "daemon-1", "m1")
		tok := conn["mcp_access_token"].(string)
		if status, _, body = e.do("GET", "/records/spores/s1", e.bearer(tok), nil); status != 200 {
			t.Fatalf("/records with the grove token = %d %v", status, body)
		}
		status, _, body = e.do("GET", "/records/spores/s1", e.bearer(tok, wire.HeaderGrove, "elsewhere"), nil)
		wantError(t, status, body, 403, hypha.EGroveForbidden)
		status, _, body = e.do("POST", "/enqueue", e.bearer(tok), enqueueBody(sporeRec("s9", "x")))
		wantError(t, status, body, 403, hypha.EForbidden)
	})
}

func TestManifestConfigMembersSummaryRebuild(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSync)
		var recs []map[string]any
		for i := 1; i <= 3; i++ {
			recs = append(recs, map[string]any{"table": "prompt_batches", "operation": "upsert", "id": i, "machine_id": "m1",
				"content_hash": fmt.Sprint("h", i), "data": map[string]any{"project_id": projA, "session_id": "s"}})
		}
		recs = append(recs, map[string]any{"table": "team_members", "operation": "upsert", "id": "tm", "machine_id": "m1", "data": map[string]any{"user": "ana", "role": "lead"}})
		e.do("POST", "/enqueue", e.auth(), enqueueBody(recs...))

		status, _, body := e.do("GET", "/manifest?machine_id=m1&table=prompt_batches&limit=2", e.auth(), nil)
		items, _ := body["items"].([]any)
		if status != 200 || body["count"] != float64(3) || len(items) != 2 || body["next_cursor"] != "2" {
			t.Fatalf("manifest page 1 = %d %v", status, body)
		}
		if it := items[0].(map[string]any); it["id"] != "1" || it["content_hash"] != "h1" || it["project_id"] != projA {
			t.Fatalf("manifest item = %v (ids are strings)", it)
		}
		status, _, body = e.do("GET", "/manifest?machine_id=m1&table=prompt_batches&summary=1&project_id="+projA, e.auth(), nil)
		if status != 200 || body["count"] != float64(3) || body["items"] != nil || body["project_id"] != projA {
			t.Fatalf("manifest summary = %d %v", status, body)
		}
		for q, want := range map[string]string{
			"table=spores":                       "machine_id is required",
			"machine_id=m1":                      "table is required",
			"machine_id=m1&table=toString":       "Unknown or ineligible table: toString",
			"machine_id=m1&table=spores&limit=x": "limit must be a positive integer",
		} {
			status, _, body = e.do("GET", "/manifest?"+q, e.auth(), nil)
			wantError(t, status, body, 400, hypha.EInvalid)
			if !strings.Contains(body["error"].(string), want) {
				t.Errorf("manifest?%s: %v, want %q", q, body["error"], want)
			}
		}

		status, _, body = e.do("PUT", "/config", e.auth(), map[string]any{"team_name": "Ants", "created_at": 17})
		if status != 200 || body["updated"] != float64(2) {
			t.Fatalf("PUT /config = %d %v", status, body)
		}
		status, _, body = e.do("GET", "/config", e.auth(), nil)
		if cfg, _ := body["config"].(map[string]any); status != 200 || cfg["team_name"] != "Ants" || cfg["created_at"] != "17" ||
			!strings.HasPrefix(fmt.Sprint(cfg["team_id"]), "team_") || len(fmt.Sprint(cfg["team_id"])) != 37 {
			t.Fatalf("GET /config = %d %v", status, body)
		}
		status, _, body = e.do("PUT", "/config", e.auth(), map[string]any{})
		wantError(t, status, body, 400, hypha.EInvalid)
		status, _, body = e.do("PUT", "/config", e.auth(), `[1,2]`)
		wantError(t, status, body, 400, hypha.EInvalid)

		status, _, body = e.do("GET", "/members", e.auth(), nil)
		if m, _ := body["members"].([]any); status != 200 || len(m) != 1 || m[0].(map[string]any)["user"] != "ana" {
			t.Fatalf("/members = %d %v", status, body)
		}
		status, _, body = e.do("GET", "/sync-summary?machine_id=m1", e.auth(), nil)
		tables, _ := body["tables"].(map[string]any)
		if status != 200 || body["total_records"] != float64(4) || tables["prompt_batches"] != float64(3) || body["machine_tables"] == nil {
			t.Fatalf("/sync-summary = %d %v", status, body)
		}
		status, _, body = e.do("DELETE", "/members/m1", e.auth(), nil)
		if status != 200 || body["removed"] != float64(1) {
			t.Fatalf("DELETE /members = %d %v", status, body)
		}
		status, _, body = e.do("POST", "/rebuild", e.auth(), `garbage`)
		wantError(t, status, body, 400, hypha.EInvalid)
		status, _, body = e.do("POST", "/rebuild", e.auth(), map[string]any{"machine_id": " m1 "})
		if status != 200 || body["ok"] != true || body["truncated_tables"] != float64(19) {
			t.Fatalf("/rebuild = %d %v", status, body)
		}
		status, _, body = e.do("GET", "/sync-summary", e.auth(), nil)
		if status != 200 || body["total_records"] != float64(0) {
			t.Fatalf("after rebuild = %d %v", status, body)
		}
		if status, _, _ := e.do("GET", "/config", nil, nil); status != http.StatusUnauthorized {
			t.Fatalf("/config without a key = %d", status)
		}
	})
}

func TestHealthGroveMetrics(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSync)
		e.do("POST", "/enqueue", e.auth(wire.HeaderGrove, "user_primary"), enqueueBody(sporeRec("s1", "hello world")))
		// Unauthenticated: no grove or project names beyond the one sent.
		status, _, raw := e.doRaw("GET", "/health", map[string]string{wire.HeaderGrove: "user_primary"}, nil)
		if status != 200 || strings.Contains(string(raw), projA) || strings.Contains(string(raw), "sync_metrics") {
			t.Fatalf("unauthenticated /health leaks grove data: %s", raw)
		}
		status, _, body := e.do("GET", "/health", e.auth(wire.HeaderGrove, "user_primary"), nil)
		sm, _ := body["sync_metrics"].(map[string]any)
		projects, _ := body["grove_projects"].([]any)
		if status != 200 || body["grove_id"] != "user_primary" || body["sync_status"] != "active" || body["last_sync_at"] == nil ||
			len(projects) != 1 || projects[0] != projA || sm == nil {
			t.Fatalf("authenticated /health = %d %v", status, body)
		}
		if sm["outbox_queue_depth"] != float64(1) || body["pending_operations"] != float64(1) {
			t.Errorf("queue depth = %v / %v, want the one embed job", sm["outbox_queue_depth"], body["pending_operations"])
		}
		if vol, _ := sm["grove_data_volume_mb"].(float64); vol < 0 {
			t.Errorf("volume = %v", sm["grove_data_volume_mb"])
		}
		ps, _ := sm["project_sync_status"].(map[string]any)
		if p, _ := ps[projA].(map[string]any); p["status"] != "active" || p["last_sync"] == nil {
			t.Errorf("project_sync_status = %v", ps)
		}
		// Another grove's metrics stay empty; its name is only the echo.
		status, _, body = e.do("GET", "/health", e.auth(wire.HeaderGrove, "other"), nil)
		if status != 200 || body["sync_status"] != "never_synced" || len(body["grove_projects"].([]any)) != 0 {
			t.Fatalf("other grove = %v", body)
		}
		// A grove token of another grove gets no metrics for this one.
		tok := e.mustConnect("other", "d1", "m9")["mcp_access_token"].(string)
		status, _, raw = e.doRaw("GET", "/health", e.bearer(tok, wire.HeaderGrove, "user_primary"), nil)
		if status != 200 || strings.Contains(string(raw), "sync_metrics") {
			t.Fatalf("foreign token saw metrics: %s", raw)
		}
	})
}
