package mcp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionHeader is the Streamable HTTP session header.
const sessionHeader = "Mcp-Session-Id"

// Handler serves the Streamable HTTP endpoint (mounted at /mcp). The
// caller's hypha.MCPAccess must be in each request's context (package api
// puts it there after authenticating); a request without one is refused.
//
// A POST without a session id that is not an initialize request stands
// alone, as on the Myco worker: a fresh session serves it and ends with it.
// An initialize request opens a session kept in this process (unless
// Options.Stateless), which later requests name in Mcp-Session-Id; a
// session answers only requests of the scope that opened it (403).
//
// Every refusal is JSON: a POST body that is not a JSON-RPC 2.0 message is
// a JSON-RPC error object (see readMessage), and so is a POST the SDK
// refuses with 400; other refusals are Hypha's {"error","code"}.
func (s *Server) Handler() http.Handler {
	getServer := func(r *http.Request) *mcp.Server {
		if a := hypha.MCPAccessFromContext(r.Context()); a != nil {
			return s.ServerFor(a)
		}
		return nil
	}
	// The SDK's own Host check knows no reverse proxy; CheckHost does.
	stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Stateless: true, DisableLocalhostProtection: true, Logger: s.log})
	var sessions http.Handler
	if !s.opts.Stateless {
		sessions = mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
			SessionTimeout: s.opts.SessionTimeout, DisableLocalhostProtection: true, Logger: s.log})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.CheckHost(r); err != nil {
			writeJSONError(w, wire.StatusOf(hypha.EForbidden), hypha.EForbidden, hypha.ErrorMessage(err))
			return
		}
		a := hypha.MCPAccessFromContext(r.Context())
		if a == nil {
			// A wiring bug: the HTTP layer must authenticate first.
			writeJSONError(w, wire.StatusOf(hypha.EUnauthorized), hypha.EUnauthorized, "Missing Authorization header")
			return
		}
		sid := r.Header.Get(sessionHeader)
		if sessions != nil && sid != "" {
			if code, msg := s.sessionRefused(sid, a); code != "" {
				writeJSONError(w, wire.StatusOf(code), code, msg)
				return
			}
		}
		var m *message
		if r.Method == http.MethodPost && jsonBody(r) {
			// Any other media type the SDK refuses (415) unread.
			body, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					writeJSONError(w, wire.StatusOf(hypha.ETooLarge), hypha.ETooLarge, fmt.Sprintf("request body is over the %d-byte limit", mbe.Limit))
				} else {
					writeJSONError(w, wire.StatusOf(hypha.EInvalid), hypha.EInvalid, "reading the request body failed")
				}
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var rerr *rpcError
			if m, rerr = readMessage(body); rerr != nil {
				writeRPCError(w, rerr)
				return
			}
		}
		// Requests naming a session, GET streams and DELETEs (which need
		// one) and initialize requests go to the session handler.
		var h http.Handler = stateless
		if sessions != nil && (sid != "" || r.Method != http.MethodPost || m != nil && m.initialize) {
			h = sessions
			if r.Method == http.MethodPost && sid == "" && s.sessionsFull(a) {
				// An initialize over the scope's cap: answered without a
				// session id, so the client goes on statelessly.
				h = stateless
			}
		}
		if r.Method == http.MethodGet {
			// A standalone event stream lasts as long as the client
			// listens; Close ends it so shutdown is not held up.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(s.closing, cancel)
			defer stop()
			r = r.WithContext(ctx)
		}
		aw := &sdkAnswer{ResponseWriter: w}
		withTokenInfo(h, a).ServeHTTP(aw, r)
		aw.finish(r, m, s.log)
	})
}

// sessionsFull reports whether a's scope holds its cap of open sessions.
func (s *Server) sessionsFull(a *hypha.MCPAccess) bool {
	limit := s.opts.MaxSessions
	if limit <= 0 {
		limit = DefaultMaxSessions
	}
	n := 0
	for range s.ServerFor(a).Sessions() {
		if n++; n >= limit {
			return true
		}
	}
	return false
}

// withTokenInfo hands a to the SDK as the request's TokenInfo, the only
// per-request value the SDK gives tool handlers, through its own bearer
// middleware; the TokenInfo's UserID is a's session owner, which the SDK
// checks on every request naming a session. The anonymous tier has no
// bearer to hand on: it gets a stand-in, so its sessions have an owner too.
func withTokenInfo(h http.Handler, a *hypha.MCPAccess) http.Handler {
	verify := func(context.Context, string, *http.Request) (*auth.TokenInfo, error) { return tokenInfo(a), nil }
	h = auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	if !a.Anonymous {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer anonymous")
		h.ServeHTTP(w, r)
	})
}

// CheckHost is the DNS rebinding protection of the MCP transport spec,
// for /mcp and POST /mcp/call: a request that arrives on a loopback
// address must name a loopback host or one of Options.AllowedHosts, else
// it is refused as forbidden. A page on a rebinding domain reaches the
// loopback server with its own domain as Host.
func (s *Server) CheckHost(r *http.Request) error {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || !isLoopback(la.String()) {
		return nil
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if isLoopback(host) || slices.ContainsFunc(s.opts.AllowedHosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		return nil
	}
	return hypha.Errorf(hypha.EForbidden, "Host %q is not served on a loopback connection (DNS rebinding protection); a reverse proxy's public name belongs in mcp_allowed_hosts", clip(r.Host, maxEcho))
}

// isLoopback reports whether an address or host name is a loopback one.
func isLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// writeJSONError answers an error in the shape of every Hypha error. The
// status is the code's (wire.StatusOf), except where the SDK chose one.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.WriteJSON(w, status, wire.ErrorBody{Error: msg, Code: code})
}

// ownerKey names who may use a session: a grove's token tier (every MCP
// token and Team Key of the grove) or its anonymous tier.
func ownerKey(a *hypha.MCPAccess) string {
	if a.Anonymous {
		return "anonymous:" + a.GroveID
	}
	return "grove:" + a.GroveID
}

// Session ids carry their owner, so a request naming another scope's
// session is refused with a reason before the SDK looks it up:
// "t" (token tier) or "a" (anonymous), 16 hex digits of a keyed hash of
// the grove (the key is the process's; sessions live in one process), a
// dot, and 26 random characters. The SDK's own owner check (the
// TokenInfo's UserID) stays behind it.
const (
	sidGroveLen = 16
	sidRandLen  = 26 // rand.Text
	sidLen      = 1 + sidGroveLen + 1 + sidRandLen
)

// newSessionID mints the id of a session opened by a.
func (s *Server) newSessionID(a *hypha.MCPAccess) string {
	tier := "t"
	if a.Anonymous {
		tier = "a"
	}
	return tier + s.groveTag(a.GroveID) + "." + rand.Text()
}

// groveTag is the keyed hash of a grove in its session ids.
func (s *Server) groveTag(grove string) string {
	h := hmac.New(sha256.New, s.sidKey)
	h.Write([]byte(grove))
	return hex.EncodeToString(h.Sum(nil))[:sidGroveLen]
}

// sessionRefused says why a may not use session sid (a code and a
// message), or returns "" when it may, or when sid is not one of ours
// (the SDK then answers 404). Another grove's session is grove_forbidden;
// the other tier of a's own grove is forbidden.
func (s *Server) sessionRefused(sid string, a *hypha.MCPAccess) (code, msg string) {
	if len(sid) != sidLen || sid[0] != 't' && sid[0] != 'a' || sid[1+sidGroveLen] != '.' {
		return "", ""
	}
	anonymous, tag := sid[0] == 'a', sid[1:1+sidGroveLen]
	if !hmac.Equal([]byte(tag), []byte(s.groveTag(a.GroveID))) {
		return hypha.EGroveForbidden, fmt.Sprintf("MCP session %q belongs to another grove; this request's access is scoped to grove %q: send the credential that opened the session, or open a session of your own with initialize", sid, a.GroveID)
	}
	switch {
	case anonymous && !a.Anonymous:
		return hypha.EForbidden, fmt.Sprintf("MCP session %q was opened without a credential, on grove %q's anonymous tier; a request with a credential needs a session of its own: open one with initialize", sid, a.GroveID)
	case !anonymous && a.Anonymous:
		return hypha.EForbidden, fmt.Sprintf("MCP session %q was opened with a credential of grove %q; a request without one cannot use it: send that credential, or open a session of your own with initialize", sid, a.GroveID)
	}
	return "", ""
}
