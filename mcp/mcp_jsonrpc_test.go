package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// rpcErrorAnswer is a JSON-RPC error answer.
type rpcErrorAnswer struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantRPCError fails unless an answer is a JSON-RPC 2.0 error object in
// JSON with status, code and id (the raw JSON of the id, "null" for null).
func wantRPCError(t *testing.T, what string, status int, hdr http.Header, raw []byte, wantStatus, code int, id string) {
	t.Helper()
	var a rpcErrorAnswer
	if err := json.Unmarshal(raw, &a); err != nil || status != wantStatus || hdr.Get("Content-Type") != "application/json" ||
		a.JSONRPC != "2.0" || a.Error == nil || a.Error.Code != code || a.Error.Message == "" || string(a.ID) != id {
		t.Errorf("%s: answer %d (%s) %s, want %d with a JSON-RPC error %d and id %s", what, status, hdr.Get("Content-Type"), raw, wantStatus, code, id)
	}
}

// TestJSONRPCErrors: /mcp answers a POST that is not a JSON-RPC 2.0 message
// it takes with a JSON-RPC error object in JSON, at every protocol version:
// -32700 for a body that is not JSON, -32600 for an invalid message (an
// empty batch, a wrong or missing "jsonrpc", a bad id, a batch after
// 2025-03-26), -32601 for an unknown method (HTTP 404 at 2026-07-28, as
// SEP-2575 says; 400 before, where 404 means "session gone"); the id is the
// request's when it could be read, else null. Other refusals are Hypha's
// JSON {"error","code"}.
func TestJSONRPCErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		tok := bearer(e.mustToken("alpha", "c", 0))
		const (
			parse    = -32700
			invalid  = -32600
			notFound = -32601
		)
		for _, version := range []string{"", protoSessions, protoSessionless} {
			headers := tok
			if version != "" {
				headers = append(append([]string{}, tok...), "Mcp-Protocol-Version", version)
			}
			unknownStatus := http.StatusBadRequest
			if version == protoSessionless {
				unknownStatus = http.StatusNotFound
			}
			batchStatus, batchCode := http.StatusBadRequest, invalid // batches ended with 2025-06-18
			for _, c := range []struct {
				name, body string
				status     int
				code       int
				id         string
			}{
				{"malformed JSON", `{"jsonrpc":"2.0","id":1,`, 400, parse, "null"},
				{"not JSON at all", `hello`, 400, parse, "null"},
				{"empty body", ``, 400, parse, "null"},
				{"empty batch", `[]`, 400, invalid, "null"},
				{"not an object", `5`, 400, invalid, "null"},
				{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":3,"method":"tools/list"}`, 400, invalid, "3"},
				{"jsonrpc missing", `{"id":"a","method":"tools/list"}`, 400, invalid, `"a"`},
				{"jsonrpc a number", `{"jsonrpc":2.0,"id":4,"method":"tools/list"}`, 400, invalid, "4"},
				{"id an object", `{"jsonrpc":"2.0","id":{"x":1},"method":"tools/list"}`, 400, invalid, "null"},
				{"method a number", `{"jsonrpc":"2.0","id":5,"method":7}`, 400, invalid, "5"},
				{"params a string", `{"jsonrpc":"2.0","id":6,"method":"tools/list","params":"x"}`, 400, invalid, "6"},
				{"neither method nor id", `{"jsonrpc":"2.0"}`, 400, invalid, "null"},
				{"a request without its id", `{"jsonrpc":"2.0","method":"tools/list"}`, 400, invalid, "null"},
				{"unknown method", `{"jsonrpc":"2.0","id":7,"method":"tools/delete"}`, unknownStatus, notFound, "7"},
				{"batch with a bad item", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"1.0","id":2,"method":"ping"}]`, 400, invalid, "null"},
			} {
				status, hdr, raw := e.post("/mcp", headers, c.body)
				wantRPCError(t, c.name+" at "+version, status, hdr, raw, c.status, c.code, c.id)
			}
			// A batch: served as one before 2025-06-18 (no version header
			// means 2025-03-26), refused as a whole after.
			batch := `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]`
			status, hdr, raw := e.post("/mcp", headers, batch)
			if version == "" {
				if status != http.StatusOK || !strings.Contains(string(raw), `"myco_spores"`) {
					t.Errorf("batch at 2025-03-26 = %d %s", status, raw)
				}
			} else {
				wantRPCError(t, "batch at "+version, status, hdr, raw, batchStatus, batchCode, "null")
			}
			if version == protoSessions {
				status, hdr, raw := e.post("/mcp", headers, `[{"jsonrpc":"2.0","id":1,"method":"tools/delete"}]`)
				wantRPCError(t, "batch with an unknown method at "+version, status, hdr, raw, 400, invalid, "null")
			}
		}
		// Without a version header (2025-03-26), a batch with an unknown
		// method is refused whole as -32601.
		status, hdr, raw := e.post("/mcp", tok, `[{"jsonrpc":"2.0","id":1,"method":"tools/delete"}]`)
		wantRPCError(t, "batch with an unknown method", status, hdr, raw, 400, notFound, "null")

		// The same inside a session.
		cs := e.mustConnect(tok...)
		inSession := append(append([]string{}, tok...), "Mcp-Session-Id", cs.ID(), "Mcp-Protocol-Version", protoSessions)
		status, hdr, raw = e.post("/mcp", inSession, `{"jsonrpc":"2.0","id":1`)
		wantRPCError(t, "malformed JSON in a session", status, hdr, raw, 400, parse, "null")
		status, hdr, raw = e.post("/mcp", inSession, `{"jsonrpc":"2.0","id":"q","method":"nope/nope"}`)
		wantRPCError(t, "unknown method in a session", status, hdr, raw, 400, notFound, `"q"`)
		// The session is still good.
		mustCall(t, cs, hypha.ToolPlans, map[string]any{})

		// Refusals that are not about the JSON-RPC message: Hypha's JSON.
		textPlain := append(append([]string{}, tok...), "Content-Type", "text/plain")
		status, _, raw = e.post("/mcp", textPlain, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		wantHTTPError(t, status, raw, http.StatusUnsupportedMediaType, hypha.EUnsupportedMedia)
		status, _, raw = e.post("/mcp", append(append([]string{}, tok...), "Mcp-Session-Id", "no-such-session"), `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		wantHTTPError(t, status, raw, http.StatusNotFound, hypha.ENotFound)
		for _, c := range []struct {
			method  string
			session string
			status  int
			code    string
		}{
			{"GET", "", http.StatusBadRequest, hypha.EInvalid},               // a stream needs a session
			{"DELETE", "", http.StatusBadRequest, hypha.EInvalid},            // so does ending one
			{"GET", "no-such-session", http.StatusNotFound, hypha.ENotFound}, // a session that is not there
			{"PUT", "", http.StatusMethodNotAllowed, hypha.EMethodNotAllowed},
		} {
			req, _ := http.NewRequest(c.method, e.URL+"/mcp", nil)
			req.Header.Set("Authorization", tok[1])
			req.Header.Set("Accept", "text/event-stream")
			if c.session != "" {
				req.Header.Set("Mcp-Session-Id", c.session)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" || body["code"] != c.code || body["error"] == "" {
				t.Errorf("%s /mcp (session %q) = %d %s %v, want %d %s", c.method, c.session, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status, c.code)
			}
		}

		// An SDK client still tells a session that is gone (404 in Hypha's
		// JSON, not a JSON-RPC answer) from a refused call.
		req, _ := http.NewRequest("DELETE", e.URL+"/mcp", nil)
		req.Header.Set("Authorization", tok[1])
		req.Header.Set("Mcp-Session-Id", cs.ID())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE of the session = %d", resp.StatusCode)
		}
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: hypha.ToolPlans, Arguments: map[string]any{}}); !errors.Is(err, mcp.ErrSessionMissing) {
			t.Fatalf("call on an ended session: %v, want ErrSessionMissing", err)
		}
	})
}

// TestJSONRPCErrorsStateless: with mcp_stateless the same answers, and a
// GET (no sessions, so no streams) is 405 in Hypha's JSON.
func TestJSONRPCErrorsStateless(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, func(o *envOptions) { o.stateless = true })
		tok := bearer(e.mustToken("alpha", "c", 0))
		status, hdr, raw := e.post("/mcp", tok, `[]`)
		wantRPCError(t, "empty batch", status, hdr, raw, 400, -32600, "null")
		status, hdr, raw = e.post("/mcp", tok, `{"jsonrpc":"2.0","id":1,"method":"nope"}`)
		wantRPCError(t, "unknown method", status, hdr, raw, 400, -32601, "1")
		req, _ := http.NewRequest("GET", e.URL+"/mcp", nil)
		req.Header.Set("Authorization", tok[1])
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || body["code"] != hypha.EMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("GET /mcp stateless = %d %v (Allow %q)", resp.StatusCode, body, resp.Header.Get("Allow"))
		}
	})
}
