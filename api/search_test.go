package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/search"
	"github.com/hyphateam/hypha/wire"
)

// withSearch wires ingest, a consumer, the vector index and search; the
// test drives the consumer and the index's catch-up with e.index().
func withSearch(e *env) {
	emb := search.NewHashEmbedder(0)
	e.Server.Jobs = app.NewJobs(e.DB, emb, nil, app.JobsOptions{})
	e.Server.Sync = &app.Sync{Store: e.DB, Jobs: e.Server.Jobs}
	e.Server.Search = &app.Search{Store: e.DB, Embedder: emb, Index: &app.SearchIndex{Store: e.DB, Dims: emb.Dims()}}
}

// index runs the consumer until the queue is empty and catches the vector
// index up.
func (e *env) index() {
	e.t.Helper()
	ctx := e.t.Context()
	for {
		n, err := e.Server.Jobs.RunOnce(ctx)
		if err != nil {
			e.t.Fatalf("RunOnce: %v", err)
		}
		if n == 0 {
			break
		}
	}
	if err := e.Server.Search.Index.CatchUp(ctx); err != nil {
		e.t.Fatalf("CatchUp: %v", err)
	}
}

// push ingests records of machine m1 into grove g.
func (e *env) push(g string, recs ...map[string]any) {
	e.t.Helper()
	status, _, body := e.do("POST", "/enqueue", e.auth(wire.HeaderGrove, g), enqueueBody(recs...))
	if status != http.StatusOK || body["accepted"] != float64(len(recs)) {
		e.t.Fatalf("push to %s: %d %v", g, status, body)
	}
}

// search runs GET /search in grove g and returns the status and results.
func (e *env) search(g string, params url.Values) (int, []map[string]any, map[string]any) {
	e.t.Helper()
	status, _, body := e.do("GET", "/search?"+params.Encode(), e.auth(wire.HeaderGrove, g), nil)
	var out []map[string]any
	if rs, ok := body["results"].([]any); ok {
		for _, r := range rs {
			out = append(out, r.(map[string]any))
		}
	}
	return status, out, body
}

func ids(results []map[string]any) []string {
	var out []string
	for _, r := range results {
		out = append(out, r["id"].(string))
	}
	return out
}

// projB is a project of grove gB (projA belongs to the first grove that
// writes it).
var projB = "proj_" + strings.Repeat("b", 32)

// doc returns an upsert of table with data.
func doc(table, id string, data map[string]any) map[string]any {
	return map[string]any{"table": table, "operation": "upsert", "id": id, "machine_id": "m1", "data": data}
}

func TestSearch_ResultShapeAndModes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		e.push("gA",
			doc("spores", "sp1", map[string]any{"project_id": projA, "content": "the deploy script needs a retry loop around rsync",
				"status": "active", "observation_type": "gotcha", "session_id": "sess1", "created_at": 1000}),
			doc("plans", "pl1", map[string]any{"project_id": projA, "content": "plan: migrate billing to postgres", "title": "Billing plan",
				"status": "active", "source_path": "plans/billing.md", "created_at": 2000}),
			doc("sessions", "se1", map[string]any{"project_id": projA, "summary": "debugged the flaky rsync deploy", "created_at": 3000}),
		)
		e.index()
		for _, mode := range []string{"", "hybrid", "semantic", "keyword"} {
			status, res, body := e.search("gA", url.Values{"q": {"rsync deploy retry"}, "mode": {mode}})
			if status != http.StatusOK || len(res) == 0 || res[0]["id"] != "sp1" {
				t.Fatalf("mode %q: %d %v", mode, status, body)
			}
		}
		_, res, _ := e.search("gA", url.Values{"q": {"rsync deploy retry"}, "types": {"spores"}})
		if len(res) != 1 {
			t.Fatalf("types=spores: %v", ids(res))
		}
		r := res[0]
		if r["type"] != "spore" || r["machine_id"] != "m1" || r["title"] != "gotcha:sp1" ||
			r["preview"] != "the deploy script needs a retry loop around rsync" {
			t.Fatalf("result = %v", r)
		}
		meta := r["metadata"].(map[string]any)
		if meta["table"] != "spores" || meta["id"] != "sp1" || meta["status"] != "active" || meta["observation_type"] != "gotcha" ||
			meta["session_id"] != "sess1" || meta["project_id"] != projA || meta["created_at"] != float64(1000) {
			t.Fatalf("metadata = %v", meta)
		}
		data := r["data"].(map[string]any)
		if data["content"] != "the deploy script needs a retry loop around rsync" || data["id"] != "sp1" {
			t.Fatalf("data = %v", data)
		}
		hint := r["retrieve"].(map[string]any)
		in := hint["input"].(map[string]any)
		if hint["tool"] != "myco_spores" || in["op"] != "get" || in["id"] != "sp1" || in["machine_id"] != "m1" {
			t.Fatalf("retrieve = %v", hint)
		}
		// An authenticated /health shows the grove's side of the index;
		// an anonymous one does not.
		_, _, h := e.do("GET", "/health", e.auth(wire.HeaderGrove, "gA"), nil)
		vi, _ := h["vector_index"].(map[string]any)
		if vi == nil || vi["ready"] != true || vi["grove_vectors"] != float64(3) || vi["seq"].(float64) < 1 ||
			vi["keyword_ready"] != true || vi["grove_documents"] != float64(3) {
			t.Fatalf("authenticated /health vector_index = %v", h["vector_index"])
		}
		if _, _, h := e.do("GET", "/health", map[string]string{wire.HeaderGrove: "gA"}, nil); h["vector_index"] != nil {
			t.Fatalf("anonymous /health shows the vector index: %v", h)
		}
		_, res, _ = e.search("gA", url.Values{"q": {"billing postgres"}, "types": {"plans"}})
		if len(res) != 1 || res[0]["title"] != "Billing plan" || res[0]["type"] != "plan" ||
			res[0]["retrieve"].(map[string]any)["tool"] != "myco_plans" {
			t.Fatalf("plan result = %v", res)
		}
	})
}

func TestSearch_BadInput(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		status, _, body := e.search("gA", url.Values{})
		if status != http.StatusBadRequest || body["error"] != `Missing query parameter "q"` || body["code"] != "invalid" {
			t.Fatalf("missing q: %d %v", status, body)
		}
		status, _, body = e.search("gA", url.Values{"q": {"   "}})
		if status != http.StatusBadRequest {
			t.Fatalf("blank q: %d %v", status, body)
		}
		for _, p := range []url.Values{
			{"q": {"x"}, "mode": {"fuzzy"}},
			{"q": {"x"}, "since": {"yesterday"}},
			{"q": {"x"}, "until": {"-5"}},
			{"q": {"x"}, "types": {strings.Repeat("spores,", 40)}},
			{"q": {strings.Repeat("x", hypha.MaxSearchQueryBytes+1)}},
		} {
			status, _, body := e.search("gA", p)
			if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge || body["code"] == nil {
				t.Fatalf("%v: %d %v", p, status, body)
			}
		}
		// Hostile text is only words: no syntax error, no 500.
		for _, q := range []string{`"unbalanced`, `a OR b NOT c*`, `content: x`, `'; DROP TABLE spores; --`, `(((`, `NEAR(a b)`, "日本語 テキスト", "🙂"} {
			status, _, body := e.search("gA", url.Values{"q": {q}})
			if status != http.StatusOK {
				t.Fatalf("q %q: %d %v", q, status, body)
			}
		}
	})
}

func TestSearch_LimitClamp(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		var recs []map[string]any
		for i := range 60 {
			recs = append(recs, sporeRec(fmt.Sprintf("s%02d", i), fmt.Sprintf("common words here number %d", i)))
		}
		e.push("gA", recs...)
		e.index()
		for _, c := range []struct {
			limit string
			want  int
		}{{"", 10}, {"3", 3}, {"0", 1}, {"-4", 1}, {"1000", 50}, {"abc", 10}, {"NaN", 10}, {"2.9", 2}} {
			_, res, body := e.search("gA", url.Values{"q": {"common words"}, "limit": {c.limit}})
			if len(res) != c.want {
				t.Fatalf("limit %q: %d results, want %d (%v)", c.limit, len(res), c.want, body)
			}
		}
		_, res, _ := e.search("gA", url.Values{"q": {"common words"}, "top_k": {"7"}})
		if len(res) != 7 {
			t.Fatalf("top_k=7: %d results", len(res))
		}
	})
}

func TestSearch_DeletesAndInactiveSporesDisappearAtOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		e.push("gA", sporeRec("keep", "kubernetes ingress timeout"), sporeRec("gone", "kubernetes ingress timeout again"),
			sporeRec("old", "kubernetes ingress timeout superseded"))
		e.index()
		_, res, _ := e.search("gA", url.Values{"q": {"kubernetes ingress"}})
		if len(res) != 3 {
			t.Fatalf("before: %v", ids(res))
		}
		e.push("gA", map[string]any{"table": "spores", "operation": "delete", "id": "gone", "machine_id": "m1"},
			doc("spores", "old", map[string]any{"project_id": projA, "content": "kubernetes ingress timeout superseded", "status": "superseded"}))
		// Before the consumer or the index ran: read back from the records.
		for _, mode := range []string{"hybrid", "semantic", "keyword"} {
			_, res, _ = e.search("gA", url.Values{"q": {"kubernetes ingress"}, "mode": {mode}})
			if len(res) != 1 || res[0]["id"] != "keep" {
				t.Fatalf("mode %s after delete: %v", mode, ids(res))
			}
		}
		e.index()
		n, err := e.DB.CountEmbeddings(t.Context(), "gA")
		if err != nil || n != 1 {
			t.Fatalf("vectors after consumer = %d, %v; want 1", n, err)
		}
		docs, err := e.DB.CountSearchDocs(t.Context(), "gA")
		if err != nil || docs != 1 {
			t.Fatalf("search documents after consumer = %d, %v; want 1", docs, err)
		}
		if got := e.Server.Search.Index.Vectors().Len(); got != 1 {
			t.Fatalf("vector index holds %d vectors, want 1", got)
		}
	})
}

func TestSearch_Filters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		const word = "zebra"
		e.push("gA",
			doc("spores", "sp-a", map[string]any{"project_id": projA, "content": word + " one", "status": "active",
				"observation_type": "gotcha", "session_id": "ses1", "created_at": 100}),
			doc("spores", "sp-b", map[string]any{"project_id": projA, "content": word + " two", "status": "active",
				"observation_type": "decision", "session_id": "ses2", "created_at": 200}),
			doc("plans", "pl-a", map[string]any{"project_id": projA, "content": word + " plan", "status": "draft",
				"source_path": "p/a.md", "session_id": "ses1", "created_at": 300}),
			doc("artifacts", "ar-a", map[string]any{"project_id": projA, "content": word + " artifact", "source_path": "docs/x.md"}),
			doc("skill_records", "sk-a", map[string]any{"project_id": projA, "description": word + " skill", "name": "zskill",
				"status": "active", "created_at": 400}),
			doc("sessions", "se-a", map[string]any{"project_id": projA, "summary": word + " session", "status": "completed", "created_at": 500}),
		)
		e.index()
		cases := []struct {
			params url.Values
			want   []string
		}{
			{url.Values{"types": {"spores"}}, []string{"sp-a", "sp-b"}},
			{url.Values{"tables": {"plans,artifacts"}}, []string{"ar-a", "pl-a"}},
			{url.Values{"types": {"entities"}}, nil},
			{url.Values{"status": {"active"}}, []string{"sk-a", "sp-a", "sp-b"}},
			{url.Values{"observation_type": {"decision"}}, []string{"sp-b"}},
			{url.Values{"session_id": {"ses1"}}, []string{"pl-a", "sp-a"}},
			{url.Values{"source_path": {"docs/x.md"}}, []string{"ar-a"}},
			{url.Values{"name": {"zskill"}}, []string{"sk-a"}},
			{url.Values{"project_id": {projA}}, []string{"ar-a", "pl-a", "se-a", "sk-a", "sp-a", "sp-b"}},
			{url.Values{"project_id": {projB}}, nil},
			{url.Values{"machine_id": {"m1"}, "types": {"sessions"}}, []string{"se-a"}},
			{url.Values{"machine_id": {"m2"}}, nil},
			{url.Values{"since": {"200"}}, []string{"pl-a", "se-a", "sk-a", "sp-b"}},
			{url.Values{"until": {"200"}}, []string{"sp-a", "sp-b"}},
			{url.Values{"since": {"150"}, "until": {"350"}}, []string{"pl-a", "sp-b"}},
			{url.Values{"since": {"500"}, "until": {"100"}}, nil},
			{url.Values{"status": {"active"}, "types": {"spores"}, "observation_type": {"gotcha"}, "session_id": {"ses1"}, "until": {"100"}}, []string{"sp-a"}},
		}
		for _, c := range cases {
			for _, mode := range []string{"hybrid", "semantic", "keyword"} {
				p := url.Values{"q": {word}, "mode": {mode}, "limit": {"50"}}
				for k, v := range c.params {
					p[k] = v
				}
				status, res, body := e.search("gA", p)
				got := ids(res)
				sortStrings(got)
				if status != http.StatusOK || strings.Join(got, ",") != strings.Join(c.want, ",") {
					t.Fatalf("%v mode %s: %d %v, want %v (%v)", c.params, mode, status, got, c.want, body)
				}
			}
		}
	})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestSearch_GroveIsolation writes the same records into two groves and
// checks that no filter combination ever returns the other grove's.
func TestSearch_GroveIsolation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		for _, g := range []struct{ grove, proj string }{{"gA", projA}, {"gB", projB}} {
			e.push(g.grove,
				doc("spores", "same-id", map[string]any{"project_id": g.proj, "content": "shared secret words", "status": "active",
					"observation_type": "gotcha", "session_id": "s1", "created_at": 100}),
				doc("plans", "plan-"+g.grove, map[string]any{"project_id": g.proj, "content": "shared secret words plan", "status": "active",
					"source_path": "x.md", "session_id": "s1", "created_at": 200}),
				doc("spores", "cross-"+g.grove, map[string]any{"project_id": g.proj, "content": "shared secret words cross", "status": "active",
					"sharing_policy": "cross_grove", "created_at": 300}),
			)
		}
		e.index()
		filters := []url.Values{
			{}, {"types": {"spores"}}, {"types": {"plans,spores"}}, {"status": {"active"}}, {"observation_type": {"gotcha"}},
			{"session_id": {"s1"}}, {"source_path": {"x.md"}}, {"project_id": {projB}}, {"project_id": {projA}},
			{"machine_id": {"m1"}}, {"since": {"1"}}, {"until": {"250"}}, {"since": {"150"}, "until": {"400"}},
		}
		for _, grove := range []string{"gA", "gB"} {
			for _, f := range filters {
				for _, mode := range []string{"hybrid", "semantic", "keyword"} {
					p := url.Values{"q": {"shared secret words"}, "mode": {mode}, "limit": {"50"}}
					for k, v := range f {
						p[k] = v
					}
					_, res, _ := e.search(grove, p)
					for _, r := range res {
						if r["data"].(map[string]any)["grove_id"] != grove {
							t.Fatalf("grove %s, filter %v, mode %s: result from another grove: %v", grove, f, mode, r)
						}
					}
				}
			}
		}
		// A grant shows the other grove's cross_grove records, never the
		// private ones; withdrawing it hides them again.
		if err := e.DB.PutGrant(t.Context(), "gB", "gA"); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"hybrid", "semantic", "keyword"} {
			_, res, _ := e.search("gA", url.Values{"q": {"shared secret words"}, "mode": {mode}, "limit": {"50"}})
			var fromB []string
			for _, r := range res {
				if r["data"].(map[string]any)["grove_id"] == "gB" {
					fromB = append(fromB, r["id"].(string))
					if r["metadata"].(map[string]any)["grove_id"] != "gB" {
						t.Fatalf("shared result without its grove in metadata: %v", r)
					}
				}
			}
			if strings.Join(fromB, ",") != "cross-gB" {
				t.Fatalf("mode %s with grant: results of gB = %v, want only cross-gB", mode, fromB)
			}
		}
		// gB does not see gA's shared record: the grant is one-way.
		_, res, _ := e.search("gB", url.Values{"q": {"shared secret words"}, "limit": {"50"}})
		for _, r := range res {
			if r["data"].(map[string]any)["grove_id"] != "gB" {
				t.Fatalf("one-way grant leaked: %v", r)
			}
		}
		// The record stops being shared: hidden at once, before reindexing.
		e.push("gB", doc("spores", "cross-gB", map[string]any{"project_id": projB, "content": "shared secret words cross", "status": "active",
			"sharing_policy": "private", "created_at": 300}))
		_, res, _ = e.search("gA", url.Values{"q": {"shared secret words"}, "limit": {"50"}})
		for _, r := range res {
			if r["data"].(map[string]any)["grove_id"] != "gA" {
				t.Fatalf("unshared record still visible: %v", r)
			}
		}
		if err := e.DB.DeleteGrant(t.Context(), "gB", "gA"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSearch_ReleaseState(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch)
		e.push("gA", sporeRec("r1", "release notes gadget"), sporeRec("r2", "release notes gadget two"),
			doc("knowledge_release_state", "1", map[string]any{"project_id": projA, "identity_key": "k1", "namespace": "spores",
				"record_id": "r1", "state": "released", "confidence": "high", "basis_kind": "pr", "checked_at": 1234, "created_at": 1}))
		e.index()
		_, res, _ := e.search("gA", url.Values{"q": {"release notes gadget"}})
		var annotated map[string]any
		for _, r := range res {
			if r["id"] == "r1" {
				annotated = r
			} else if _, ok := r["data"].(map[string]any)["release_state"]; ok {
				t.Fatalf("r2 annotated: %v", r)
			}
		}
		if annotated == nil {
			t.Fatalf("r1 missing: %v", ids(res))
		}
		rs := annotated["data"].(map[string]any)["release_state"].(map[string]any)
		meta := annotated["metadata"].(map[string]any)
		if rs["state"] != "released" || rs["confidence"] != "high" || rs["basis_kind"] != "pr" || rs["checked_at"] != float64(1234) ||
			meta["release_state"] != "released" || meta["release_confidence"] != "high" || meta["release_basis_kind"] != "pr" {
			t.Fatalf("annotation = %v / %v", rs, meta)
		}
		_, res, _ = e.search("gA", url.Values{"q": {"release notes gadget"}, "release_state": {"released"}})
		if strings.Join(ids(res), ",") != "r1" {
			t.Fatalf("release_state filter: %v", ids(res))
		}
		_, res, _ = e.search("gA", url.Values{"q": {"release notes gadget"}, "release_confidence": {"low"}})
		if len(res) != 0 {
			t.Fatalf("release_confidence=low: %v", ids(res))
		}
	})
}
