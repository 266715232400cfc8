package api_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// stateOf renders everything the credential routes could change: groves,
// nodes, Team Keys and every KV entry with its version.
func stateOf(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	groves, err := e.DB.ListGroves(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groves {
		out = append(out, "grove "+g.ID)
		nodes, err := e.DB.ListNodes(t.Context(), g.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			out = append(out, fmt.Sprintf("node %s/%s %d", n.GroveID, n.MachineID, n.LastSeen))
		}
	}
	keys, err := e.DB.ListTeamKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		out = append(out, fmt.Sprintf("key %s %s %d", k.ID, k.Status, k.RevokedAt))
	}
	for _, g := range groves {
		counts, err := e.DB.CountRecords(t.Context(), g.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := e.DB.CountJobs(t.Context(), g.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("records %s %v jobs %+v", g.ID, counts, jobs))
	}
	cfg, err := e.DB.TeamConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, fmt.Sprintf("config %v", cfg))
	page, err := e.DB.KVList(t.Context(), hypha.KVListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range page.Keys {
		out = append(out, fmt.Sprintf("kv %s v%d", k.Name, k.Version))
	}
	return out
}

// TestAttackMatrix sends every authenticated route every kind of bad
// credential and checks each is refused with the right status and code and
// changes nothing.
func TestAttackMatrix(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSync, withJobs)
		e.do("POST", "/enqueue", e.auth(wire.HeaderGrove, "user_primary"), enqueueBody(sporeRec("s1", "victim data")))
		expired, _ := e.mustTeamKey("expired", time.Hour)
		revoked, revokedID := e.mustTeamKey("revoked", 0)
		if _, err := e.Creds.RevokeCredential(t.Context(), revokedID); err != nil {
			t.Fatal(err)
		}
		victim := e.mustConnect("user_primary", "gd-1", "laptop")
		attacker := e.mustConnect("attacker_grove", "gd-x", "intruder")
		e.Clock.Advance(2 * time.Hour) // the expired key is now expired; rate-limit windows are over

		routes := []struct {
			method, path string
			body         any
			groveRead    bool // a grove's own MCP token may read it
		}{
			{"POST", "/connect", map[string]any{"machine_id": "laptop", "grove_id": "user_primary"}, false},
			{"POST", "/mcp/rotate", nil, false},
			{"GET", "/org/credentials", nil, false},
			{"POST", "/enqueue", enqueueBody(sporeRec("s2", "attack")), false},
			{"POST", "/sync", enqueueBody(sporeRec("s3", "attack")), false},
			{"GET", "/records/spores/s1", nil, true},
			{"GET", "/manifest?machine_id=m1&table=spores", nil, false},
			{"GET", "/config", nil, false},
			{"PUT", "/config", map[string]any{"team_name": "pwned"}, false},
			{"GET", "/queue-stats", nil, false},
			{"GET", "/sync-summary", nil, false},
			{"GET", "/members", nil, false},
			{"DELETE", "/members/m1", nil, false},
			{"GET", "/dlq", nil, false},
			{"POST", "/dlq/retry", map[string]any{"lease_ids": []string{"spores:s1:m1"}}, false},
			{"POST", "/dlq/discard", map[string]any{"lease_ids": []string{"spores:s1:m1"}}, false},
			{"POST", "/rebuild", map[string]any{"machine_id": "m1"}, false},
			{"GET", "/no/such/route", nil, true},
		}
		creds := []struct {
			name    string
			headers map[string]string
			status  int
			code    string
		}{
			{"no credential", map[string]string{}, 401, hypha.EUnauthorized},
			{"malformed header", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, 401, hypha.EUnauthorized},
			{"empty bearer", map[string]string{"Authorization": "Bearer "}, 401, hypha.EUnauthorized},
			{"wrong key", e.bearer("hyk_" + strings.Repeat("x", 43)), 401, hypha.EUnauthorized},
			{"key of another format", e.bearer(strings.Repeat("ab", 32)), 401, hypha.EUnauthorized},
			{"expired key", e.bearer(expired), 401, hypha.ETokenExpired},
			{"revoked key", e.bearer(revoked), 401, hypha.ETokenRevoked},
			{"another grove's MCP token", e.bearer(attacker["mcp_token"].(string)), 403, hypha.EGroveForbidden},
			{"this grove's MCP token on a Team Key route", e.bearer(victim["mcp_token"].(string)), 403, hypha.EForbidden},
		}
		for _, rt := range routes {
			for _, cr := range creds {
				if rt.groveRead && strings.HasPrefix(cr.name, "this grove's MCP token") {
					continue // allowed: covered by the routes' own tests
				}
				t.Run(rt.method+" "+rt.path+"/"+cr.name, func(t *testing.T) {
					before := stateOf(t, e)
					h := map[string]string{wire.HeaderGrove: "user_primary", wire.HeaderDaemon: "gd-1"}
					for k, v := range cr.headers {
						h[k] = v
					}
					status, hdr, body := e.do(rt.method, rt.path, h, rt.body)
					wantError(t, status, body, cr.status, cr.code)
					if hdr.Get(wire.HeaderProtocol) != "" {
						t.Errorf("a refused request got the protocol header")
					}
					if after := stateOf(t, e); !reflect.DeepEqual(after, before) {
						t.Fatalf("a refused request changed the state:\nbefore %v\nafter  %v", before, after)
					}
				})
			}
		}
		// The Myco CLI matches the exact text of a wrong key.
		_, _, body := e.do("GET", "/org/credentials", e.bearer("hyk_nope"), nil)
		if body["error"] != "Invalid Team key" {
			t.Errorf("wrong key error = %q, want Myco's \"Invalid Team key\"", body["error"])
		}
		_, _, body = e.do("GET", "/org/credentials", nil, nil)
		if body["error"] != "Missing Authorization header" {
			t.Errorf("no header error = %q, want Myco's \"Missing Authorization header\"", body["error"])
		}
		_, _, body = e.do("GET", "/org/credentials", e.bearer(expired), nil)
		if msg := body["error"].(string); !strings.HasPrefix(msg, "Team Key expired 1 hour ago") || !strings.Contains(msg, "hypha token create-team-key") {
			t.Errorf("expired key error = %q", msg)
		}
		// The victim's token still works: nothing above touched it.
		status, _, body := e.do("GET", "/no/such/route", e.bearer(victim["mcp_token"].(string), wire.HeaderGrove, "user_primary"), nil)
		wantError(t, status, body, http.StatusNotFound, hypha.ENotFound)
	})
}
