package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Call runs one MCP method for POST /mcp/call with the access in ctx: a
// tool name with its arguments as params (the seed's smoke tests),
// "tools/call" with {name, arguments}, or "tools/list". It answers the
// tool's structured result. A tool failure is returned as an error with
// the tool's stable code; arguments the input schema rejects are
// "invalid".
//
// The call goes through the same SDK server and schemas as /mcp, as one
// stateless JSON-RPC request, so both answer alike.
func (s *Server) Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	a := hypha.MCPAccessFromContext(ctx)
	if a == nil {
		return nil, hypha.Errorf(hypha.EUnauthorized, "Missing Authorization header")
	}
	if method == "tools/list" {
		res, err := s.rpc(ctx, a, "tools/list", json.RawMessage(`{}`))
		return res, err
	}
	name, args := method, params
	if method == "tools/call" {
		var p struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if len(bytes.TrimSpace(params)) > 0 {
			if err := json.Unmarshal(params, &p); err != nil {
				return nil, hypha.Errorf(hypha.EInvalid, "params of tools/call must be {\"name\": …, \"arguments\": {…}}")
			}
		}
		name, args = p.Name, p.Arguments
	}
	if !slices.Contains(hypha.MCPTools, name) {
		return nil, hypha.Errorf(hypha.ENotFound, "unknown MCP method %q: call a tool (%s), tools/call or tools/list", clip(name, maxEcho), strings.Join(hypha.MCPTools, ", "))
	}
	if !a.Allows(name) {
		return nil, hypha.Errorf(hypha.EUnauthorized, "tool %s is not open to anonymous callers of grove %q: send 'Authorization: Bearer <grove MCP access token>'", name, a.GroveID)
	}
	args = bytes.TrimSpace(args)
	if len(args) == 0 || bytes.Equal(args, []byte("null")) {
		args = json.RawMessage(`{}`)
	}
	if args[0] != '{' {
		return nil, hypha.Errorf(hypha.EInvalid, "params must be a JSON object of the tool's arguments")
	}
	p, err := json.Marshal(map[string]any{"name": name, "arguments": args})
	if err != nil {
		return nil, hypha.WrapError(hypha.EInternal, "", err)
	}
	res, err := s.rpc(ctx, a, "tools/call", p)
	if err != nil {
		return nil, err
	}
	var r struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		IsError           bool            `json:"isError"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, hypha.WrapError(hypha.EInternal, "", fmt.Errorf("decode tools/call result: %w", err))
	}
	if r.IsError {
		var f toolFailure
		if len(r.Content) == 0 || json.Unmarshal([]byte(r.Content[0].Text), &f) != nil || f.Code == "" {
			return nil, hypha.Errorf(hypha.EInternal, "tool %s failed without an error", name)
		}
		return nil, hypha.Errorf(f.Code, "%s", f.Error)
	}
	if len(r.StructuredContent) == 0 {
		return nil, hypha.Errorf(hypha.EInternal, "tool %s answered no structured content", name)
	}
	return r.StructuredContent, nil
}

// rpc sends one JSON-RPC request to the scope's SDK server through a
// stateless handler that answers JSON, and returns its result.
func (s *Server) rpc(ctx context.Context, a *hypha.MCPAccess, method string, params json.RawMessage) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return nil, hypha.WrapError(hypha.EInternal, "", err)
	}
	req, err := http.NewRequestWithContext(hypha.NewContextWithMCPAccess(ctx, a), http.MethodPost, "/mcp", bytes.NewReader(body))
	if err != nil {
		return nil, hypha.WrapError(hypha.EInternal, "", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	// The handler wants a bearer to hand the access on; the caller was
	// authenticated by the HTTP layer already.
	req.Header.Set("Authorization", "Bearer in-process")
	w := &responseBuffer{header: http.Header{}}
	withTokenInfo(s.callHandler(), a).ServeHTTP(w, req)
	if w.status != http.StatusOK {
		return nil, hypha.Errorf(hypha.EInvalid, "%s", clip(strings.TrimSpace(w.body.String()), maxMessage))
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.body.Bytes(), &resp); err != nil {
		return nil, hypha.WrapError(hypha.EInternal, "", fmt.Errorf("decode %s answer %q: %w", method, w.body.String(), err))
	}
	if resp.Error != nil {
		return nil, hypha.Errorf(hypha.EInvalid, "%s", clip(resp.Error.Message, maxMessage))
	}
	return resp.Result, nil
}

// callHandler is the stateless, JSON-answering handler of Call.
func (s *Server) callHandler() http.Handler {
	s.callOnce.Do(func() {
		s.call = mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
			if a := hypha.MCPAccessFromContext(r.Context()); a != nil {
				return s.ServerFor(a)
			}
			return nil
		}, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, DisableLocalhostProtection: true, Logger: s.log})
	})
	return s.call
}

// responseBuffer is the http.ResponseWriter of an in-process call.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseBuffer) Header() http.Header { return w.header }

func (w *responseBuffer) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseBuffer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// Flush is a no-op: the whole answer is read at the end.
func (w *responseBuffer) Flush() {}

var _ http.Flusher = (*responseBuffer)(nil)

// callState is the lazily built handler of Call.
type callState struct {
	callOnce sync.Once
	call     http.Handler
}
