package main

import (
	"bufio"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testdb"
)

func TestCLI_GroveMCPAnonymous(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			run := func(want int, args ...string) string {
				t.Helper()
				code, out, errs := runCLI(t, nil, append(args, "--db", db)...)
				if code != want {
					t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errs)
				}
				return out + errs
			}
			run(0, "migrate", "up")
			if out := run(1, "grove", "mcp-anonymous", "--grove", "docs", "--tools", "myco_search"); !strings.Contains(out, `grove "docs" does not exist`) {
				t.Fatalf("unknown grove: %s", out)
			}
			run(0, "token", "create-mcp", "--grove", "docs", "--name", "editor") // creates the grove
			if out := run(0, "grove", "mcp-anonymous", "--grove", "docs"); !strings.Contains(out, "tier is off") {
				t.Fatalf("default: %s", out)
			}
			if out := run(0, "grove", "mcp-anonymous", "--grove", "docs", "--tools", "myco_spores, myco_search"); !strings.Contains(out, "may call myco_search, myco_spores") {
				t.Fatalf("enable: %s", out)
			}
			if out := run(0, "grove", "mcp-anonymous", "--grove", "docs", "--json"); !strings.Contains(out, `"anonymous":true,"grove_id":"docs","tools":["myco_search","myco_spores"]`) {
				t.Fatalf("json: %s", out)
			}
			if out := run(1, "grove", "mcp-anonymous", "--grove", "docs", "--tools", "myco_search,myco_write"); !strings.Contains(out, `unknown MCP tool "myco_write"`) {
				t.Fatalf("unknown tool: %s", out)
			}
			run(2, "grove", "mcp-anonymous", "--grove", "docs", "--tools", "myco_search", "--off")
			run(2, "grove", "mcp-anonymous", "--tools", "myco_search")
			if out := run(0, "grove", "mcp-anonymous", "--grove", "docs", "--off"); !strings.Contains(out, "tier is off") {
				t.Fatalf("off: %s", out)
			}
		})
	}
}

// TestServe_MCP: `hypha serve` serves /mcp and /mcp/call on its port, and
// a client listening for notifications does not hold a shutdown up.
func TestServe_MCP(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hypha.db")
	if code, out, errs := runCLI(t, nil, "migrate", "up", "--db", db); code != 0 {
		t.Fatalf("migrate: %s%s", out, errs)
	}
	_, out, _ := runCLI(t, nil, "token", "create-mcp", "--grove", "docs", "--name", "editor", "--db", db)
	var token string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "hym_") {
			token = f
		}
	}
	if token == "" {
		t.Fatalf("no token in %q", out)
	}
	base, stop := startServe(t, nil, "--db", db, "--shutdown-timeout", "20s")
	post := func(path, body string, headers ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		resp.Body.Close()
		return resp, b.String()
	}
	resp, body := post("/mcp/call", `{"method":"myco_spores","params":{"limit":1}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"spores":[]`) {
		t.Fatalf("/mcp/call = %d %s", resp.StatusCode, body)
	}
	resp, body = post("/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" || !strings.Contains(body, `"name":"myco"`) {
		t.Fatalf("initialize = %d (session %q) %s", resp.StatusCode, sid, body)
	}
	post("/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25")
	// A standalone event stream, held open by the client.
	req, _ := http.NewRequest("GET", base+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		t.Fatalf("GET /mcp = %d", stream.StatusCode)
	}
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %v with an open MCP event stream", d)
	}
}
