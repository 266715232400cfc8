package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

func TestHealth(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		t.Run("MycoFieldsWithoutHeaders", func(t *testing.T) {
			e := newEnv(t, engine)
			status, _, body := e.do("GET", "/health", nil, nil)
			if status != http.StatusOK {
				t.Fatalf("/health = %d %v", status, body)
			}
			for _, k := range []string{"status", "nodes", "node_count", "sync_protocol_version", "min_compat_client_version",
				"package_version", "schema_version", "mcp_token_hash", "grove_scope", "team_key_status"} {
				if _, ok := body[k]; !ok {
					t.Errorf("/health lacks %s: %v", k, body)
				}
			}
			if body["status"] != "ok" || body["mcp_token_hash"] != nil || body["grove_scope"] != nil || body["team_key_status"] != "missing" {
				t.Fatalf("/health = %v", body)
			}
		})
		t.Run("NodeCountCountsMachines", func(t *testing.T) {
			e := newEnv(t, engine)
			e.mustConnect("user_primary", "gd-1", "laptop")
			e.mustConnect("staging_grove", "gd-1", "laptop") // the same machine in a second grove
			e.mustConnect("user_primary", "gd-2", "desktop")
			_, _, body := e.do("GET", "/health", nil, nil)
			if body["nodes"] != float64(2) || body["node_count"] != float64(2) {
				t.Fatalf("nodes = %v, node_count = %v; want 2 distinct machines", body["nodes"], body["node_count"])
			}
		})
		t.Run("TeamKeyStatus", func(t *testing.T) {
			e := newEnv(t, engine)
			expiring, _ := e.mustTeamKey("short", time.Hour)
			revoked, revokedID := e.mustTeamKey("leaked", 0)
			if _, err := e.Creds.RevokeCredential(t.Context(), revokedID); err != nil {
				t.Fatal(err)
			}
			e.Clock.Advance(2 * time.Hour)
			tok := e.mustConnect("user_primary", "gd-1", "laptop")["mcp_token"].(string)
			tests := []struct {
				name    string
				headers map[string]string
				want    string
			}{
				{"missing", nil, "missing"},
				{"active", e.auth(), "active"},
				{"expired", e.bearer(expiring), "expired"},
				{"revoked", e.bearer(revoked), "revoked"},
				{"wrong", e.bearer("hyk_not-a-key"), "invalid"},
				{"malformed", map[string]string{"Authorization": "Basic Zm9vOmJhcg=="}, "invalid"},
				{"an MCP token is not a Team Key", e.bearer(tok), "invalid"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					status, _, body := e.do("GET", "/health", tt.headers, nil)
					if status != http.StatusOK || body["team_key_status"] != tt.want {
						t.Fatalf("/health = %d, team_key_status %v; want 200 and %q", status, body["team_key_status"], tt.want)
					}
				})
			}
		})
		t.Run("TokenHashNeedsGroveAndDaemon", func(t *testing.T) {
			e := newEnv(t, engine)
			c := e.mustConnect("user_primary", "gd-1", "laptop")
			legacy := e.mustConnect(hypha.DefaultGroveID, "gd-9", "old")
			tests := []struct {
				name    string
				headers map[string]string
				hash    any
				scope   any
			}{
				{"grove and daemon", map[string]string{wire.HeaderGrove: "user_primary", wire.HeaderDaemon: "gd-1"}, c["mcp_token_hash"], "user_primary"},
				{"grove only", map[string]string{wire.HeaderGrove: "user_primary"}, nil, "user_primary"},
				{"another daemon", map[string]string{wire.HeaderGrove: "user_primary", wire.HeaderDaemon: "gd-2"}, nil, "user_primary"},
				{"another grove", map[string]string{wire.HeaderGrove: "staging_grove", wire.HeaderDaemon: "gd-1"}, nil, "staging_grove"},
				{"daemon only: the default grove", map[string]string{wire.HeaderDaemon: "gd-9"}, legacy["mcp_token_hash"], nil},
				{"neither (a legacy Myco daemon)", nil, nil, nil},
				{"invalid grove is not echoed", map[string]string{wire.HeaderGrove: "<script>", wire.HeaderDaemon: "gd-1"}, nil, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, _, body := e.do("GET", "/health", tt.headers, nil)
					if body["mcp_token_hash"] != tt.hash || body["grove_scope"] != tt.scope {
						t.Fatalf("mcp_token_hash = %v, grove_scope = %v; want %v, %v", body["mcp_token_hash"], body["grove_scope"], tt.hash, tt.scope)
					}
				})
			}
		})
		t.Run("ExpiredTokenHashIsNull", func(t *testing.T) {
			e := newEnv(t, engine)
			e.mustConnect("user_primary", "gd-1", "laptop")
			e.Clock.Advance(30*24*time.Hour + time.Second)
			_, _, body := e.do("GET", "/health", map[string]string{wire.HeaderGrove: "user_primary", wire.HeaderDaemon: "gd-1"}, nil)
			if body["mcp_token_hash"] != nil {
				t.Fatalf("an expired token's hash = %v, want null", body["mcp_token_hash"])
			}
		})
		t.Run("RevealsNoOtherGrove", func(t *testing.T) {
			e := newEnv(t, engine)
			e.mustConnect("secret_grove", "gd-1", "laptop")
			if _, err := e.DB.ClaimProjects(t.Context(), "secret_grove", []string{"proj_0123456789abcdef0123456789abcdef"}); err != nil {
				t.Fatal(err)
			}
			for _, h := range []map[string]string{nil, {wire.HeaderGrove: "user_primary", wire.HeaderDaemon: "gd-1"}, e.auth(wire.HeaderGrove, "user_primary")} {
				_, _, raw := e.doRaw("GET", "/health", h, nil)
				if s := string(raw); strings.Contains(s, "secret_grove") || strings.Contains(s, "proj_") {
					t.Fatalf("/health with %v reveals another grove or a project: %s", h, s)
				}
			}
		})
		t.Run("HeadAndWrongMethod", func(t *testing.T) {
			e := newEnv(t, engine)
			if status, _, _ := e.doRaw("HEAD", "/health", nil, nil); status != http.StatusOK {
				t.Fatalf("HEAD /health = %d", status)
			}
			status, _, body := e.do("POST", "/health", nil, nil)
			wantError(t, status, body, http.StatusMethodNotAllowed, hypha.EMethodNotAllowed)
		})
	})
}
