package mcp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// TestSessionScope: a session answers only the scope that opened it (a
// grove's credentials, or the grove's anonymous tier). Any other caller
// gets 403 in JSON before the session is touched, on POST, GET and DELETE:
// grove_forbidden for another grove's credential or anonymous tier,
// forbidden for the other tier of the same grove.
func TestSessionScope(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		e.seed("beta", "BETA")
		for _, g := range []string{"alpha", "beta"} {
			e.mustIngest(g, rec{"spores", "pub-1", "m1", map[string]any{"content": strings.ToUpper(g) + " public spore", "status": "active", "sharing_policy": "public"}})
			if _, err := e.Anon.Set(ctx, g, []string{hypha.ToolSpores, hypha.ToolSearch}); err != nil {
				t.Fatal(err)
			}
		}
		type caller struct {
			name    string
			grove   string
			anon    bool
			headers []string
		}
		alphaTok, alphaTok2, betaTok := e.mustToken("alpha", "a1", 0), e.mustToken("alpha", "a2", 0), e.mustToken("beta", "b1", 0)
		callers := []caller{
			{"alpha token", "alpha", false, bearer(alphaTok)},
			{"another alpha token", "alpha", false, bearer(alphaTok2, wire.HeaderGrove, "alpha")},
			{"Team Key in alpha", "alpha", false, bearer(e.TeamKey, wire.HeaderGrove, "alpha")},
			{"alpha anonymous", "alpha", true, []string{wire.HeaderGrove, "alpha"}},
			{"beta token", "beta", false, bearer(betaTok)},
			{"Team Key in beta", "beta", false, bearer(e.TeamKey, wire.HeaderGrove, "beta")},
			{"beta anonymous", "beta", true, []string{wire.HeaderGrove, "beta"}},
		}
		initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`
		call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"myco_spores","arguments":{}}}`
		open := func(c caller) []string {
			t.Helper()
			status, hdr, raw := e.post("/mcp", c.headers, initialize)
			sid := hdr.Get("Mcp-Session-Id")
			if status != http.StatusOK || sid == "" {
				t.Fatalf("%s: initialize = %d (session %q) %s", c.name, status, sid, raw)
			}
			return []string{"Mcp-Session-Id", sid, "Mcp-Protocol-Version", protoSessions}
		}
		with := func(c caller, session []string) []string {
			return append(append([]string{}, c.headers...), session...)
		}
		for _, opener := range []caller{callers[0], callers[3], callers[4], callers[6]} {
			session := open(opener)
			if status, _, raw := e.post("/mcp", with(opener, session), `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted {
				t.Fatalf("%s: initialized = %d %s", opener.name, status, raw)
			}
			for _, user := range callers {
				what := "session of " + opener.name + " used by " + user.name
				status, hdr, raw := e.post("/mcp", with(user, session), call)
				if user.grove == opener.grove && user.anon == opener.anon {
					res := rpcAnswer(t, hdr, raw)["result"].(map[string]any)
					if status != http.StatusOK || res["isError"] == true || !strings.Contains(string(raw), strings.ToUpper(opener.grove)) {
						t.Errorf("%s = %d %s", what, status, raw)
					}
					continue
				}
				code := hypha.EGroveForbidden
				if user.grove == opener.grove {
					code = hypha.EForbidden
				}
				wantScopeRefusal(t, what, status, raw, code)
				// A stream and an end of the session alike.
				for _, method := range []string{"GET", "DELETE"} {
					// A stream that were served would never end: bound it.
					reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					req, _ := http.NewRequestWithContext(reqCtx, method, e.URL+"/mcp", nil)
					req.Header.Set("Accept", "text/event-stream")
					for i, h := 0, with(user, session); i+1 < len(h); i += 2 {
						req.Header.Set(h[i], h[i+1])
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatalf("%s on %s: %v", method, what, err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					wantScopeRefusal(t, method+" on "+what, resp.StatusCode, b, code)
				}
			}
			// The refusals did not end it, and its owner's event stream opens
			// (its headers are flushed at once).
			if status, _, raw := e.post("/mcp", with(opener, session), call); status != http.StatusOK {
				t.Errorf("%s's own session after the refusals = %d %s", opener.name, status, raw)
			}
			streamCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			req, _ := http.NewRequestWithContext(streamCtx, "GET", e.URL+"/mcp", nil)
			req.Header.Set("Accept", "text/event-stream")
			for i, h := 0, with(opener, session); i+1 < len(h); i += 2 {
				req.Header.Set(h[i], h[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Errorf("%s's own event stream: %v %v", opener.name, err, resp)
			}
			if resp != nil {
				resp.Body.Close()
			}
			cancel()
		}

		// An SDK client of the anonymous tier keeps its session; the tools
		// the grove closes meanwhile are refused on it at once.
		cs := e.mustConnect(wire.HeaderGrove, "alpha")
		if cs.ID() == "" || !strings.HasPrefix(cs.ID(), "a") {
			t.Fatalf("anonymous session id %q", cs.ID())
		}
		mustCall(t, cs, hypha.ToolSearch, map[string]any{"query": "migration"})
		if _, err := e.Anon.Set(ctx, "alpha", []string{hypha.ToolSpores}); err != nil {
			t.Fatal(err)
		}
		wantToolError(t, mustCall(t, cs, hypha.ToolSearch, map[string]any{"query": "migration"}), hypha.EForbidden)
		mustCall(t, cs, hypha.ToolSpores, map[string]any{})
	})
}

// wantScopeRefusal fails unless an answer is the 403 of a session used
// from another scope: JSON {error, code} whose error says so.
func wantScopeRefusal(t *testing.T, what string, status int, raw []byte, code string) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil || status != http.StatusForbidden || body["code"] != code ||
		!strings.Contains(body["error"].(string), "MCP session") || strings.Contains(string(raw), "ALPHA") || strings.Contains(string(raw), "BETA") {
		t.Errorf("%s = %d %s, want 403 %s explaining the session is another scope's", what, status, raw, code)
	}
}
