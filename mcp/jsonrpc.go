package mcp

// The error answers of /mcp. The SDK's handler refuses a request it cannot
// take with a plain-text http.Error body; an MCP client, and the JSON-RPC
// 2.0 spec, expect a JSON-RPC error object, and every other Hypha error is
// JSON. So Hypha checks the JSON-RPC 2.0 envelope of a POST before the SDK
// reads it (parse error, invalid request), and rewrites in JSON whatever
// the SDK still refuses (sdkAnswer). Which methods exist, batches, protocol
// versions and sessions stay the SDK's business.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// maxEcho bounds a piece of client input (a session id, a method name,
	// a Host) that an error message repeats.
	maxEcho = 128
	// maxMessage bounds an error message written by someone else (the SDK,
	// the JSON schema validator) that may repeat client input inside it.
	maxMessage = 512
	// maxID bounds a JSON-RPC request id: every answer repeats it.
	maxID = maxEcho
	// maxHeld bounds what is kept of an SDK error answer to rewrite it.
	maxHeld = 64 << 10
)

// clip shortens s to at most n bytes, cut at a rune boundary, marking the
// cut with an ellipsis.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// clipped is an error whose message was shortened; its chain, and with it
// the JSON-RPC code the SDK answers, is the original's.
type clipped struct {
	msg string
	err error
}

func (e *clipped) Error() string { return e.msg }
func (e *clipped) Unwrap() error { return e.err }

// clipErrors shortens the message of every error a method answers (an
// unknown tool's name, say, is repeated in it) to maxMessage bytes.
func clipErrors(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if err == nil || len(err.Error()) <= maxMessage {
			return res, err
		}
		if we, ok := err.(*jsonrpc.Error); ok {
			c := *we
			c.Message = clip(we.Message, maxMessage)
			if len(c.Data) > maxMessage {
				c.Data = nil
			}
			return res, &c
		}
		return res, &clipped{msg: clip(err.Error(), maxMessage), err: err}
	}
}

// JSON-RPC 2.0 error codes Hypha answers itself.
const (
	codeParseError     = jsonrpc.CodeParseError
	codeInvalidRequest = jsonrpc.CodeInvalidRequest
	codeMethodNotFound = jsonrpc.CodeMethodNotFound
)

// rpcError is a JSON-RPC error answer with its HTTP status.
type rpcError struct {
	status  int
	code    int
	message string
	id      json.RawMessage // nil: null (unreadable, a batch, or none)
	data    json.RawMessage
}

// writeRPCError answers e as a JSON-RPC 2.0 error object.
func writeRPCError(w http.ResponseWriter, e *rpcError) {
	type wireError struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data,omitempty"`
	}
	id := e.id
	if id == nil {
		id = json.RawMessage("null")
	}
	b, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   wireError       `json:"error"`
	}{"2.0", id, wireError{e.code, e.message, e.data}})
	if err != nil {
		// Only a malformed id or data could fail; answer without them.
		b, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": wireError{Code: e.code, Message: e.message}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(append(b, '\n'))
}

// message is what Hypha reads of a POST body before the SDK does.
type message struct {
	batch      bool
	id         json.RawMessage // a single message's id; nil for a batch or a notification
	method     string          // a single message's method
	initialize bool            // it holds an initialize request
}

// readMessage checks the JSON-RPC 2.0 envelope of a POST body: valid JSON
// (else -32700 parse error), one message or a non-empty batch of them,
// each an object with "jsonrpc": "2.0", an id that is a string or a number,
// a string method and object params (else -32600 invalid request). The
// answer's id is the request's when it could be read, else null.
func readMessage(body []byte) (*message, *rpcError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || !json.Valid(body) {
		return nil, &rpcError{status: http.StatusBadRequest, code: codeParseError,
			message: "Parse error: the body is not valid JSON"}
	}
	if body[0] != '[' {
		m := &message{}
		id, method, err := readOne(body)
		if err != nil {
			return nil, err
		}
		m.id, m.method, m.initialize = id, method, method == "initialize"
		return m, nil
	}
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, &rpcError{status: http.StatusBadRequest, code: codeParseError, message: "Parse error: " + err.Error()}
	}
	if len(batch) == 0 {
		return nil, &rpcError{status: http.StatusBadRequest, code: codeInvalidRequest,
			message: "Invalid Request: an empty batch"}
	}
	m := &message{batch: true}
	for i, raw := range batch {
		_, method, err := readOne(raw)
		if err != nil {
			// The batch is refused as a whole: no one id answers for it.
			err.id = nil
			err.message = fmt.Sprintf("%s (batch item %d)", err.message, i+1)
			return nil, err
		}
		m.initialize = m.initialize || method == "initialize"
	}
	return m, nil
}

// readOne checks one JSON-RPC message of a valid JSON body and returns
// its id (nil when absent) and method.
func readOne(raw json.RawMessage) (json.RawMessage, string, *rpcError) {
	invalid := func(id json.RawMessage, format string, args ...any) (json.RawMessage, string, *rpcError) {
		return nil, "", &rpcError{status: http.StatusBadRequest, code: codeInvalidRequest, id: id,
			message: "Invalid Request: " + fmt.Sprintf(format, args...)}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return invalid(nil, "a JSON-RPC message is a JSON object")
	}
	id, hasID := fields["id"]
	switch {
	case !hasID || string(id) == "null":
		id = nil
	case id[0] == '"':
		if len(id) > maxID+2 {
			return invalid(nil, `"id" is a string of %d bytes; at most %d are taken`, len(id)-2, maxID)
		}
	case id[0] == '-' || id[0] >= '0' && id[0] <= '9':
		if len(id) > maxID {
			return invalid(nil, `"id" is a number of %d digits; at most %d are taken`, len(id), maxID)
		}
	default:
		return invalid(nil, `"id" must be a string or a number`)
	}
	if v := fields["jsonrpc"]; string(v) != `"2.0"` {
		if v == nil {
			return invalid(id, `"jsonrpc" is missing; it must be "2.0"`)
		}
		return invalid(id, `"jsonrpc" must be "2.0", not %s`, clip(string(v), maxEcho))
	}
	rawMethod, hasMethod := fields["method"]
	if !hasMethod {
		// A response to a request of the server's: the SDK matches it.
		if id == nil {
			return invalid(nil, `a message needs a "method" (a request or notification) or an "id" (a response)`)
		}
		return id, "", nil
	}
	var method string
	if err := json.Unmarshal(rawMethod, &method); err != nil {
		return invalid(id, `"method" must be a string`)
	}
	if p, ok := fields["params"]; ok && p[0] != '{' && string(p) != "null" {
		return invalid(id, `"params" of %q must be an object`, clip(method, maxEcho))
	}
	return id, method, nil
}

// methodNotFound is the message of a -32601 answer.
func methodNotFound(method string) string {
	return fmt.Sprintf("Method not found: %q is not a method of this MCP server", clip(method, maxEcho))
}

// jsonBody reports whether r declares a JSON body.
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// sdkAnswer is the http.ResponseWriter the SDK's handler answers through:
// an answer of status 400 or more is held back and rewritten in JSON by
// finish; anything else (results, event streams, 202) passes untouched.
type sdkAnswer struct {
	http.ResponseWriter
	held, passed bool
	status       int
	body         bytes.Buffer
}

func (w *sdkAnswer) WriteHeader(code int) {
	if w.held || w.passed {
		return
	}
	if code >= http.StatusBadRequest {
		w.held, w.status = true, code
		return
	}
	w.passed = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *sdkAnswer) Write(b []byte) (int, error) {
	if !w.held && !w.passed {
		w.WriteHeader(http.StatusOK)
	}
	if w.held {
		if room := maxHeld - w.body.Len(); room > 0 {
			w.body.Write(b[:min(len(b), room)])
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends what passed (through every writer the server wrapped round
// the connection's); a held answer waits for finish.
func (w *sdkAnswer) Flush() {
	if w.passed {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *sdkAnswer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes a held SDK error in JSON. A refused POST (400) is a
// JSON-RPC error object: -32601 when the SDK does not handle the method,
// else -32600, with the request's id when it had one; a JSON-RPC error of
// the SDK's own keeps its code and status, with its message clipped. Any
// other refusal (a session not found, a method or media type not taken) is
// Hypha's {"error","code"}, which the SDK client does not take for a
// JSON-RPC answer: on a 404 it then knows its session is gone.
func (w *sdkAnswer) finish(r *http.Request, m *message, log *slog.Logger) {
	if !w.held {
		return
	}
	out := w.ResponseWriter
	body := bytes.TrimSpace(w.body.Bytes())
	if mt, _, _ := mime.ParseMediaType(out.Header().Get("Content-Type")); mt == "application/json" {
		var resp struct {
			ID    json.RawMessage `json:"id"`
			Error *struct {
				Code    int             `json:"code"`
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &resp) == nil && resp.Error != nil {
			e := &rpcError{status: w.status, code: resp.Error.Code, message: clip(resp.Error.Message, maxMessage), id: resp.ID}
			if len(resp.Error.Data) <= maxMessage {
				e.data = resp.Error.Data
			}
			if e.code == codeMethodNotFound && m != nil && !m.batch {
				e.message = methodNotFound(m.method)
			}
			writeRPCError(out, e)
			return
		}
	}
	out.Header().Del("Content-Length")
	text := clip(string(body), maxMessage)
	if r.Method == http.MethodPost && w.status == http.StatusBadRequest && m != nil {
		e := &rpcError{status: w.status, code: codeInvalidRequest, message: text}
		if !m.batch {
			e.id = m.id
		}
		// The SDK's words for a method it has no handler for
		// (jsonrpc2.ErrNotHandled); TestJSONRPCErrors pins them.
		if strings.HasPrefix(text, "JSON RPC not handled") {
			e.code = codeMethodNotFound
			if !m.batch {
				e.message = methodNotFound(m.method)
			}
		}
		writeRPCError(out, e)
		return
	}
	code := hypha.EInvalid
	switch w.status {
	case http.StatusForbidden:
		code = hypha.EForbidden
		if text == "session user mismatch" {
			text = "this MCP session belongs to another scope (a credential of another grove, or the anonymous tier): send the credential that opened it, or open a session of your own with initialize"
		}
	case http.StatusNotFound:
		code = hypha.ENotFound
		if sid := r.Header.Get(sessionHeader); sid != "" {
			text = fmt.Sprintf("MCP session %q not found: it ended, expired (mcp_session_timeout) or was opened on another server; open a new one with initialize", clip(sid, maxEcho))
		}
	case http.StatusMethodNotAllowed:
		code = hypha.EMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		code = hypha.ETooLarge
	case http.StatusUnsupportedMediaType:
		code = hypha.EUnsupportedMedia
	}
	if w.status >= http.StatusInternalServerError {
		log.Error("internal error", "path", r.URL.Path, "status", w.status, "err", text)
		code, text = hypha.EInternal, "internal error"
	}
	writeJSONError(out, w.status, code, text)
}
