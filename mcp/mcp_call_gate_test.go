package mcp_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// TestMCPCallGate: POST /mcp/call refuses what a web page can send it from
// a browser without a CORS preflight: a body not declared application/json
// (415 unsupported_media_type: a form or text/plain "simple request") and,
// on a loopback connection, a Host of a DNS rebinding domain (403
// forbidden, the check of /mcp). With a grove's anonymous tier on, either
// would otherwise read the grove's public records.
func TestMCPCallGate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, func(o *envOptions) { o.allowedHosts = []string{"team.example.com"} })
		e.mustIngest("alpha", rec{"spores", "pub-1", "m1", map[string]any{"content": "ALPHA public spore", "status": "active", "sharing_policy": "public"}})
		if _, err := e.Anon.Set(context.Background(), "alpha", []string{hypha.ToolSpores}); err != nil {
			t.Fatal(err)
		}
		tok := e.mustToken("alpha", "c", 0)
		body := `{"method":"myco_spores","params":{}}`
		do := func(host, contentType string, headers ...string) (int, []byte) {
			t.Helper()
			req, _ := http.NewRequest("POST", e.URL+"/mcp/call", strings.NewReader(body))
			if host != "" {
				req.Host = host
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, raw
		}
		for name, creds := range map[string][]string{
			"anonymous": {wire.HeaderGrove, "alpha"},
			"token":     {"Authorization", "Bearer " + tok},
		} {
			// Served as JSON, with or without a charset.
			for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
				if status, raw := do("", ct, creds...); status != http.StatusOK || !strings.Contains(string(raw), "pub-1") {
					t.Errorf("%s, %s: %d %s", name, ct, status, raw)
				}
			}
			// What a page sends without a preflight, and no media type.
			for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/jsonx", "json"} {
				status, raw := do("", ct, creds...)
				wantHTTPError(t, status, raw, http.StatusUnsupportedMediaType, hypha.EUnsupportedMedia)
				if strings.Contains(string(raw), "ALPHA") {
					t.Errorf("%s, %q leaked a record: %s", name, ct, raw)
				}
			}
			// A rebinding page's Host, even with a JSON body.
			for _, host := range []string{"evil.example", "evil.example:8787", "127.0.0.1.evil.example"} {
				status, raw := do(host, "application/json", creds...)
				wantHTTPError(t, status, raw, http.StatusForbidden, hypha.EForbidden)
				if !strings.Contains(string(raw), "DNS rebinding") {
					t.Errorf("%s, Host %s: %s", name, host, raw)
				}
			}
			for _, host := range []string{"localhost", "127.0.0.1:1", "[::1]:1", "TEAM.example.com"} {
				if status, raw := do(host, "application/json", creds...); status != http.StatusOK {
					t.Errorf("%s, Host %s: %d %s", name, host, status, raw)
				}
			}
		}
		// Refused before the credential is looked at: a bad one is not
		// what the page is told.
		status, raw := do("evil.example", "application/json", "Authorization", "Bearer hym_nope")
		wantHTTPError(t, status, raw, http.StatusForbidden, hypha.EForbidden)
		status, raw = do("", "text/plain", "Authorization", "Bearer hym_nope")
		wantHTTPError(t, status, raw, http.StatusUnsupportedMediaType, hypha.EUnsupportedMedia)
		// /mcp answers a rebinding Host in the same words.
		req, _ := http.NewRequest("POST", e.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Host = "evil.example"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set(wire.HeaderGrove, "alpha")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		wantHTTPError(t, resp.StatusCode, raw, http.StatusForbidden, hypha.EForbidden)
	})
}
