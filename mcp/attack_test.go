package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// attackCalls are, per tool, the calls a holder of grove alpha's token
// makes to reach grove beta's records, which have the same ids: lists,
// gets by every id (with and without the machine, and naming beta as the
// grove), searches for beta's own words.
var attackCalls = map[string][]map[string]any{
	hypha.ToolSearch: {
		{"query": "migration lock"}, {"query": "BETA"}, {"query": "BETA superseded note", "mode": "keyword", "limit": 50},
		{"query": "runbook", "types": []string{"artifacts"}}, {"query": "deploys the service", "mode": "semantic"},
	},
	hypha.ToolCortex: {{}, {"tier": 1500}},
	hypha.ToolPlans: {
		{}, {"limit": 100}, {"op": "get", "id": "plan-1"}, {"op": "get", "id": "plan-2", "machine_id": "m1"},
		{"op": "get", "id": "plan-1", "grove_id": "beta"},
	},
	hypha.ToolSessions: {
		{}, {"since": "1970-01-01"}, {"op": "get", "id": "sess-1"}, {"op": "get", "id": "sess-2", "machine_id": "m2"},
		{"op": "get", "id": "sess-2", "grove_id": "beta"},
	},
	hypha.ToolSkills: {
		{}, {"op": "get", "id": "skill-1"}, {"op": "get", "id": "deploy"}, {"op": "get", "id": "test", "grove_id": "beta"},
	},
	hypha.ToolSpores: {
		{}, {"search": "BETA"}, {"search": "migration"}, {"offset": 1, "limit": 100}, {"op": "get", "id": "spore-1"},
		{"op": "get", "id": "spore-3", "machine_id": "m2"}, {"op": "get", "id": "spore-2", "grove_id": "beta"},
	},
}

// TestGroveAttackMatrix: a token of grove alpha, however it calls any
// tool, over /mcp or /mcp/call, never sees a record of grove beta, and
// may not name beta in X-Grove-ID.
func TestGroveAttackMatrix(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		e.seed("beta", "BETA")
		alpha := e.mustToken("alpha", "cursor", 0)
		beta := e.mustToken("beta", "cursor", 0)

		// Beta's own token does see beta: the calls do reach records.
		betaSession := e.mustConnect(bearer(beta)...)
		if r := mustCall(t, betaSession, hypha.ToolSpores, map[string]any{"search": "BETA"}); len(items(t, r.Structured, "spores")) != 3 {
			t.Fatalf("beta's token sees %v", r.Structured)
		}

		for i, headers := range [][]string{bearer(alpha), bearer(alpha, wire.HeaderGrove, "alpha"), bearer(e.TeamKey, wire.HeaderGrove, "alpha")} {
			version := []string{protoSessions, protoSessionless}[i%2]
			cs, err := e.connectAt(version, headers...)
			if err != nil {
				t.Fatalf("connect at %s: %v", version, err)
			}
			for _, tool := range hypha.MCPTools {
				for _, args := range attackCalls[tool] {
					r := mustCall(t, cs, tool, args)
					checkOnlyAlpha(t, fmt.Sprintf("/mcp %s %v", tool, args), r.Text)
					status, out := e.call(headers, tool, args)
					if status != http.StatusOK && status != http.StatusNotFound {
						t.Errorf("/mcp/call %s %v = %d %v", tool, args, status, out)
					}
					checkOnlyAlpha(t, fmt.Sprintf("/mcp/call %s %v", tool, args), out)
				}
			}
		}

		// Naming another grove in X-Grove-ID is refused before any tool runs.
		for _, path := range []string{"/mcp", "/mcp/call"} {
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"myco_spores","arguments":{}}}`
			if path == "/mcp/call" {
				body = `{"method":"myco_spores","params":{}}`
			}
			status, _, raw := e.post(path, bearer(alpha, wire.HeaderGrove, "beta"), body)
			wantHTTPError(t, status, raw, http.StatusForbidden, hypha.EGroveForbidden)
			if !strings.Contains(string(raw), `scoped to grove \"alpha\"`) {
				t.Errorf("403 does not explain the scope: %s", raw)
			}
		}
		if _, err := e.connect(bearer(alpha, wire.HeaderGrove, "beta")...); err == nil {
			t.Fatal("an SDK client of alpha's token connected to grove beta")
		}

		// A session opened with alpha's token cannot be used with beta's.
		cs := e.mustConnect(bearer(alpha)...)
		sid := cs.ID()
		if sid == "" {
			t.Fatal("no session id")
		}
		status, _, raw := e.post("/mcp", bearer(beta, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-06-18"),
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"myco_spores","arguments":{}}}`)
		if status != http.StatusForbidden || strings.Contains(string(raw), "ALPHA") {
			t.Fatalf("alpha's session with beta's token = %d %s, want 403", status, raw)
		}
	})
}

// checkOnlyAlpha fails if an answer holds anything of grove beta.
func checkOnlyAlpha(t *testing.T, what string, out map[string]any) {
	t.Helper()
	b, _ := json.Marshal(out)
	s := string(b)
	if strings.Contains(s, "BETA") || strings.Contains(s, `"grove_id":"beta"`) || strings.Contains(s, project("beta")) {
		t.Fatalf("%s leaked grove beta: %s", what, s)
	}
	if strings.Contains(s, `"ok":false`) && !strings.Contains(s, `"code":"not_found"`) {
		t.Fatalf("%s failed: %s", what, s)
	}
}

// wantHTTPError fails unless an answer is a JSON error with status and code.
func wantHTTPError(t *testing.T, status int, raw []byte, wantStatus int, code string) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil || status != wantStatus || body["code"] != code || body["error"] == "" {
		t.Fatalf("answer %d %s, want %d with code %q", status, raw, wantStatus, code)
	}
}

// TestAuthErrors: missing, bad, expired and revoked credentials are 401
// with a hint to reconnect; an unusable database is 503 with Retry-After.
func TestAuthErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		good := e.mustToken("alpha", "good", 0)
		short := e.mustToken("alpha", "short", 2*time.Hour)
		revoked := e.mustToken("alpha", "revoked", 0)
		list := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`

		status, _, _ := e.post("/mcp", bearer(short), list)
		if status != http.StatusOK {
			t.Fatalf("fresh token = %d", status)
		}
		e.Clock.Advance(3 * time.Hour)
		if _, err := e.Creds.RevokeCredential(context.Background(), mustTokenID(t, e, "alpha", "revoked")); err != nil {
			t.Fatal(err)
		}
		for name, headers := range map[string][]string{
			"no credential":             nil,
			"no credential, grove only": {wire.HeaderGrove, "alpha"},
			"unknown token":             bearer("hym_" + strings.Repeat("A", 43)),
			"not a token at all":        bearer("hello"),
			"empty bearer":              {"Authorization", "Bearer "},
			"expired token":             bearer(short),
			"revoked token":             bearer(revoked),
		} {
			for _, path := range []string{"/mcp", "/mcp/call"} {
				body := list
				if path == "/mcp/call" {
					body = `{"method":"tools/list"}`
				}
				status, hdr, raw := e.post(path, headers, body)
				wantHTTPError(t, status, raw, http.StatusUnauthorized, hypha.EUnauthorized)
				if !strings.Contains(string(raw), "POST /connect") && !strings.Contains(string(raw), "Invalid Team key:") {
					t.Errorf("%s on %s: no reconnect hint in %s", name, path, raw)
				}
				if path == "/mcp" && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate = %q", name, hdr.Get("WWW-Authenticate"))
				}
			}
		}
		if status, _, raw := e.post("/mcp", bearer(good), list); status != http.StatusOK {
			t.Fatalf("good token = %d %s", status, raw)
		}
		// A session whose token is revoked stops at the next request.
		cs := e.mustConnect(bearer(good)...)
		if _, err := e.Creds.RotateGroveTokens(context.Background(), "alpha"); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: hypha.ToolSpores, Arguments: map[string]any{}}); err == nil ||
			!strings.Contains(err.Error(), "Unauthorized") {
			t.Fatalf("call on a session after rotation: %v, want 401", err)
		}

		// The database going away: 503 with Retry-After.
		team := bearer(e.TeamKey, wire.HeaderGrove, "alpha")
		if err := e.DB.Close(); err != nil {
			t.Fatal(err)
		}
		e.Schema.Refresh(context.Background())
		for _, path := range []string{"/mcp", "/mcp/call"} {
			status, hdr, raw := e.post(path, team, `{"method":"myco_spores","params":{}}`)
			wantHTTPError(t, status, raw, http.StatusServiceUnavailable, hypha.EUnavailable)
			if hdr.Get("Retry-After") == "" {
				t.Errorf("%s 503 without Retry-After", path)
			}
		}
	})
}

// mustTokenID finds the id of a named token.
func mustTokenID(t *testing.T, e *env, grove, name string) string {
	t.Helper()
	creds, err := e.Creds.ListCredentials(context.Background(), grove)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if c.Name == name {
			return c.ID
		}
	}
	t.Fatalf("no token %q in grove %s", name, grove)
	return ""
}
