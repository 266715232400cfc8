package api_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/wire"
)

func TestValidateTeamKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		expiring, _ := e.mustTeamKey("laptop", time.Hour)
		revoked, revokedID := e.mustTeamKey("leaked", 0)
		// Two groves connect with the expiring key, one with the env's key.
		for _, g := range []string{"user_primary", "staging_grove"} {
			status, _, body := e.do("POST", "/connect", e.bearer(expiring, wire.HeaderGrove, g, wire.HeaderDaemon, "gd-1"), map[string]any{"machine_id": "laptop"})
			if status != http.StatusOK {
				t.Fatalf("/connect = %d %v", status, body)
			}
		}
		tok := e.mustConnect("team_grove", "gd-2", "desktop")["mcp_token"].(string)
		if _, err := e.Creds.RevokeCredential(t.Context(), revokedID); err != nil {
			t.Fatal(err)
		}

		status, hdr, body := e.do("GET", "/validate-team-key", e.auth(), nil)
		if status != http.StatusOK || body["valid"] != true || body["key_id"] != e.TeamKeyID || body["team_key_status"] != "active" {
			t.Fatalf("active key: %d %v", status, body)
		}
		if !reflect.DeepEqual(body["grove_impact"], []any{"team_grove"}) || hdr.Get(wire.HeaderProtocol) == "" {
			t.Errorf("active key: grove_impact %v, want [team_grove]", body["grove_impact"])
		}
		status, _, body = e.do("GET", "/validate-team-key", e.bearer(expiring), nil)
		if status != http.StatusOK || body["valid"] != true || body["expires_at"] != start.Add(time.Hour).Format(time.RFC3339) {
			t.Fatalf("key before its expiry: %d %v", status, body)
		}

		e.Clock.Advance(3*24*time.Hour + time.Hour)
		tests := []struct {
			name      string
			headers   map[string]string
			status    int
			errorType string
			keyStatus string
			message   string
			impact    []any
		}{
			{"expired", e.bearer(expiring), 401, "expired_team_key", "expired", "Team Key expired 3 days ago", []any{"staging_grove", "user_primary"}},
			{"revoked", e.bearer(revoked), 401, "invalid_team_key", "revoked", "was revoked 3 days ago", []any{}},
			{"unknown", e.bearer("hyk_" + strings.Repeat("A", 43)), 401, "invalid_team_key", "invalid", "Invalid Team key", []any{}},
			{"missing", nil, 401, "missing_team_key", "missing", "No Team Key", []any{}},
			{"malformed", map[string]string{"Authorization": "Token abc"}, 401, "invalid_team_key", "invalid", "Invalid Team key", []any{}},
			{"an MCP token", e.bearer(tok), 403, "missing_permissions", "invalid", "not a Team Key", []any{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, _, body := e.do("GET", "/validate-team-key", tt.headers, nil)
				if status != tt.status || body["valid"] != false || body["error_type"] != tt.errorType || body["team_key_status"] != tt.keyStatus {
					t.Fatalf("answer %d %v; want %d %s (%s)", status, body, tt.status, tt.errorType, tt.keyStatus)
				}
				if msg, _ := body["message"].(string); !strings.Contains(msg, tt.message) {
					t.Errorf("message %q does not say %q", msg, tt.message)
				}
				if !reflect.DeepEqual(body["grove_impact"], tt.impact) {
					t.Errorf("grove_impact = %v, want %v", body["grove_impact"], tt.impact)
				}
				actions, _ := body["actions"].(map[string]any)
				if actions == nil || actions["renew_command"] == nil || actions["support_docs"] == nil || actions["estimated_downtime"] == nil {
					t.Errorf("actions = %v", body["actions"])
				}
				if _, ok := actions["renew_url"]; !ok {
					t.Error("actions lacks renew_url (null on a self-hosted server)")
				}
				if body["code"] == nil || body["error"] == nil {
					t.Errorf("a failed validation lacks the error envelope: %v", body)
				}
			})
		}
	})
}

func TestOrgCredentials(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		c := e.mustConnect("user_primary", "gd-1", "laptop")
		named, err := e.Creds.CreateNamedMCPToken(t.Context(), "staging_grove", "cursor", 0)
		if err != nil {
			t.Fatal(err)
		}
		otherKey, otherID := e.mustTeamKey("ci", 90*24*time.Hour)
		if _, err := e.Creds.RevokeCredential(t.Context(), otherID); err != nil {
			t.Fatal(err)
		}

		status, hdr, raw := e.doRaw("GET", "/org/credentials", e.auth(), nil)
		if status != http.StatusOK || hdr.Get(wire.HeaderProtocol) == "" {
			t.Fatalf("/org/credentials = %d %s", status, raw)
		}
		secrets := []string{e.TeamKey, otherKey, c["mcp_token"].(string), named.Token, app.Digest(e.TeamKey), app.Digest(named.Token), named.Record.Digest}
		for _, s := range secrets {
			if strings.Contains(string(raw), s) {
				t.Fatalf("/org/credentials shows a secret or a digest: %s", raw)
			}
		}
		var body struct {
			Credentials []map[string]any `json:"credentials"`
			TeamKeys    int              `json:"team_keys"`
			MCPTokens   int              `json:"mcp_tokens"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		if body.TeamKeys != 2 || body.MCPTokens != 2 || len(body.Credentials) != 4 {
			t.Fatalf("/org/credentials = %s; want 2 keys and 2 tokens", raw)
		}
		got := map[string]string{}
		for _, cr := range body.Credentials {
			got[cr["id"].(string)] = strings.Join([]string{cr["kind"].(string), cr["name"].(string), str(cr["grove_id"]), str(cr["daemon_id"]), cr["status"].(string), str(cr["expires_at"])}, " ")
		}
		want := map[string]string{
			e.TeamKeyID:      "team_key test key   active ",
			otherID:          "team_key ci   revoked " + start.Add(90*24*time.Hour).Format(time.RFC3339),
			named.Record.ID:  "mcp_token cursor staging_grove named:cursor active " + start.Add(30*24*time.Hour).Format(time.RFC3339),
			tokenID(t, e, c): "mcp_token gd-1 user_primary gd-1 active " + start.Add(30*24*time.Hour).Format(time.RFC3339),
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("credentials:\n%v\nwant\n%v", got, want)
		}

		_, _, filtered := e.do("GET", "/org/credentials?grove_id=staging_grove", e.auth(), nil)
		if filtered["mcp_tokens"] != float64(1) || filtered["team_keys"] != float64(2) {
			t.Fatalf("filtered by grove: %v", filtered)
		}
		status, _, bad := e.do("GET", "/org/credentials?grove_id=bad/grove", e.auth(), nil)
		wantError(t, status, bad, http.StatusBadRequest, hypha.EInvalid)
	})
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// tokenID returns the id of the token a /connect answer carried.
func tokenID(t *testing.T, e *env, connect map[string]any) string {
	t.Helper()
	p, err := e.Creds.Authenticate(t.Context(), connect["mcp_token"].(string))
	if err != nil {
		t.Fatalf("Authenticate the connect token: %v", err)
	}
	return p.ID
}

func TestSecretsNeverLogged(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		c := e.mustConnect("user_primary", "gd-1", "laptop")
		e.do("GET", "/health", e.auth(wire.HeaderGrove, "user_primary", wire.HeaderDaemon, "gd-1"), nil)
		e.do("GET", "/org/credentials", e.auth(), nil)
		e.do("GET", "/validate-team-key", e.bearer("hyk_wrong"), nil)
		e.do("POST", "/mcp/rotate", e.auth(wire.HeaderGrove, "user_primary"), nil)
		logs := e.logText()
		if !strings.Contains(logs, `"path":"/connect"`) {
			t.Fatalf("the access log is missing: %s", logs)
		}
		for _, s := range []string{e.TeamKey, c["mcp_token"].(string), "hyk_wrong"} {
			if strings.Contains(logs, s) {
				t.Fatalf("a secret reached the log:\n%s", logs)
			}
		}
	})
}
