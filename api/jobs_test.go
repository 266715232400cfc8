package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/search"
	"github.com/hyphateam/hypha/wire"
)

// withJobs wires a consumer (never started: tests drive the queue through
// the store) into the server.
func withJobs(e *env) {
	e.Server.Jobs = app.NewJobs(e.DB, search.NewHashEmbedder(0), nil, app.JobsOptions{})
}

// sporeKey is the key of a spore of machine m1 in grove g.
func sporeKey(g, id string) hypha.RecordKey {
	return hypha.RecordKey{Table: hypha.LookupTable("spores"), GroveID: g, MachineID: "m1", ID: id}
}

// deadLetter puts the embed job of spore id of grove g straight into the
// dead-letter queue, one second after the previous one.
func (e *env) deadLetter(g, id string) {
	e.t.Helper()
	ctx := e.t.Context()
	if err := e.DB.EnqueueJobs(ctx, []*hypha.Job{app.EmbedJob(sporeKey(g, id))}); err != nil {
		e.t.Fatal(err)
	}
	jobs, err := e.DB.ClaimJobs(ctx, hypha.JobEmbed, 1, time.Minute)
	if err != nil || len(jobs) != 1 {
		e.t.Fatalf("ClaimJobs = %d jobs, %v", len(jobs), err)
	}
	if _, err := e.DB.DeadLetterJob(ctx, jobs[0], app.ReasonMaxRetries); err != nil {
		e.t.Fatal(err)
	}
	e.Clock.Advance(time.Second)
}

func (e *env) deadLetterIDs(g string) []string {
	e.t.Helper()
	ds, err := e.DB.ListDeadLetters(e.t.Context(), g, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.LeaseID)
	}
	return ids
}

func TestQueueStats(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withJobs)
		g1 := e.auth(wire.HeaderGrove, "g1")
		status, hdr, body := e.do("GET", "/queue-stats", g1, nil)
		if status != http.StatusOK || hdr.Get(wire.HeaderProtocol) == "" {
			t.Fatalf("GET /queue-stats = %d %v", status, body)
		}
		for _, k := range []string{"enqueued", "processed", "failed", "backlog", "embed_ok", "embed_failed", "pending_jobs", "leased_jobs", "dead_letters"} {
			if body[k] != 0.0 {
				t.Errorf("%s = %v on an empty grove, want 0", k, body[k])
			}
		}
		for _, k := range []string{"last_run_at", "last_error", "last_embed_error", "last_embed_at"} {
			if v, ok := body[k]; !ok || v != nil {
				t.Errorf("%s = %v (present %v), want null", k, v, ok)
			}
		}

		var jobs []*hypha.Job
		for _, id := range []string{"a", "b", "c"} {
			jobs = append(jobs, app.EmbedJob(sporeKey("g1", id)))
		}
		if err := e.DB.EnqueueJobs(t.Context(), jobs); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DB.ClaimJobs(t.Context(), hypha.JobEmbed, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		e.deadLetter("g1", "d")
		if err := e.DB.AddSyncStats(t.Context(), "g1", hypha.SyncStats{Processed: 1, EmbedOK: 1, LastRunAt: 1_700_000_100,
			LastEmbedAt: 1_700_000_100, LastEmbedError: "spores:x:m1: model down"}); err != nil {
			t.Fatal(err)
		}
		_, _, body = e.do("GET", "/queue-stats", g1, nil)
		want := map[string]any{"enqueued": 4.0, "processed": 1.0, "failed": 0.0, "backlog": 3.0, "pending_jobs": 2.0, "leased_jobs": 1.0,
			"dead_letters": 1.0, "embed_ok": 1.0, "embed_failed": 0.0, "last_run_at": 1_700_000_100.0, "last_error": nil,
			"last_embed_at": 1_700_000_100.0, "last_embed_error": "spores:x:m1: model down"}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("%s = %v, want %v", k, body[k], v)
			}
		}
		// Another grove sees none of it.
		_, _, body = e.do("GET", "/queue-stats", e.auth(), nil)
		if body["enqueued"] != 0.0 || body["backlog"] != 0.0 || body["dead_letters"] != 0.0 || body["last_run_at"] != nil {
			t.Fatalf("the default grove sees g1's queue: %v", body)
		}
	})
}

func TestDLQList(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withJobs)
		for _, id := range []string{"a", "b", "c"} {
			e.deadLetter("g1", id)
		}
		e.deadLetter("g2", "z")
		g1 := e.auth(wire.HeaderGrove, "g1")
		status, _, body := e.do("GET", "/dlq", g1, nil)
		if status != http.StatusOK {
			t.Fatalf("GET /dlq = %d %v", status, body)
		}
		msgs := body["messages"].([]any)
		if len(msgs) != 3 {
			t.Fatalf("messages = %v, want g1's three", msgs)
		}
		first := msgs[0].(map[string]any)
		want := map[string]any{"lease_id": "spores:c:m1", "table_name": "spores", "row_id": "c", "machine_id": "m1", "operation": "embed",
			"reason": "dead-lettered after max retries", "created_at": float64(start.Unix() + 2), "replay_count": 1.0}
		if len(first) != len(want) {
			t.Errorf("message fields = %v, want %v", first, want)
		}
		for k, v := range want {
			if first[k] != v {
				t.Errorf("newest message %s = %v, want %v", k, first[k], v)
			}
		}
		for _, c := range []struct {
			query string
			n     int
		}{{"?limit=2", 2}, {"?limit=0", 3}, {"?limit=-4", 3}, {"?limit=abc", 3}, {"?limit=100000", 3}, {"?limit=1", 1}} {
			_, _, body := e.do("GET", "/dlq"+c.query, g1, nil)
			if got := len(body["messages"].([]any)); got != c.n {
				t.Errorf("GET /dlq%s gave %d messages, want %d", c.query, got, c.n)
			}
		}
		_, _, body = e.do("GET", "/dlq", e.auth(wire.HeaderGrove, "g2"), nil)
		if msgs := body["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["lease_id"] != "spores:z:m1" {
			t.Fatalf("grove g2 sees %v, want only its own", msgs)
		}
		_, _, body = e.do("GET", "/dlq", e.auth(), nil)
		if msgs := body["messages"].([]any); len(msgs) != 0 {
			t.Fatalf("the default grove sees %v", msgs)
		}
	})
}

func TestDLQRetryAndDiscard(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withJobs)
		for _, id := range []string{"a", "b", "c"} {
			e.deadLetter("g1", id)
		}
		e.deadLetter("g2", "a")
		g1 := e.auth(wire.HeaderGrove, "g1")

		// Non-string entries are dropped; unknown ids and another grove's
		// rows are not found.
		status, _, body := e.do("POST", "/dlq/retry", g1, `{"lease_ids":["spores:a:m1", 5, null, {"x":1}, "spores:a:m1", "spores:nope:m1"]}`)
		if status != http.StatusOK || body["retried"] != 1.0 {
			t.Fatalf("POST /dlq/retry = %d %v, want retried 1", status, body)
		}
		if got := e.deadLetterIDs("g1"); len(got) != 2 || got[0] != "spores:c:m1" {
			t.Fatalf("g1 dead letters after retry = %v", got)
		}
		c, err := e.DB.CountJobs(t.Context(), "g1")
		if err != nil || c.Pending != 1 {
			t.Fatalf("g1 jobs after retry = %+v, %v; want the retried job pending", c, err)
		}
		jobs, err := e.DB.ClaimJobs(t.Context(), hypha.JobEmbed, 10, time.Minute)
		if err != nil || len(jobs) != 1 || jobs[0].Key != "spores:a:m1" || jobs[0].GroveID != "g1" || jobs[0].Attempts != 1 {
			t.Fatalf("retried job = %v, %v", jobs, err)
		}

		status, _, body = e.do("POST", "/dlq/discard", g1, map[string]any{"lease_ids": []any{"spores:b:m1", "spores:b:m1", "spores:a:m1", "spores:zzz:m1"}})
		if status != http.StatusOK || body["discarded"] != 1.0 {
			t.Fatalf("POST /dlq/discard = %d %v, want discarded 1 (rows actually deleted)", status, body)
		}
		if got := e.deadLetterIDs("g1"); len(got) != 1 || got[0] != "spores:c:m1" {
			t.Fatalf("g1 dead letters after discard = %v", got)
		}

		// A grove cannot touch another grove's rows, even by exact id.
		g2 := e.auth(wire.HeaderGrove, "g2")
		_, _, body = e.do("POST", "/dlq/discard", g2, map[string]any{"lease_ids": []string{"spores:c:m1"}})
		_, _, body2 := e.do("POST", "/dlq/retry", g2, map[string]any{"lease_ids": []string{"spores:c:m1"}})
		if body["discarded"] != 0.0 || body2["retried"] != 0.0 || len(e.deadLetterIDs("g1")) != 1 {
			t.Fatalf("grove g2 changed g1's dead letters: %v %v", body, body2)
		}
		if got := e.deadLetterIDs("g2"); len(got) != 1 {
			t.Fatalf("g2 dead letters = %v", got)
		}
	})
}

func TestDLQBadInput(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withJobs)
		e.deadLetter(hypha.DefaultGroveID, "a")
		for _, path := range []string{"/dlq/retry", "/dlq/discard"} {
			t.Run(path, func(t *testing.T) {
				status, _, body := e.do("POST", path, e.auth(), `{"lease_ids": [`)
				wantError(t, status, body, http.StatusBadRequest, hypha.EBadJSON)
				for _, in := range []string{``, `{}`, `[]`, `"x"`, `{"lease_ids": []}`, `{"lease_ids": "spores:a:m1"}`, `{"lease_ids": [1, null, true]}`} {
					status, _, body := e.do("POST", path, e.auth(), in)
					wantError(t, status, body, http.StatusBadRequest, hypha.EInvalid)
					if body["error"] != "lease_ids array is required" {
						t.Errorf("body %q: error %q", in, body["error"])
					}
				}
				status, _, body = e.do("GET", path, e.auth(), nil)
				wantError(t, status, body, http.StatusMethodNotAllowed, hypha.EMethodNotAllowed)
			})
		}
		if got := e.deadLetterIDs(hypha.DefaultGroveID); len(got) != 1 {
			t.Fatalf("bad requests changed the dead letters: %v", got)
		}
	})
}

func TestJobRoutesNeedATeamKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withJobs)
		e.deadLetter("user_primary", "a")
		token := e.mustConnect("user_primary", "gd-1", "laptop")["mcp_token"].(string)
		for _, rt := range []struct{ method, path string }{
			{"GET", "/queue-stats"}, {"GET", "/dlq"}, {"POST", "/dlq/retry"}, {"POST", "/dlq/discard"},
		} {
			body := map[string]any{"lease_ids": []string{"spores:a:m1"}}
			status, _, got := e.do(rt.method, rt.path, nil, body)
			wantError(t, status, got, http.StatusUnauthorized, hypha.EUnauthorized)
			status, _, got = e.do(rt.method, rt.path, e.bearer(token, wire.HeaderGrove, "user_primary"), body)
			wantError(t, status, got, http.StatusForbidden, hypha.EForbidden)
		}
		if got := e.deadLetterIDs("user_primary"); len(got) != 1 {
			t.Fatalf("refused requests changed the dead letters: %v", got)
		}
	})
}

func TestJobRoutesWithoutAConsumer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine) // Server.Jobs left nil
		e.deadLetter(hypha.DefaultGroveID, "a")
		if status, _, body := e.do("GET", "/queue-stats", e.auth(), nil); status != http.StatusOK || body["dead_letters"] != 1.0 {
			t.Fatalf("GET /queue-stats = %d %v", status, body)
		}
		if status, _, body := e.do("POST", "/dlq/discard", e.auth(), map[string]any{"lease_ids": []string{"spores:a:m1"}}); status != http.StatusOK || body["discarded"] != 1.0 {
			t.Fatalf("POST /dlq/discard = %d %v", status, body)
		}
	})
}
