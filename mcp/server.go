// Package mcp is Hypha's cloud MCP server: the Myco team worker's
// read-only, grove-scoped tools (reference §7: myco_search, myco_cortex,
// myco_plans, myco_sessions, myco_skills, myco_spores) on the official Go
// SDK, served over Streamable HTTP at /mcp and run in-process for POST
// /mcp/call.
//
// The HTTP layer (package api) authenticates every request and puts the
// caller's hypha.MCPAccess in its context; this package never sees a
// secret. Each access scope (a grove's token tier, or a grove's anonymous
// tier with its tools) gets an SDK server of its own whose tools are bound
// to that grove, so no tool can read outside it whatever its arguments.
package mcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Searcher is the search service the tools use (app.Search): the groves
// that share their records with a grove, read once per tool call, and
// grove-scoped search given them.
type Searcher interface {
	SharedWith(ctx context.Context, grove string) ([]string, error)
	SearchWith(ctx context.Context, grove string, shared []string, q hypha.SearchQuery) ([]hypha.SearchResult, error)
}

// Options configure a Server.
type Options struct {
	// Store holds the synced records the tools read.
	Store hypha.Store
	// Search serves myco_search and names the groves sharing with a
	// grove. nil: myco_search fails with "unavailable" and the other tools
	// read the caller's grove only.
	Search Searcher
	// Stateless serves every request on its own, with no Mcp-Session-Id,
	// as the Myco worker on Cloudflare does: the setting for several
	// instances behind a load balancer without sticky sessions. Otherwise
	// an initialize request opens a session (kept in this process) and
	// requests without a session id are still served statelessly.
	Stateless bool
	// AllowedHosts are the host names, besides loopback ones, that /mcp
	// answers to when a connection arrives on a loopback address: the
	// public name of a reverse proxy on the same machine. Any other Host
	// on a loopback connection is refused (403) as DNS rebinding.
	AllowedHosts []string
	// SessionTimeout closes a session idle this long; 0 means 30 minutes.
	SessionTimeout time.Duration
	// MaxSessions bounds the open sessions of one access scope (a grove's
	// token tier, a grove's anonymous tier); 0 means DefaultMaxSessions.
	// An initialize beyond it is answered without a session: the client
	// goes on statelessly, every request standing alone.
	MaxSessions int
	// Version is the server version clients see.
	Version string
	Logger  *slog.Logger
}

// DefaultSessionTimeout is how long an idle MCP session is kept.
const DefaultSessionTimeout = 30 * time.Minute

// DefaultMaxSessions is how many sessions one access scope may hold open.
const DefaultMaxSessions = 1000

// maxScopes bounds the cache of per-scope SDK servers.
const maxScopes = 4096

// Server builds the SDK servers of each access scope and serves them.
type Server struct {
	opts  Options
	log   *slog.Logger
	tools []tool // every tool, in hypha.MCPTools order

	mu      sync.Mutex
	servers map[string]*mcp.Server // by scopeKey

	closing context.Context
	close   context.CancelFunc
	sidKey  []byte // keys the grove hash in session ids (newSessionID)
	callState
}

// tool is one MCP tool: its definition (with schemas) and how to add it
// to an SDK server bound to an access scope.
type tool struct {
	def *mcp.Tool
	add func(srv *mcp.Server, a *hypha.MCPAccess)
}

// New returns a Server over o.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	s := &Server{opts: o, log: o.Logger, servers: make(map[string]*mcp.Server), sidKey: make([]byte, 32)}
	_, _ = rand.Read(s.sidKey) // never fails (crypto/rand)
	s.closing, s.close = context.WithCancel(context.Background())
	s.tools = []tool{s.searchTool(), s.cortexTool(), s.plansTool(), s.sessionsTool(), s.skillsTool(), s.sporesTool()}
	return s
}

// Close ends every open session and standalone event stream, so an HTTP
// shutdown is not held up by clients listening for notifications. Call it
// before shutting the HTTP server down.
func (s *Server) Close() {
	s.close()
	s.mu.Lock()
	servers := make([]*mcp.Server, 0, len(s.servers))
	for _, srv := range s.servers {
		servers = append(servers, srv)
	}
	s.mu.Unlock()
	for _, srv := range servers {
		for ss := range srv.Sessions() {
			_ = ss.Close()
		}
	}
}

// scopeKey names an access scope: everything that decides what its SDK
// server offers. Sessions are owned by the coarser ownerKey: a grove's
// anonymous tier whose tools change keeps its sessions, and each call is
// checked against the tools open now (scopeOf).
func scopeKey(a *hypha.MCPAccess) string {
	if a.Anonymous {
		return "anonymous:" + a.GroveID + ":" + strings.Join(a.Tools, ",")
	}
	return "grove:" + a.GroveID
}

// ServerFor returns the SDK server of a's scope: the tools a may call,
// bound to a's grove. Servers are cached per scope.
func (s *Server) ServerFor(a *hypha.MCPAccess) *mcp.Server {
	key := scopeKey(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if srv, ok := s.servers[key]; ok {
		return srv
	}
	if len(s.servers) >= maxScopes {
		// Sessions keep their server; only the lookup is forgotten.
		clear(s.servers)
	}
	srv := s.newServer(a)
	s.servers[key] = srv
	return srv
}

// newServer builds an SDK server for one access scope.
func (s *Server) newServer(a *hypha.MCPAccess) *mcp.Server {
	scope := *a
	scope.Tools = slices.Clone(a.Tools)
	srv := mcp.NewServer(&mcp.Implementation{Name: "myco", Title: "Hypha team MCP", Version: s.opts.Version}, &mcp.ServerOptions{
		Instructions: instructions(&scope),
		// No sessions to page through tools; six tools fit one page.
		PageSize:     100,
		GetSessionID: func() string { return s.newSessionID(&scope) },
	})
	srv.AddReceivingMiddleware(s.toolErrors(&scope), clipErrors)
	for i, name := range hypha.MCPTools {
		if scope.Allows(name) {
			s.tools[i].add(srv, &scope)
		}
	}
	return srv
}

func instructions(a *hypha.MCPAccess) string {
	if a.Anonymous {
		return "Read-only access to the public records of grove " + a.GroveID + ". myco_search results carry a retrieve hint: call the named tool with its input to read a record in full."
	}
	return "Read-only access to the team knowledge of grove " + a.GroveID + " (and records other groves share with it). myco_search results carry a retrieve hint: call the named tool with its input to read a record in full."
}

// scope is what one tool call may read.
type scope struct {
	grove  string
	shared []string // other groves whose cross_grove records are visible
	public bool     // the anonymous tier: public records of grove only
}

// accessKey is the TokenInfo.Extra key of a request's hypha.MCPAccess.
const accessKey = "hypha_access"

// scopeOf checks that the request behind a tool call is one of the scope
// the server was built for (over HTTP, each request carries its own
// access; in-process there is only the bound one) and resolves what the
// call may read.
func (s *Server) scopeOf(ctx context.Context, req *mcp.CallToolRequest, bound *hypha.MCPAccess, name string) (*scope, error) {
	if req != nil && req.Extra != nil && req.Extra.TokenInfo != nil {
		a, _ := req.Extra.TokenInfo.Extra[accessKey].(*hypha.MCPAccess)
		if a == nil || a.GroveID != bound.GroveID || a.Anonymous != bound.Anonymous {
			return nil, hypha.Errorf(hypha.EGroveForbidden, "this MCP session belongs to grove %q; reconnect with a credential of that grove", bound.GroveID)
		}
		if !a.Allows(name) {
			return nil, hypha.Errorf(hypha.EForbidden, "tool %s is not open to this caller in grove %q", name, bound.GroveID)
		}
	}
	sc := &scope{grove: bound.GroveID, public: bound.Anonymous}
	if !bound.Anonymous && s.opts.Search != nil {
		shared, err := s.opts.Search.SharedWith(ctx, bound.GroveID)
		if err != nil {
			return nil, err
		}
		sc.shared = shared
	}
	return sc, nil
}

// newTool makes a tool of a typed handler h, registered with the SDK's
// raw Server.AddTool rather than its typed mcp.AddTool. The typed path
// costs more than a list tool itself at every call: it decodes and
// re-encodes the arguments, then decodes the whole answer into generic
// maps, validates it against the output schema and encodes it again. Here:
//
//   - The published schemas are def's, unchanged: tools/list shows the same
//     input schema (with its limits and defaults) and output schema.
//   - The arguments are checked and completed by the same input schema as
//     before, resolved once here (see decodeArgs); refused arguments are
//     tool errors with code "invalid", as before.
//   - The answer is encoded once; those bytes are both the structured
//     content and the JSON text item.
//   - The answer is not validated against the output schema at each call:
//     the schema is derived from the Go type that produces it, and
//     TestOutputSchemas validates every tool's real answers against it.
//
// The handler gets the call's resolved scope; every failure it returns
// becomes a tool error with a stable code (see toolErrors).
func newTool[In, Out any](s *Server, def *mcp.Tool, h func(context.Context, *scope, In) (Out, error)) tool {
	input, err := def.InputSchema.(*jsonschema.Schema).Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		panic(fmt.Sprintf("mcp: tool %s: input schema: %v", def.Name, err))
	}
	return tool{def: def, add: func(srv *mcp.Server, a *hypha.MCPAccess) {
		srv.AddTool(def, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			out, err := func() (Out, error) {
				var zero Out
				in, err := decodeArgs[In](req.Params.Arguments, input)
				if err != nil {
					return zero, err
				}
				sc, err := s.scopeOf(ctx, req, a, def.Name)
				if err != nil {
					return zero, err
				}
				return h(ctx, sc, in)
			}()
			var b []byte
			if err == nil {
				b, err = json.Marshal(out)
			}
			if err != nil {
				res := &mcp.CallToolResult{}
				res.SetError(asCoded(err))
				return res, nil
			}
			return &mcp.CallToolResult{
				Content:           []mcp.Content{&mcp.TextContent{Text: string(b)}},
				StructuredContent: json.RawMessage(b),
			}, nil
		})
	}}
}

// decodeArgs reads a call's arguments into In as the SDK's typed tools
// do: absent or null arguments are {} (null crashes the SDK's typed path:
// it applies defaults to a nil map; TestSDKNullArguments notices a fix);
// the schema's defaults fill absent properties; the result must validate
// against the input schema (types, limits, enums, no unknown properties);
// then it is decoded into In. The arguments are a small object, so this
// costs microseconds. A refusal is "invalid", with the SDK's wording.
func decodeArgs[In any](raw json.RawMessage, schema *jsonschema.Resolved) (In, error) {
	var in In
	args := map[string]any{}
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &args); err != nil {
			return in, hypha.Errorf(hypha.EInvalid, "validating \"arguments\": unmarshaling arguments: %v", err)
		}
	}
	if err := schema.ApplyDefaults(&args); err != nil {
		return in, hypha.Errorf(hypha.EInvalid, "validating \"arguments\": applying schema defaults: %v", err)
	}
	if err := schema.Validate(args); err != nil {
		return in, hypha.Errorf(hypha.EInvalid, "validating \"arguments\": %v", err)
	}
	// Valid arguments name only In's fields, with their JSON types.
	b, err := json.Marshal(args)
	if err == nil {
		err = json.Unmarshal(b, &in)
	}
	if err != nil {
		return in, hypha.Errorf(hypha.EInvalid, "validating \"arguments\": %v", err)
	}
	return in, nil
}

// asCoded makes every error of a tool a *hypha.Error with a code.
func asCoded(err error) error {
	var he *hypha.Error
	if errors.As(err, &he) {
		return err
	}
	if code := hypha.ErrorCode(err); code != hypha.EInternal {
		return hypha.WrapError(code, hypha.ErrorMessage(err), err)
	}
	return hypha.WrapError(hypha.EInternal, "", err)
}

// toolFailure is the JSON of a failed tool call: the Myco worker's
// {"ok": false, "error": …} plus a stable code and the grove it ran in.
type toolFailure struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Code    string `json:"code"`
	GroveID string `json:"grove_id"`
}

// toolErrors rewrites every failed tools/call result as a toolFailure
// text item. Errors of our tools carry their code (refused arguments are
// "invalid", see decodeArgs); any other failed result is "invalid" too.
// Internal errors are logged here, once, and never shown.
func (s *Server) toolErrors(a *hypha.MCPAccess) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			r, ok := res.(*mcp.CallToolResult)
			if err != nil || method != "tools/call" || !ok || r == nil || !r.IsError {
				return res, err
			}
			f := toolFailure{Code: hypha.EInvalid, GroveID: a.GroveID}
			cause := r.GetError()
			var he *hypha.Error
			switch {
			case errors.As(cause, &he):
				f.Code, f.Error = he.Code, hypha.ErrorMessage(cause)
				if he.Code == hypha.EInternal {
					f.Error = "internal error"
					name := ""
					if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok {
						name = p.Name
					}
					s.log.Error("internal error", "tool", name, "grove", a.GroveID, "err", cause)
				}
			case cause != nil:
				f.Error = cause.Error()
			default:
				f.Error = textOf(r)
			}
			// A refused argument's value may be repeated in the message.
			f.Error = clip(f.Error, maxMessage)
			b, _ := json.Marshal(f)
			r.Content = []mcp.Content{&mcp.TextContent{Text: string(b)}}
			r.StructuredContent = nil
			return r, nil
		}
	}
}

// textOf returns the text of a result's first text item.
func textOf(r *mcp.CallToolResult) string {
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return "tool failed"
}

// tokenInfo carries a request's access to the tool handlers through the
// SDK, which hands handlers the TokenInfo of the HTTP request that
// carried the call; UserID ties a session to the owner that opened it.
func tokenInfo(a *hypha.MCPAccess) *auth.TokenInfo {
	return &auth.TokenInfo{UserID: ownerKey(a), Extra: map[string]any{accessKey: a}}
}
