package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/wire"
)

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func TestConnect(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		t.Run("AnswersMycoAndGroveFields", func(t *testing.T) {
			e := newEnv(t, engine)
			if err := e.DB.PutTeamConfig(t.Context(), map[string]string{"team_id": "team_0123", "team_name": "Fungi"}); err != nil {
				t.Fatal(err)
			}
			status, hdr, body := e.do("POST", "/connect", e.auth(wire.HeaderGrove, "user_primary", wire.HeaderDaemon, "gd-1"),
				map[string]any{"grove_id": "user_primary", "machine_id": "laptop", "global_daemon": true,
					"package_version": "0.9.0", "schema_version": 41, "sync_protocol_version": 3, "version": "ignored"})
			if status != http.StatusOK {
				t.Fatalf("/connect = %d %v", status, body)
			}
			tok, _ := body["mcp_token"].(string)
			if !strings.HasPrefix(tok, "hym_") || body["mcp_access_token"] != tok {
				t.Fatalf("mcp_token %q, mcp_access_token %v: want the same fresh token", tok, body["mcp_access_token"])
			}
			want := map[string]any{
				"status": "connected", "sync_protocol_version": float64(hypha.SyncProtocolVersion),
				"min_compat_client_version": float64(hypha.MinSyncProtocolVersion), "mcp_endpoint": "/mcp",
				"mcp_server_url": e.URL + "/mcp", "mcp_token_hash": sha256Hex("user_primary:gd-1:" + tok),
				"team_key_status": "active", "grove_id": "user_primary", "daemon_id": "gd-1",
				"expires_at": start.Add(30 * 24 * time.Hour).Format(time.RFC3339), "global_daemon_scope": true,
			}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("%s = %#v, want %#v", k, body[k], v)
				}
			}
			if cfg, _ := body["config"].(map[string]any); cfg["team_id"] != "team_0123" || cfg["team_name"] != "Fungi" {
				t.Errorf("config = %v, want the team_config map", body["config"])
			}
			if hdr.Get(wire.HeaderProtocol) != "3" {
				t.Errorf("%s = %q on an authenticated answer", wire.HeaderProtocol, hdr.Get(wire.HeaderProtocol))
			}
			nodes, err := e.DB.ListNodes(t.Context(), "user_primary")
			if err != nil || len(nodes) != 1 {
				t.Fatalf("nodes = %v, %v; want the laptop", nodes, err)
			}
			n := nodes[0]
			if n.MachineID != "laptop" || n.DaemonID != "gd-1" || n.PackageVersion != "0.9.0" || *n.SchemaVersion != 41 || *n.SyncProtocolVersion != 3 || n.LastSeen != start.Unix() {
				t.Errorf("node = %+v", n)
			}
			// The token reads its grove: an unknown route answers 404, not 401.
			status, _, body = e.do("GET", "/no/such/route", e.bearer(tok, wire.HeaderGrove, "user_primary"), nil)
			wantError(t, status, body, http.StatusNotFound, hypha.ENotFound)
		})
		t.Run("LegacyDaemonGetsTheGrovesSharedToken", func(t *testing.T) {
			e := newEnv(t, engine)
			connect := func(machine string) map[string]any {
				t.Helper()
				status, _, body := e.do("POST", "/connect", e.auth(), map[string]any{"machine_id": machine, "sync_protocol_version": 2})
				if status != http.StatusOK {
					t.Fatalf("/connect = %d %v", status, body)
				}
				return body
			}
			a := connect("m1")
			if a["grove_id"] != hypha.DefaultGroveID || a["daemon_id"] != app.SharedDaemonID || a["shared_token"] != true || a["global_daemon_scope"] != false {
				t.Fatalf("legacy /connect = %v; want the default grove's shared token, no global scope", a)
			}
			tok := a["mcp_token"].(string)
			if a["mcp_token_hash"] != app.LegacyTokenHash(tok) || len(tok) == 0 {
				t.Errorf("mcp_token_hash = %v, want the worker's 8-hex hash of the token", a["mcp_token_hash"])
			}
			// Every caller naming no daemon, and the same one again at once
			// (a restart), gets the same working token.
			for _, m := range []string{"m2", "m1"} {
				if b := connect(m); b["mcp_token"] != tok {
					t.Fatalf("a second legacy /connect got %v, want the shared token", b["mcp_token"])
				}
			}
			status, _, body := e.do("GET", "/no/such/route", e.bearer(tok), nil)
			wantError(t, status, body, http.StatusNotFound, hypha.ENotFound)
			// /health shows that hash to a caller without X-Daemon-ID.
			_, _, h := e.do("GET", "/health", nil, nil)
			if h["mcp_token_hash"] != a["mcp_token_hash"] {
				t.Fatalf("/health mcp_token_hash = %v, want %v", h["mcp_token_hash"], a["mcp_token_hash"])
			}
		})
		t.Run("GroveAndDaemonFromBody", func(t *testing.T) {
			e := newEnv(t, engine)
			status, _, body := e.do("POST", "/connect", e.auth(), map[string]any{"grove_id": "staging_grove", "machine_id": "m1", "global_daemon": "gd-body"})
			if status != http.StatusOK || body["grove_id"] != "staging_grove" || body["daemon_id"] != "gd-body" || body["global_daemon_scope"] != true {
				t.Fatalf("/connect = %d %v", status, body)
			}
			status, _, body = e.do("POST", "/connect", e.auth(), map[string]any{"grove_id": "staging_grove", "machine_id": "m2", "global_daemon_id": "gd-2"})
			if status != http.StatusOK || body["daemon_id"] != "gd-2" {
				t.Fatalf("/connect with global_daemon_id = %d %v", status, body)
			}
			if _, err := e.DB.FindGroveByID(t.Context(), "staging_grove"); err != nil {
				t.Fatalf("the grove was not created: %v", err)
			}
		})
		t.Run("Refusals", func(t *testing.T) {
			e := newEnv(t, engine)
			tests := []struct {
				name    string
				headers []string
				body    any
				status  int
				code    string
				message string
			}{
				{"no machine_id", nil, map[string]any{"global_daemon": true}, 400, hypha.EInvalid, "machine_id is required"},
				{"empty machine_id", nil, map[string]any{"machine_id": ""}, 400, hypha.EInvalid, "machine_id is required"},
				{"machine_id not a string", nil, map[string]any{"machine_id": 7}, 400, hypha.EInvalid, ""},
				{"malformed JSON", nil, `{"machine_id": "m1"`, 400, hypha.EBadJSON, ""},
				{"empty body", nil, "", 400, hypha.EBadJSON, ""},
				{"grove contradicts header", []string{wire.HeaderGrove, "a"}, map[string]any{"grove_id": "b", "machine_id": "m1"}, 400, hypha.EInvalid, ""},
				{"bad grove in body", nil, map[string]any{"grove_id": "no/slashes", "machine_id": "m1"}, 400, hypha.EInvalid, ""},
				{"bad grove in header", []string{wire.HeaderGrove, "no spaces"}, map[string]any{"machine_id": "m1"}, 400, hypha.EInvalid, ""},
				{"daemon contradicts header", []string{wire.HeaderDaemon, "gd-1"}, map[string]any{"machine_id": "m1", "daemon_id": "gd-2"}, 400, hypha.EInvalid, ""},
				{"global_daemon of a wrong type", nil, map[string]any{"machine_id": "m1", "global_daemon": 3}, 400, hypha.EInvalid, ""},
				{"protocol too new", nil, map[string]any{"machine_id": "m1", "sync_protocol_version": 99}, 409, hypha.EProtocolUnsupported, ""},
				{"protocol too old", nil, map[string]any{"machine_id": "m1", "sync_protocol_version": 0}, 409, hypha.EProtocolUnsupported, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					status, _, body := e.do("POST", "/connect", e.auth(tt.headers...), tt.body)
					if status != tt.status || body["code"] != tt.code {
						t.Fatalf("answer %d %v, want %d %s", status, body, tt.status, tt.code)
					}
					if tt.message != "" && body["error"] != tt.message {
						t.Errorf("error = %q, want Myco's %q", body["error"], tt.message)
					}
					if tt.code == hypha.EProtocolUnsupported {
						if body["error"] != "protocol_version_unsupported" || body["sync_protocol_version"] != float64(hypha.SyncProtocolVersion) ||
							body["min_compat_client_version"] != float64(hypha.MinSyncProtocolVersion) || body["message"] == nil {
							t.Errorf("409 body %v lacks Myco's fields", body)
						}
					}
				})
			}
			nodes, err := e.DB.ListNodes(t.Context(), hypha.DefaultGroveID)
			if err != nil || len(nodes) != 0 {
				t.Fatalf("refused calls registered nodes: %v, %v", nodes, err)
			}
			page, err := e.DB.KVList(t.Context(), hypha.KVListOptions{})
			if err != nil || len(page.Keys) != 0 {
				t.Fatalf("refused calls wrote KV entries: %+v, %v", page, err)
			}
		})
		t.Run("NonNumericProtocolIsNotChecked", func(t *testing.T) {
			e := newEnv(t, engine)
			status, _, body := e.do("POST", "/connect", e.auth(), map[string]any{"machine_id": "m1", "sync_protocol_version": "latest"})
			if status != http.StatusOK {
				t.Fatalf("/connect = %d %v; Myco lets a non-numeric version through", status, body)
			}
		})
		t.Run("WrongMethodIs405", func(t *testing.T) {
			e := newEnv(t, engine)
			status, hdr, body := e.do("GET", "/connect", e.auth(), nil)
			wantError(t, status, body, http.StatusMethodNotAllowed, hypha.EMethodNotAllowed)
			if hdr.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", hdr.Get("Allow"))
			}
		})
		t.Run("BodyOverLimitIs413", func(t *testing.T) {
			e := newEnv(t, engine, func(e *env) { e.Server.MaxBodyBytes = 64 })
			status, _, body := e.do("POST", "/connect", e.auth(), `{"machine_id":"`+strings.Repeat("m", 200)+`"}`)
			wantError(t, status, body, http.StatusRequestEntityTooLarge, hypha.ETooLarge)
		})
	})
}

func TestConnect_RateLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		// A restart seconds after the last start is served: each /connect
		// reissues the daemon's token and retires the previous one.
		prev := e.mustConnect("user_primary", "gd-1", "laptop")
		for range app.DefaultConnectLimit - 1 {
			e.Clock.Advance(time.Second)
			next := e.mustConnect("user_primary", "gd-1", "laptop")
			if next["mcp_token"] == prev["mcp_token"] {
				t.Fatal("a /connect returned the same token")
			}
			status, _, body := e.do("GET", "/no/such/route", e.bearer(prev["mcp_token"].(string), wire.HeaderGrove, "user_primary"), nil)
			wantError(t, status, body, http.StatusUnauthorized, hypha.EUnauthorized)
			prev = next
		}
		// Beyond the limit in one minute: 429 with the seconds left.
		status, hdr, body := e.do("POST", "/connect", e.auth(wire.HeaderGrove, "user_primary", wire.HeaderDaemon, "gd-1"), map[string]any{"machine_id": "laptop"})
		wantError(t, status, body, http.StatusTooManyRequests, hypha.ERateLimited)
		if got := hdr.Get("Retry-After"); got != "51" {
			t.Fatalf("Retry-After = %q, want 51 (seconds left of the minute)", got)
		}
		// The refused call changed nothing: the last token still works and
		// is still the one /health fingerprints.
		_, _, h := e.do("GET", "/health", map[string]string{wire.HeaderGrove: "user_primary", wire.HeaderDaemon: "gd-1"}, nil)
		if h["mcp_token_hash"] != prev["mcp_token_hash"] {
			t.Fatalf("after a 429, /health hash = %v, want the last token's %v", h["mcp_token_hash"], prev["mcp_token_hash"])
		}
		// Other daemons and other groves have windows of their own.
		e.mustConnect("user_primary", "gd-2", "desktop")
		e.mustConnect("staging_grove", "gd-1", "laptop")
		e.Clock.Advance(51 * time.Second)
		e.mustConnect("user_primary", "gd-1", "laptop")
	})
}

func TestMCPRotate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		health := func(grove, daemon string) any {
			t.Helper()
			_, _, h := e.do("GET", "/health", map[string]string{wire.HeaderGrove: grove, wire.HeaderDaemon: daemon}, nil)
			return h["mcp_token_hash"]
		}
		a := e.mustConnect("user_primary", "gd-1", "laptop")
		b := e.mustConnect("user_primary", "gd-2", "desktop")
		other := e.mustConnect("staging_grove", "gd-1", "laptop")
		if got := health("user_primary", "gd-1"); got != a["mcp_token_hash"] {
			t.Fatalf("/health hash = %v, want the one /connect returned (%v)", got, a["mcp_token_hash"])
		}
		tokenWorks := func(tok any, grove string) int {
			status, _, _ := e.doRaw("GET", "/no/such/route", e.bearer(tok.(string), wire.HeaderGrove, grove), nil)
			return status
		}
		if tokenWorks(a["mcp_token"], "user_primary") != http.StatusNotFound {
			t.Fatal("the minted token does not authenticate")
		}

		status, hdr, body := e.do("POST", "/mcp/rotate", e.auth(wire.HeaderGrove, "user_primary"), nil)
		if status != http.StatusOK || body["rotated"] != float64(2) || body["grove_id"] != "user_primary" {
			t.Fatalf("/mcp/rotate = %d %v; want 2 tokens of user_primary rotated", status, body)
		}
		// The answer is the grove's new shared token, as the worker's
		// {token}; it works, and /health shows its hash.
		shared, _ := body["token"].(string)
		if shared == "" || tokenWorks(shared, "user_primary") != http.StatusNotFound {
			t.Fatalf("/mcp/rotate token = %q, want a working shared token", shared)
		}
		if got := health("user_primary", ""); got != app.LegacyTokenHash(shared) {
			t.Fatalf("/health without X-Daemon-ID = %v, want the new shared token's hash", got)
		}
		if hdr.Get(wire.HeaderProtocol) == "" {
			t.Error("no protocol header on an authenticated answer")
		}
		for _, d := range []string{"gd-1", "gd-2"} {
			if got := health("user_primary", d); got != nil {
				t.Fatalf("after rotation, /health hash of %s = %v, want null", d, got)
			}
		}
		for _, tok := range []any{a["mcp_token"], b["mcp_token"]} {
			if got := tokenWorks(tok, "user_primary"); got != http.StatusUnauthorized {
				t.Fatalf("a rotated token answers %d, want 401", got)
			}
		}
		// Another grove is untouched.
		if got := health("staging_grove", "gd-1"); got != other["mcp_token_hash"] {
			t.Fatalf("rotation of user_primary changed staging_grove's hash to %v", got)
		}
		if tokenWorks(other["mcp_token"], "staging_grove") != http.StatusNotFound {
			t.Fatal("rotation of user_primary revoked staging_grove's token")
		}
		// Rotating again revokes only the shared token minted by the first.
		if _, _, body := e.do("POST", "/mcp/rotate", e.auth(wire.HeaderGrove, "user_primary"), nil); body["rotated"] != float64(1) || body["token"] == shared {
			t.Fatalf("second rotation = %v, want the shared token replaced", body)
		}
		if tokenWorks(shared, "user_primary") != http.StatusUnauthorized {
			t.Fatal("the replaced shared token still works")
		}

		// The daemon reconnects once its rate-limit window has passed.
		e.Clock.Advance(61 * time.Second)
		again := e.mustConnect("user_primary", "gd-1", "laptop")
		if again["mcp_token_hash"] == a["mcp_token_hash"] {
			t.Fatal("reconnect returned the old hash")
		}
		if got := health("user_primary", "gd-1"); got != again["mcp_token_hash"] {
			t.Fatalf("/health hash = %v after reconnect, want %v", got, again["mcp_token_hash"])
		}
		if tokenWorks(again["mcp_token"], "user_primary") != http.StatusNotFound {
			t.Fatal("the new token does not authenticate")
		}
	})
}
