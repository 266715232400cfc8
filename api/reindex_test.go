package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/search"
	"github.com/hyphateam/hypha/wire"
)

// withSyncAndJobs wires ingest and a consumer that the test drives.
func withSyncAndJobs(e *env) {
	e.Server.Jobs = app.NewJobs(e.DB, search.NewHashEmbedder(0), nil, app.JobsOptions{})
	e.Server.Sync = &app.Sync{Store: e.DB, Jobs: e.Server.Jobs}
}

// seedReindex ingests, in grove g, n active spores, a superseded one, a
// session with a summary and a plan without content; it returns how many
// are embeddable.
func (e *env) seedReindex(g string, n int) int {
	e.t.Helper()
	proj := fmt.Sprintf("proj_%032x", len(g)*1000+int(g[len(g)-1])) // a project of the grove's own
	recs := []map[string]any{
		{"table": "spores", "operation": "upsert", "id": "old", "machine_id": "m1",
			"data": map[string]any{"project_id": proj, "content": "superseded", "status": "superseded"}},
		{"table": "sessions", "operation": "upsert", "id": "s1", "machine_id": "m1",
			"data": map[string]any{"project_id": proj, "summary": "a session in " + g}},
		{"table": "plans", "operation": "upsert", "id": "p1", "machine_id": "m1", "data": map[string]any{"project_id": proj, "content": ""}},
	}
	for i := range n {
		rec := sporeRec(fmt.Sprintf("sp%d", i), fmt.Sprintf("idea %d of %s", i, g))
		rec["data"].(map[string]any)["project_id"] = proj
		recs = append(recs, rec)
	}
	status, _, body := e.do("POST", "/enqueue", e.auth(wire.HeaderGrove, g), enqueueBody(recs...))
	if status != http.StatusOK || body["accepted"] != float64(len(recs)) {
		e.t.Fatalf("seed %s: %d %v", g, status, body)
	}
	return n + 1
}

// drainQueue runs the consumer until no job is due.
func (e *env) drainQueue() {
	e.t.Helper()
	for range 100 {
		n, err := e.Server.Jobs.RunOnce(e.t.Context())
		if err != nil {
			e.t.Fatalf("RunOnce: %v", err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("the queue never drained")
}

func TestReindexRoute(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSyncAndJobs)
		n1 := e.seedReindex("g1", 4)
		n2 := e.seedReindex("g2", 2)
		e.drainQueue()
		// The vectors of g1 are lost (say, the embedder changed): progress
		// shows in /sync-summary as vector_count rising to embeddable_count.
		var keys []hypha.RecordKey
		for i := range 4 {
			keys = append(keys, sporeKey("g1", fmt.Sprintf("sp%d", i)))
		}
		if err := e.DB.DeleteEmbeddings(t.Context(), keys); err != nil {
			t.Fatal(err)
		}
		g1 := e.auth(wire.HeaderGrove, "g1")
		_, _, sum := e.do("GET", "/sync-summary", g1, nil)
		if sum["vector_count"] != float64(1) || sum["embeddable_count"] != float64(n1) {
			t.Fatalf("before the reindex: vector_count %v, embeddable_count %v", sum["vector_count"], sum["embeddable_count"])
		}

		status, hdr, body := e.do("POST", "/vectors/reindex", g1, nil)
		if status != http.StatusOK || hdr.Get(wire.HeaderProtocol) != "3" {
			t.Fatalf("reindex = %d %v", status, body)
		}
		want := map[string]any{
			"enqueued": float64(n1), "processed": float64(n1), "reindexed": float64(n1), "deleted": 0.0, "next_cursor": nil,
			"table": "sessions", "sync_protocol_version": 3.0,
		}
		for k, v := range want {
			if got, ok := body[k]; !ok || got != v {
				t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
			}
		}
		byTable, _ := body["by_table"].(map[string]any)
		if fmt.Sprint(byTable) != fmt.Sprintf("map[artifacts:0 plans:0 sessions:1 skill_records:0 spores:%d]", n1-1) {
			t.Fatalf("by_table = %v", byTable)
		}
		_, _, stats := e.do("GET", "/queue-stats", e.auth(wire.HeaderGrove, "g2"), nil)
		if stats["pending_jobs"] != 0.0 {
			t.Fatalf("grove g2 got jobs from g1's reindex: %v", stats)
		}
		_, _, cfg := e.do("GET", "/config", g1, nil)
		if c := cfg["config"].(map[string]any); c["vector_reindex_status"] != "queued" || c["vector_reindex_last_processed"] != fmt.Sprint(n1) {
			t.Fatalf("config after reindex: %v", c)
		}
		e.drainQueue()
		_, _, sum = e.do("GET", "/sync-summary", g1, nil)
		if sum["vector_count"] != sum["embeddable_count"] || sum["vector_count"] != float64(n1) {
			t.Fatalf("after the queue drained: vector_count %v, embeddable_count %v", sum["vector_count"], sum["embeddable_count"])
		}

		// Body variants: anything that names no table covers all five.
		g2 := e.auth(wire.HeaderGrove, "g2")
		for _, b := range []any{`{}`, `{"table":null}`, `{"table":""}`, `not json`, `[1,2]`, `{"table":"spores"} trailing`, `{"other":1}`} {
			status, _, body := e.do("POST", "/vectors/reindex", g2, b)
			if status != http.StatusOK || body["enqueued"] != float64(n2) || body["table"] != "sessions" || len(body["by_table"].(map[string]any)) != 5 {
				t.Fatalf("body %v: %d %v, want all %d rows of g2", b, status, body, n2)
			}
		}
		status, _, body = e.do("POST", "/vectors/reindex", g2, map[string]any{"table": "spores"})
		if status != http.StatusOK || body["enqueued"] != float64(n2-1) || body["table"] != "spores" || len(body["by_table"].(map[string]any)) != 1 {
			t.Fatalf("spores only: %d %v", status, body)
		}
		for _, b := range []string{`{"table":"toString"}`, `{"table":"constructor"}`, `{"table":"entities"}`, `{"table":"nope"}`, `{"table":5}`} {
			status, _, body := e.do("POST", "/vectors/reindex", g2, b)
			wantError(t, status, body, http.StatusBadRequest, hypha.EInvalid)
			if msg := body["error"].(string); msg[:len("Unknown table: ")] != "Unknown table: " {
				t.Fatalf("body %s: error %q", b, msg)
			}
		}
		if _, _, body := e.do("POST", "/vectors/reindex", g2, `{"table":"toString"}`); body["error"] != "Unknown table: toString" {
			t.Fatalf("error = %v", body["error"])
		}

		// A Team Key route: a grove MCP token may not queue work.
		tok := e.mustConnect("g2", "daemon-1", "m1")["mcp_token"].(string)
		status, _, body = e.do("POST", "/vectors/reindex", e.bearer(tok, wire.HeaderGrove, "g2"), nil)
		wantError(t, status, body, http.StatusForbidden, hypha.EForbidden)
		status, _, body = e.do("POST", "/vectors/reindex", nil, nil)
		wantError(t, status, body, http.StatusUnauthorized, hypha.EUnauthorized)
		status, _, body = e.do("GET", "/vectors/reindex", g2, nil)
		wantError(t, status, body, http.StatusMethodNotAllowed, hypha.EMethodNotAllowed)
	})
}

func TestHealthNamesTheEmbedder(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		info := hypha.DescribeEmbedder(search.NewHashEmbedder(0))
		e := newEnv(t, engine, func(e *env) { e.Server.Embedder = &info })
		_, _, body := e.do("GET", "/health", nil, nil)
		emb, _ := body["embedder"].(map[string]any)
		if emb["provider"] != "hash" || emb["model"] != search.HashModel || emb["dims"] != 384.0 || emb["lexical"] != true {
			t.Fatalf("embedder = %v, want the built-in lexical embedder", body["embedder"])
		}
	})
}
