package mcp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// TestErrorsEchoBounded: an error answer of /mcp or /mcp/call repeats at
// most a bounded piece of what the client sent (a 100 KB session id,
// method, tool name, id, Host or argument), so it stays small.
func TestErrorsEchoBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		tok := bearer(e.mustToken("alpha", "c", 0))
		huge := strings.Repeat("Z", 100_000)
		const maxAnswer = 2048
		check := func(what string, status int, raw []byte, wantStatus int) {
			t.Helper()
			if status != wantStatus || len(raw) > maxAnswer || strings.Contains(string(raw), strings.Repeat("Z", 513)) {
				t.Errorf("%s = %d, %d bytes: %.300s…, want %d and at most %d bytes", what, status, len(raw), raw, wantStatus, maxAnswer)
			}
		}
		with := func(extra ...string) []string { return append(append([]string{}, tok...), extra...) }

		status, _, raw := e.post("/mcp", with("Mcp-Session-Id", huge), `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		check("a huge session id", status, raw, http.StatusNotFound)
		if !strings.Contains(string(raw), "ZZZ…") {
			t.Errorf("the session id is not shown clipped: %s", raw)
		}
		for _, version := range []string{"", protoSessions, protoSessionless} {
			h := tok
			if version != "" {
				h = with("Mcp-Protocol-Version", version)
			}
			want := http.StatusBadRequest
			if version == protoSessionless {
				want = http.StatusNotFound
			}
			status, _, raw = e.post("/mcp", h, `{"jsonrpc":"2.0","id":1,"method":"`+huge+`"}`)
			check("a huge method at "+version, status, raw, want)
			status, _, raw = e.post("/mcp", h, `{"jsonrpc":"2.0","method":"`+huge+`"}`)
			check("a huge notification at "+version, status, raw, http.StatusBadRequest)
			status, _, raw = e.post("/mcp", h, `[{"jsonrpc":"2.0","id":1,"method":"`+huge+`"}]`)
			check("a huge method in a batch at "+version, status, raw, http.StatusBadRequest)
		}
		status, _, raw = e.post("/mcp", tok, `{"jsonrpc":"`+huge+`","id":1,"method":"tools/list"}`)
		check("a huge jsonrpc version", status, raw, http.StatusBadRequest)
		status, _, raw = e.post("/mcp", tok, `{"jsonrpc":"2.0","id":"`+huge+`","method":"tools/list"}`)
		check("a huge id", status, raw, http.StatusBadRequest)
		status, _, raw = e.post("/mcp", tok, `{"jsonrpc":"2.0","id":`+strings.Repeat("9", 100_000)+`,"method":"tools/list"}`)
		check("a huge numeric id", status, raw, http.StatusBadRequest)
		status, _, raw = e.post("/mcp", with("Mcp-Protocol-Version", huge), `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		check("a huge protocol version", status, raw, http.StatusBadRequest)

		// Inside an answer: an unknown tool, an argument outside its enum.
		status, hdr, raw := e.post("/mcp", tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+huge+`","arguments":{}}}`)
		check("a huge tool name", status, raw, http.StatusOK)
		if a := rpcAnswer(t, hdr, raw); a["error"] == nil {
			t.Errorf("a huge tool name answered %v", a)
		}
		status, hdr, raw = e.post("/mcp", tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"myco_search","arguments":{"query":"x","mode":"`+huge+`"}}}`)
		check("a huge enum argument", status, raw, http.StatusOK)
		if r := rpcAnswer(t, hdr, raw)["result"].(map[string]any); r["isError"] != true {
			t.Errorf("a huge enum argument answered %v", r)
		}

		// A rebinding Host (a loopback connection).
		req, _ := http.NewRequest("POST", e.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Host = huge + ".example"
		req.Header.Set("Authorization", tok[1])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		check("a huge Host", resp.StatusCode, raw, http.StatusForbidden)

		// /mcp/call.
		for _, c := range []struct {
			body   string
			status int
		}{
			{fmt.Sprintf(`{"method":%q}`, huge), http.StatusNotFound},
			{fmt.Sprintf(`{"method":"tools/call","params":{"name":%q}}`, huge), http.StatusNotFound},
			{fmt.Sprintf(`{"method":"myco_search","params":{"query":"x","mode":%q}}`, huge), http.StatusBadRequest},
			{fmt.Sprintf(`{"method":"myco_spores","params":{%q:1}}`, huge), http.StatusBadRequest},
		} {
			status, _, raw := e.post("/mcp/call", with(wire.HeaderGrove, "alpha"), c.body)
			check("/mcp/call "+c.body[:30], status, raw, c.status)
			var out map[string]any
			if json.Unmarshal(raw, &out) != nil || out["code"] == nil {
				t.Errorf("/mcp/call %.30s: not a JSON error: %.300s", c.body, raw)
			}
		}
		status, _, raw = e.post("/mcp/call", with("Content-Type", huge), `{"method":"myco_spores"}`)
		check("/mcp/call with a huge Content-Type", status, raw, http.StatusUnsupportedMediaType)
		status, _, raw = e.post("/mcp/call", with(wire.HeaderGrove, huge), `{"method":"myco_spores"}`)
		check("/mcp/call with a huge grove", status, raw, http.StatusBadRequest)
		if !strings.Contains(string(raw), hypha.EInvalid) {
			t.Errorf("huge grove: %s", raw)
		}
	})
}
