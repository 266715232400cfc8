package mcp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// rpcAnswer reads a JSON-RPC answer sent as JSON or as server-sent events.
func rpcAnswer(t *testing.T, hdr http.Header, raw []byte) map[string]any {
	t.Helper()
	data := raw
	if strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		data = nil
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(d, `"id"`) {
				data = []byte(d)
			}
		}
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("not a JSON-RPC answer (%s): %s", hdr.Get("Content-Type"), raw)
	}
	return out
}

// TestSessionsAndStateless: requests without a session stand alone; an
// initialize opens a session that later requests use; with Stateless no
// session is ever opened.
func TestSessionsAndStateless(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		for _, stateless := range []bool{false, true} {
			e := newEnv(t, engine, func(o *envOptions) { o.stateless = stateless })
			e.seed("alpha", "ALPHA")
			tok := bearer(e.mustToken("alpha", "c", 0))

			// A lone tools/call, no initialize, no session: served.
			status, hdr, raw := e.post("/mcp", tok, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"myco_spores","arguments":{"limit":2}}}`)
			if status != http.StatusOK || hdr.Get("Mcp-Session-Id") != "" {
				t.Fatalf("stateless call = %d (session %q) %s", status, hdr.Get("Mcp-Session-Id"), raw)
			}
			res := rpcAnswer(t, hdr, raw)["result"].(map[string]any)
			if len(res["structuredContent"].(map[string]any)["spores"].([]any)) != 2 {
				t.Fatalf("stateless call result = %v", res)
			}

			// initialize: a session unless stateless.
			status, hdr, raw = e.post("/mcp", tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`)
			sid := hdr.Get("Mcp-Session-Id")
			if status != http.StatusOK || (sid == "") != stateless {
				t.Fatalf("initialize (stateless %v) = %d, session %q: %s", stateless, status, sid, raw)
			}
			info := rpcAnswer(t, hdr, raw)["result"].(map[string]any)["serverInfo"].(map[string]any)
			if info["name"] != "myco" {
				t.Errorf("serverInfo = %v", info)
			}
			if stateless {
				cs := e.mustConnect(tok...)
				if cs.ID() != "" {
					t.Fatalf("stateless server gave session %q", cs.ID())
				}
				mustCall(t, cs, hypha.ToolPlans, map[string]any{})
				continue
			}
			h := append(tok, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25")
			if status, _, raw := e.post("/mcp", h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted {
				t.Fatalf("initialized = %d %s", status, raw)
			}
			status, hdr, raw = e.post("/mcp", h, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"myco_plans","arguments":{}}}`)
			if status != http.StatusOK {
				t.Fatalf("call in session = %d %s", status, raw)
			}
			if plans := rpcAnswer(t, hdr, raw)["result"].(map[string]any)["structuredContent"].(map[string]any)["plans"].([]any); len(plans) != 2 {
				t.Fatalf("plans in session = %v", plans)
			}
			// An unknown session is 404, as the transport says.
			h2 := append(tok, "Mcp-Session-Id", "nope", "Mcp-Protocol-Version", "2025-11-25")
			if status, _, _ := e.post("/mcp", h2, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`); status != http.StatusNotFound {
				t.Fatalf("unknown session = %d, want 404", status)
			}
			// The SDK client keeps its session across calls.
			cs := e.mustConnect(tok...)
			if cs.ID() == "" {
				t.Fatal("no session id for a 2025-11-25 client")
			}
			for i := 0; i < 3; i++ {
				mustCall(t, cs, hypha.ToolSessions, map[string]any{"limit": 1})
			}
			// Close ends the sessions, so a shutdown is not held up.
			e.MCP.Close()
			if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: hypha.ToolPlans, Arguments: map[string]any{}}); err == nil {
				t.Fatal("session still served after Close")
			}
		}
	})
}

// TestMCPCall: POST /mcp/call answers a tool's JSON result, and its
// failures with the status of their code.
func TestMCPCall(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		tok := bearer(e.mustToken("alpha", "c", 0), wire.HeaderGrove, "alpha")

		status, out := e.call(tok, hypha.ToolSessions, map[string]any{"limit": 1})
		if status != http.StatusOK || len(items(t, out, "sessions")) != 1 {
			t.Fatalf("/mcp/call myco_sessions = %d %v", status, out)
		}
		status, out = e.call(tok, "tools/call", map[string]any{"name": hypha.ToolSpores, "arguments": map[string]any{"op": "get", "id": "spore-2"}})
		if status != http.StatusOK || out["content"] != "ALPHA use 100% of the pool_size" {
			t.Fatalf("tools/call get = %d %v", status, out)
		}
		status, out = e.call(tok, "tools/list", nil)
		if status != http.StatusOK || len(out["tools"].([]any)) != len(hypha.MCPTools) {
			t.Fatalf("tools/list = %d %v", status, out)
		}
		status, out = e.call(tok, hypha.ToolSearch, map[string]any{"query": "migration lock", "limit": 1})
		if status != http.StatusOK || len(items(t, out, "results")) != 1 {
			t.Fatalf("search = %d %v", status, out)
		}
		status, out = e.call(tok, hypha.ToolCortex, nil)
		if status != http.StatusOK || out["content"] != "ALPHA new digest" {
			t.Fatalf("cortex without params = %d %v", status, out)
		}
		for _, c := range []struct {
			method string
			params any
			status int
			code   string
		}{
			{hypha.ToolPlans, map[string]any{"op": "get", "id": "missing"}, 404, hypha.ENotFound},
			{hypha.ToolPlans, map[string]any{"op": "get"}, 400, hypha.EInvalid},
			{hypha.ToolSpores, map[string]any{"limit": 1000}, 400, hypha.EInvalid},
			{hypha.ToolSearch, map[string]any{}, 400, hypha.EInvalid},
			{hypha.ToolSearch, map[string]any{"query": "   "}, 400, hypha.EInvalid},
			{hypha.ToolSpores, []any{1}, 400, hypha.EInvalid},
			{"myco_delete_everything", map[string]any{}, 404, hypha.ENotFound},
			{"tools/call", "nope", 400, hypha.EInvalid},
			{"", nil, 400, hypha.EInvalid},
		} {
			status, out := e.call(tok, c.method, c.params)
			if status != c.status || out["code"] != c.code || out["error"] == "" {
				t.Errorf("/mcp/call %s %v = %d %v, want %d %s", c.method, c.params, status, out, c.status, c.code)
			}
		}
		for _, bad := range []string{`{"method":`, `[]`, ``, `{"method":"myco_plans"} x`} {
			status, _, raw := e.post("/mcp/call", tok, bad)
			if status != http.StatusBadRequest {
				t.Errorf("/mcp/call %q = %d %s, want 400", bad, status, raw)
			}
		}
		req, _ := http.NewRequest("GET", e.URL+"/mcp/call", nil)
		req.Header.Set("Authorization", tok[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET /mcp/call = %d, want 405", resp.StatusCode)
		}
	})
}

// TestAnonymousTier: off by default; a grove that enables it for some
// tools serves them without a credential, over its public records only.
func TestAnonymousTier(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		e.seed("beta", "BETA")
		e.mustIngest("alpha",
			rec{"spores", "pub-1", "m1", map[string]any{"content": "ALPHA public spore about caching", "status": "active", "sharing_policy": "public", "created_at": 9_000}},
			rec{"spores", "shared-1", "m1", map[string]any{"content": "ALPHA shared spore about caching", "status": "active", "sharing_policy": "cross_grove", "created_at": 9_001}},
			rec{"plans", "pub-plan", "m1", map[string]any{"content": "ALPHA public plan", "sharing_policy": "public"}},
		)
		e.mustIngest("beta", rec{"spores", "pub-b", "m1", map[string]any{"content": "BETA public spore about caching", "status": "active", "sharing_policy": "public"}})
		anon := []string{wire.HeaderGrove, "alpha"}

		// Off by default.
		status, _, raw := e.post("/mcp/call", anon, `{"method":"myco_spores","params":{}}`)
		wantHTTPError(t, status, raw, http.StatusUnauthorized, hypha.EUnauthorized)

		if _, err := e.Anon.Set(ctx, "alpha", []string{"myco_spores", "myco_search", "nope"}); hypha.ErrorCode(err) != hypha.EInvalid {
			t.Fatalf("enabling an unknown tool: %v", err)
		}
		if _, err := e.Anon.Set(ctx, "nosuchgrove", []string{"myco_spores"}); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("enabling a missing grove: %v", err)
		}
		if _, err := e.Anon.Set(ctx, "alpha", []string{"myco_spores", "myco_search"}); err != nil {
			t.Fatal(err)
		}

		status, out := e.call(anon, hypha.ToolSpores, map[string]any{})
		if status != http.StatusOK || strings.Join(ids(items(t, out, "spores")), ",") != "pub-1" {
			t.Fatalf("anonymous spores = %d %v, want only the public one", status, out)
		}
		status, out = e.call(anon, hypha.ToolSearch, map[string]any{"query": "spore about caching"})
		if status != http.StatusOK {
			t.Fatalf("anonymous search = %d %v", status, out)
		}
		found := map[string]bool{}
		for _, r := range items(t, out, "results") {
			found[r["id"].(string)] = true
			if r["id"] != "pub-1" && r["id"] != "pub-plan" {
				t.Fatalf("anonymous search found %v", r)
			}
		}
		if !found["pub-1"] {
			t.Fatalf("anonymous search missed the public spore: %v", out)
		}
		status, out = e.call(anon, hypha.ToolSpores, map[string]any{"op": "get", "id": "spore-1"})
		if status != http.StatusNotFound {
			t.Fatalf("anonymous get of a private spore = %d %v", status, out)
		}
		status, out = e.call(anon, hypha.ToolPlans, map[string]any{})
		if status != http.StatusUnauthorized {
			t.Fatalf("anonymous call of a closed tool = %d %v", status, out)
		}
		// Over /mcp: only the open tools are listed; a closed one is unknown.
		cs := e.mustConnect(anon...)
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Tools) != 2 {
			t.Fatalf("anonymous tools/list = %d tools", len(res.Tools))
		}
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: hypha.ToolPlans, Arguments: map[string]any{}}); err == nil {
			t.Fatal("anonymous myco_plans over /mcp succeeded")
		}
		r := mustCall(t, cs, hypha.ToolSpores, map[string]any{"search": "caching"})
		if strings.Join(ids(items(t, r.Structured, "spores")), ",") != "pub-1" {
			t.Fatalf("anonymous spores over /mcp = %v", r.Structured)
		}
		// Another grove's anonymous tier is its own business.
		status, _, raw = e.post("/mcp/call", []string{wire.HeaderGrove, "beta"}, `{"method":"myco_spores","params":{}}`)
		wantHTTPError(t, status, raw, http.StatusUnauthorized, hypha.EUnauthorized)
		// A credential always wins over the anonymous tier.
		status, out = e.call(bearer(e.mustToken("alpha", "c", 0), wire.HeaderGrove, "alpha"), hypha.ToolSpores, map[string]any{"limit": 100})
		if status != http.StatusOK || len(items(t, out, "spores")) != 5 {
			t.Fatalf("token call = %d %v", status, out)
		}
		// Off again.
		if _, err := e.Anon.Set(ctx, "alpha", nil); err != nil {
			t.Fatal(err)
		}
		status, _, raw = e.post("/mcp/call", anon, `{"method":"myco_spores","params":{}}`)
		wantHTTPError(t, status, raw, http.StatusUnauthorized, hypha.EUnauthorized)
	})
}

// TestSharedRecords: a grove sees the cross_grove records of the groves
// that granted it access, in lists, gets and search; nothing else of
// theirs; and search's retrieve hints resolve through the named tools.
func TestSharedRecords(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		e.seed("beta", "BETA")
		e.mustIngest("beta",
			rec{"spores", "b-shared", "m9", map[string]any{"content": "BETA-SHARED retry budget for the queue", "status": "active", "sharing_policy": "cross_grove", "created_at": 99_999}},
			rec{"plans", "b-plan", "m9", map[string]any{"content": "BETA-SHARED queue plan", "sharing_policy": "cross_grove", "updated_at": 99_999}},
			rec{"spores", "b-public", "m9", map[string]any{"content": "BETA public retry note", "status": "active", "sharing_policy": "public"}},
		)
		if err := e.DB.PutGrant(ctx, "beta", "alpha"); err != nil {
			t.Fatal(err)
		}
		cs := e.mustConnect(bearer(e.mustToken("alpha", "c", 0))...)
		spores := items(t, mustCall(t, cs, hypha.ToolSpores, map[string]any{"limit": 100}).Structured, "spores")
		var fromBeta []string
		for _, s := range spores {
			if s["grove_id"] == "beta" {
				fromBeta = append(fromBeta, s["id"].(string))
			}
		}
		if strings.Join(fromBeta, ",") != "b-shared" || len(spores) != 4 {
			t.Fatalf("alpha's spores = %v, want its 3 and beta's shared one", ids(spores))
		}
		// Paging across the groves keeps one order (the store reads one
		// ordered branch per grove).
		for i, want := range spores {
			page := items(t, mustCall(t, cs, hypha.ToolSpores, map[string]any{"limit": 1, "offset": i}).Structured, "spores")
			if len(page) != 1 || page[0]["id"] != want["id"] || page[0]["grove_id"] != want["grove_id"] {
				t.Fatalf("page %d = %v, want %v/%v", i, page, want["grove_id"], want["id"])
			}
		}
		if got := ids(spores); got[0] != "b-shared" {
			t.Fatalf("spores = %v, want beta's newest shared one first", got)
		}
		r := mustCall(t, cs, hypha.ToolPlans, map[string]any{"op": "get", "id": "b-plan", "machine_id": "m9"})
		if r.Structured["grove_id"] != "beta" {
			t.Fatalf("get of a shared plan = %v", r.Structured)
		}
		// The same id in both groves: the caller's own wins unless the
		// grove is named.
		if r := mustCall(t, cs, hypha.ToolPlans, map[string]any{"op": "get", "id": "plan-1"}); r.Structured["grove_id"] != "alpha" {
			t.Fatalf("get plan-1 = %v, want alpha's", r.Structured)
		}
		wantToolError(t, mustCall(t, cs, hypha.ToolPlans, map[string]any{"op": "get", "id": "plan-1", "grove_id": "beta"}), hypha.ENotFound)
		wantToolError(t, mustCall(t, cs, hypha.ToolSpores, map[string]any{"op": "get", "id": "b-public"}), hypha.ENotFound)

		// A shared record with the id and machine of one of alpha's own:
		// its hint names its grove, so it resolves to beta's record.
		e.mustIngest("beta", rec{"spores", "spore-1", "m1", map[string]any{"content": "BETA-SHARED twin: retry budget of the queue",
			"status": "active", "sharing_policy": "cross_grove"}})

		// Every search hit is alpha's or beta's shared record, and its
		// retrieve hint fetches exactly that record.
		res := items(t, mustCall(t, cs, hypha.ToolSearch, map[string]any{"query": "retry budget queue plan migration lock", "limit": 50}).Structured, "results")
		seen := map[string]bool{}
		for _, hit := range res {
			data := hit["data"].(map[string]any)
			g := data["grove_id"]
			if g != "alpha" && !strings.HasPrefix(data["content"].(string), "BETA-SHARED") {
				t.Fatalf("search hit %v of grove %v", hit["id"], g)
			}
			hint, ok := hit["retrieve"].(map[string]any)
			if !ok {
				continue // artifacts have no hint
			}
			got := mustCall(t, cs, hint["tool"].(string), hint["input"].(map[string]any))
			if got.IsError || got.Structured["id"] != hit["id"] || got.Structured["machine_id"] != hit["machine_id"] || got.Structured["grove_id"] != g {
				t.Fatalf("hint %v of %v/%v resolved to %v", hint, g, hit["id"], got.Text)
			}
			seen[fmt.Sprint(g, "/", hit["id"])] = true
		}
		if !seen["beta/b-shared"] || !seen["beta/b-plan"] || !seen["beta/spore-1"] || !seen["alpha/spore-1"] {
			t.Fatalf("search did not find beta's shared records and alpha's spore-1: %v", seen)
		}
		// Withdrawn: gone at once.
		if err := e.DB.DeleteGrant(ctx, "beta", "alpha"); err != nil {
			t.Fatal(err)
		}
		if spores := items(t, mustCall(t, cs, hypha.ToolSpores, map[string]any{"limit": 100}).Structured, "spores"); len(spores) != 3 {
			t.Fatalf("after the grant was withdrawn: %v", ids(spores))
		}
	})
}

// TestSessionCap: a scope holds at most MaxSessions open sessions; an
// initialize beyond them is answered without a session id and the client
// goes on statelessly; another scope still gets sessions.
func TestSessionCap(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, func(o *envOptions) { o.maxSessions = 2 })
		e.seed("alpha", "ALPHA")
		e.seed("beta", "BETA")
		alpha, beta := bearer(e.mustToken("alpha", "c", 0)), bearer(e.mustToken("beta", "c", 0))
		initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`
		for i, want := range []bool{true, true, false} {
			status, hdr, raw := e.post("/mcp", alpha, initialize)
			if status != http.StatusOK || (hdr.Get("Mcp-Session-Id") != "") != want {
				t.Fatalf("initialize %d = %d, session %q: %s", i+1, status, hdr.Get("Mcp-Session-Id"), raw)
			}
			if rpcAnswer(t, hdr, raw)["result"].(map[string]any)["serverInfo"] == nil {
				t.Fatalf("initialize %d answered %s", i+1, raw)
			}
		}
		cs := e.mustConnect(alpha...)
		if cs.ID() != "" {
			t.Fatalf("a session over the cap: %q", cs.ID())
		}
		mustCall(t, cs, hypha.ToolPlans, map[string]any{})
		if cs := e.mustConnect(beta...); cs.ID() == "" {
			t.Fatal("another grove's scope got no session")
		}
	})
}

// TestConcurrentCalls: clients calling at once (search reads its records
// and release states concurrently, on several pooled connections) all get
// their grove's answers, on both engines.
func TestConcurrentCalls(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		e.seed("beta", "BETA")
		e.mustIngest("beta", rec{"spores", "b-shared", "m9", map[string]any{"content": "BETA-SHARED migration lock note",
			"status": "active", "sharing_policy": "cross_grove"}})
		if err := e.DB.PutGrant(ctx, "beta", "alpha"); err != nil {
			t.Fatal(err)
		}
		tok := bearer(e.mustToken("alpha", "c", 0))
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cs, err := e.connect(tok...)
				if err != nil {
					errs <- err
					return
				}
				defer cs.Close()
				for i := range 25 {
					tool, args := hypha.ToolSearch, map[string]any{"query": "migration lock plan session", "limit": 10}
					if (w+i)%3 == 0 {
						tool, args = hypha.ToolSpores, map[string]any{"limit": 20}
					}
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
					if err != nil || res.IsError {
						errs <- fmt.Errorf("%s: %v %+v", tool, err, res)
						return
					}
					var out struct{ Results, Spores []map[string]any }
					raw, _ := json.Marshal(res.StructuredContent)
					if err := json.Unmarshal(raw, &out); err != nil {
						errs <- err
						return
					}
					if len(out.Results)+len(out.Spores) == 0 {
						errs <- fmt.Errorf("%s: nothing found: %s", tool, raw)
						return
					}
					for _, items := range [][]map[string]any{out.Results, out.Spores} {
						for _, it := range items {
							g := it["grove_id"]
							if data, ok := it["data"].(map[string]any); ok {
								g = data["grove_id"]
							}
							if g != "alpha" && g != "beta" || g == "beta" && it["id"] != "b-shared" {
								errs <- fmt.Errorf("%s returned %v of grove %v", tool, it["id"], g)
								return
							}
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}

// TestRateLimits: /mcp and /mcp/call take at most a burst of requests per
// grove, then answer 429 rate_limited with Retry-After; the anonymous tier
// and the credential tier have budgets of their own, and one grove's
// flood does not touch another grove.
func TestRateLimits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		// 0.5 a second: bursts of 1 anonymous request; 2 a second: bursts
		// of 4 with a credential. The test runs well within a second.
		e := newEnv(t, engine, func(o *envOptions) { o.rateLimit, o.anonRPS = 2, 0.5 })
		e.seed("alpha", "ALPHA")
		e.seed("beta", "BETA")
		for _, g := range []string{"alpha", "beta"} {
			if _, err := e.Anon.Set(ctx, g, []string{"myco_spores"}); err != nil {
				t.Fatal(err)
			}
		}
		call := `{"method":"myco_spores","params":{}}`
		// Anonymous: one, then refused, for alpha only.
		if status, _, raw := e.post("/mcp/call", []string{wire.HeaderGrove, "alpha"}, call); status != http.StatusOK {
			t.Fatalf("first anonymous call: %d %s", status, raw)
		}
		status, h, raw := e.post("/mcp/call", []string{wire.HeaderGrove, "alpha"}, call)
		wantHTTPError(t, status, raw, http.StatusTooManyRequests, hypha.ERateLimited)
		if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
			t.Fatalf("Retry-After %q, want 1–2 s", h.Get("Retry-After"))
		}
		status, _, raw = e.post("/mcp", []string{wire.HeaderGrove, "alpha"}, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		wantHTTPError(t, status, raw, http.StatusTooManyRequests, hypha.ERateLimited)
		if status, _, raw := e.post("/mcp/call", []string{wire.HeaderGrove, "beta"}, call); status != http.StatusOK {
			t.Fatalf("another grove's anonymous call: %d %s", status, raw)
		}
		// Requests without a credential naming groves that opened nothing
		// are refused (401) but count against the budget of all anonymous
		// requests together (5 × 0.5 a second: bursts of 5, 4 used), so a
		// flood naming made-up groves soon gets 429 before any lookup.
		status, _, raw = e.post("/mcp/call", []string{wire.HeaderGrove, "nobody-1"}, call)
		wantHTTPError(t, status, raw, http.StatusUnauthorized, hypha.EUnauthorized)
		status, _, raw = e.post("/mcp/call", []string{wire.HeaderGrove, "nobody-2"}, call)
		wantHTTPError(t, status, raw, http.StatusTooManyRequests, hypha.ERateLimited)
		// With a token: alpha's own budget, untouched by the anonymous
		// flood; four, then refused.
		auth := bearer(e.mustToken("alpha", "c", 0))
		for i := range 4 {
			if status, _, raw := e.post("/mcp/call", auth, call); status != http.StatusOK {
				t.Fatalf("call %d with a token: %d %s", i+1, status, raw)
			}
		}
		status, _, raw = e.post("/mcp/call", auth, call)
		wantHTTPError(t, status, raw, http.StatusTooManyRequests, hypha.ERateLimited)
		// A bad credential is refused as such, not counted.
		status, _, raw = e.post("/mcp/call", bearer("hmcp_nope"), call)
		wantHTTPError(t, status, raw, http.StatusUnauthorized, hypha.EUnauthorized)
	})
}

// TestDNSRebinding: on a loopback connection, /mcp answers only to loopback
// host names and the configured public names of a reverse proxy.
func TestDNSRebinding(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *envOptions) { o.allowedHosts = []string{"team.example.com"} })
	tok := e.mustToken("alpha", "c", 0)
	list := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
	for host, want := range map[string]int{
		"evil.example": http.StatusForbidden, "evil.example:80": http.StatusForbidden, "127.0.0.1.evil.example": http.StatusForbidden,
		"localhost": http.StatusOK, "127.0.0.1:9": http.StatusOK, "[::1]:9": http.StatusOK, "TEAM.example.com": http.StatusOK,
	} {
		req, _ := http.NewRequest("POST", e.URL+"/mcp", strings.NewReader(list))
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
