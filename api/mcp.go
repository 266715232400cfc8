package api

import (
	"context"
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// MCPCaller runs one MCP method for POST /mcp/call with the access the
// request's context carries (hypha.MCPAccessFromContext): a tool name with
// its arguments, "tools/call" with {name, arguments}, or "tools/list". It
// answers the tool's JSON result, or an error with a stable code.
type MCPCaller interface {
	Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
	// CheckHost refuses (forbidden) a request whose Host a DNS rebinding
	// page would send: the one check /mcp makes too.
	CheckHost(r *http.Request) error
}

// mcpRoutes registers /mcp (the Streamable HTTP endpoint) and /mcp/call
// when the server has an MCP handler. Both take the grove MCP token, a
// Team Key, or nothing on the anonymous tier of a grove that enabled it.
func (s *Server) mcpRoutes(rt *httpjson.Router) {
	s.mcpLimit = newKeyedLimiter(s.MCPRateLimit, nil)
	s.anonLimit = newKeyedLimiter(s.MCPAnonymousRateLimit, nil)
	s.anonAll = newKeyedLimiter(anonymousTotalFactor*s.MCPAnonymousRateLimit, nil)
	if s.MCP != nil {
		h := s.mcpGuard(s.MCP)
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			rt.Handle(m+" /mcp", h)
		}
	}
	if s.MCPCall != nil {
		rt.Handle("POST /mcp/call", s.mcpCallGate(s.mcpGuard(http.HandlerFunc(s.handleMCPCall))))
	}
}

// mcpCallGate refuses, before any credential is looked at, what a web page
// can send POST /mcp/call from a browser: a rebound Host (403 forbidden,
// the check of /mcp), and a body not declared application/json (415), as
// a page's form or text/plain "simple request" is, which a browser sends
// cross-origin without asking the server first (a CORS preflight). With a
// grove's anonymous tier on, such a page would otherwise read its records.
func (s *Server) mcpCallGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.MCPCall.CheckHost(r); err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, r, s.Logger, hypha.Errorf(hypha.EUnsupportedMedia, "POST /mcp/call takes a JSON body sent with 'Content-Type: application/json'"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// mcpReconnect is the hint of every 401 on /mcp.
const mcpReconnect = "send 'Authorization: Bearer <grove MCP access token>'; a daemon gets a fresh token from POST /connect, a client without one from the operator (`hypha token create-mcp`); then reconnect"

// authenticateMCP resolves the access of an MCP request. With a credential
// it is the usual grove check (an MCP token only in its own grove, 403
// grove_forbidden otherwise; a Team Key in the X-Grove-ID grove). Without
// one it is the anonymous tier of the X-Grove-ID grove, if that grove
// enabled it, and 401 otherwise.
func (s *Server) authenticateMCP(r *http.Request) (*hypha.MCPAccess, error) {
	if _, present := bearer(r); present {
		st, err := s.authenticate(r, groveRead)
		if err != nil {
			if hypha.ErrorCode(err) == hypha.EUnauthorized && strings.HasPrefix(hypha.ErrorMessage(err), "Invalid Team key") {
				// A secret that is neither a Team Key nor an MCP token:
				// on /mcp the caller meant an MCP token.
				return nil, hypha.Errorf(hypha.EUnauthorized, "Invalid MCP access token: %s", mcpReconnect)
			}
			return nil, err
		}
		if err := limited(s.mcpLimit, st.grove, "MCP requests"); err != nil {
			return nil, err
		}
		return &hypha.MCPAccess{GroveID: st.grove, Principal: st.principal}, nil
	}
	grove := strings.TrimSpace(r.Header.Get(wire.HeaderGrove))
	if grove != "" && s.AnonymousMCP != nil {
		if err := hypha.ValidateGroveID(grove); err != nil {
			return nil, err
		}
		// Before the grove's setting is read, every request without a
		// credential counts against the budget of all of them together,
		// so a flood (naming any groves) costs the store little; then
		// against its grove's own, kept only for groves that opened the
		// tier, so made-up grove names cannot grow the limiter.
		if err := limited(s.anonAll, "", "anonymous MCP requests"); err != nil {
			return nil, err
		}
		tools, err := s.AnonymousMCP.Tools(r.Context(), grove)
		if err != nil {
			return nil, err
		}
		if len(tools) > 0 {
			if err := limited(s.anonLimit, grove, "anonymous MCP requests"); err != nil {
				return nil, err
			}
			return &hypha.MCPAccess{GroveID: grove, Anonymous: true, Tools: tools}, nil
		}
	}
	return nil, hypha.Errorf(hypha.EUnauthorized, "Missing Authorization header: %s", mcpReconnect)
}

// anonymousTotalFactor sizes the budget of all anonymous requests
// together: that many groves' worth.
const anonymousTotalFactor = 5

// limited takes one request of grove from l, or returns the 429 that
// says when to retry.
func limited(l *keyedLimiter, grove, what string) error {
	ok, wait := l.allow(grove)
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	if grove == "" {
		return hypha.RateLimitedf(secs, "too many %s on this server: at most %g a second (bursts of %d); retry in %d s",
			what, l.perSecond, l.burst, max(secs, 1))
	}
	return hypha.RateLimitedf(secs, "too many %s for grove %q: at most %g a second (bursts of %d); retry in %d s",
		what, grove, l.perSecond, l.burst, max(secs, 1))
}

// mcpGuard wraps an MCP handler with the schema gate and authenticateMCP,
// and hands the access on in the request's context.
func (s *Server) mcpGuard(next http.Handler) http.Handler {
	return s.requireSchema(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.authenticateMCP(r)
		if err != nil {
			if wire.StatusOf(hypha.ErrorCode(err)) == http.StatusUnauthorized {
				// MCP clients read this header (RFC 6750) to know a
				// credential is wanted.
				w.Header().Set("WWW-Authenticate", `Bearer realm="hypha", error="invalid_token"`)
			}
			s.writeError(w, r, err)
			return
		}
		w.Header().Set(wire.HeaderProtocol, strconv.Itoa(hypha.SyncProtocolVersion))
		next.ServeHTTP(w, r.WithContext(hypha.NewContextWithMCPAccess(r.Context(), a)))
	}))
}

// handleMCPCall runs one tool: {"method": "myco_search", "params": {…}}
// answers the tool's JSON result; a tool failure answers its code's status.
func (s *Server) handleMCPCall(w http.ResponseWriter, r *http.Request) {
	var body wire.MCPCallRequest
	if err := readJSON(r, &body, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(body.Method) == "" {
		s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "method is required: a tool name such as myco_search, tools/call or tools/list"))
		return
	}
	out, err := s.MCPCall.Call(r.Context(), body.Method, body.Params)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}
