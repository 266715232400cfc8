// Package api is the HTTP surface of the team server: routes, the auth and
// grove middleware, request ids, access logs, body limits and the mapping of
// error codes to statuses. It calls app/ and the store interfaces; it never
// imports an engine.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// DefaultMaxBodyBytes caps request bodies (a batch of 100 records of the
// Myco daemon stays far below it).
const DefaultMaxBodyBytes = 8 << 20

// Server serves the team routes.
type Server struct {
	Store       hypha.Store
	Schema      *app.SchemaWatcher
	Auth        Authenticator
	Credentials *app.Credentials
	Secrets     *app.Secrets // the provider token of /tokens/cf-api; nil answers 503
	Health      *app.Health  // node count for /health; nil shows 0
	Sync        *app.Sync
	Jobs        *app.Jobs
	Search      *app.Search         // GET /search; nil answers 503
	Embedder    *hypha.EmbedderInfo // the embedder /health names; nil omits it
	// MCP serves /mcp (the Streamable HTTP MCP endpoint) and MCPCall POST
	// /mcp/call; both get the caller's hypha.MCPAccess in the request
	// context. nil leaves the routes out.
	MCP          http.Handler
	MCPCall      MCPCaller
	AnonymousMCP *app.AnonymousMCP // the groves' anonymous MCP tier; nil: off everywhere
	// MCPRateLimit and MCPAnonymousRateLimit cap /mcp and /mcp/call
	// requests per grove and second, with a credential and on the
	// anonymous tier (bursts of twice that; 0: no limit). Beyond them a
	// request gets 429 rate_limited with Retry-After.
	MCPRateLimit          float64
	MCPAnonymousRateLimit float64
	Logger                *slog.Logger
	PackageVersion        string
	MaxBodyBytes          int64

	http      *http.Server
	httpOnce  sync.Once
	router    *httpjson.Router // the last Handler's, for Routes
	mcpLimit  *keyedLimiter    // per grove, with a credential
	anonLimit *keyedLimiter    // per grove, anonymous tier
	anonAll   *keyedLimiter    // every anonymous request, before its grove is looked up
}

// Handler returns the server's routes wrapped in its middleware.
func (s *Server) Handler() http.Handler {
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.Jobs == nil && s.Store != nil {
		// A server wired without a consumer still reports its queue and
		// manages its dead letters: those need only the store.
		s.Jobs = app.NewJobs(s.Store, nil, s.Logger, app.JobsOptions{})
	}
	rt := httpjson.NewRouter(s.writeError)
	// As for unknown routes: authentication first, so an unauthenticated
	// caller learns nothing about which methods a route has (the public
	// routes excepted).
	rt.Guard405 = func(path string, h http.Handler) http.Handler {
		if path == "/health" || path == "/validate-team-key" {
			return h
		}
		return s.guard(groveRead, h.ServeHTTP)
	}
	rt.HandleFunc("GET /health", s.handleHealth)
	s.credentialRoutes(rt)
	s.syncRoutes(rt)
	s.jobRoutes(rt)
	s.reindexRoutes(rt)
	s.searchRoutes(rt)
	s.collectiveRoutes(rt)
	s.mcpRoutes(rt)
	// Unknown routes: authentication first, as on the Myco worker, so an
	// unauthenticated caller learns nothing about which routes exist.
	rt.Mux.Handle("/", s.guard(groveRead, s.handleNotFound))
	s.router = rt
	return s.withRequestID(s.withAccessLog(s.withRecover(s.withBodyLimit(s.withStorableURL(rt)))))
}

// Routes lists the "METHOD /path" patterns the last Handler serves, sorted
// (nil before Handler), so a test can check it covers every route. A path
// registered on the mux without a method is not listed.
func (s *Server) Routes() []string {
	if s.router == nil {
		return nil
	}
	return s.router.Patterns()
}

// Serve accepts connections on ln until Shutdown (at once when Shutdown
// came first).
func (s *Server) Serve(ln net.Listener) error {
	srv := s.httpServer()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends. Called before Serve, it makes Serve return at once.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.httpServer().Shutdown(ctx)
}

// httpServer builds the one http.Server, whichever of Serve and Shutdown
// comes first.
func (s *Server) httpServer() *http.Server {
	s.httpOnce.Do(func() {
		s.http = &http.Server{
			Handler:           s.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
		}
	})
	return s.http
}

// writeError answers err (see the package function).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.Logger, err)
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, hypha.Errorf(hypha.ENotFound, "Not found"))
}

// requireSchema answers 503 schema_mismatch (or unavailable) with
// Retry-After while the database is not at a schema this binary can use,
// so clients keep their data rather than lose it.
func (s *Server) requireSchema(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := s.Schema.State(); !st.OK {
			s.writeError(w, r, hypha.Errorf(st.Code, "%s", st.Problem))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withBodyLimit caps every request body; reading past the cap fails with
// *http.MaxBytesError, which handlers map to 413.
func (s *Server) withBodyLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.MaxBodyBytes {
			s.writeError(w, r, hypha.Errorf(hypha.ETooLarge, "request body of %d bytes is over the %d-byte limit", r.ContentLength, s.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// withStorableURL refuses a path or query value holding bytes no engine
// can store or compare alike (NUL, invalid UTF-8) with 400 invalid, before
// any route sees it: SQLite would store them and PostgreSQL refuse them, so
// without this the two engines would answer such a request differently.
func (s *Server) withStorableURL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hypha.ValidText(r.URL.Path) {
			s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "the path holds a NUL byte or invalid UTF-8"))
			return
		}
		if r.URL.RawQuery == "" || !strings.Contains(r.URL.RawQuery, "%") && hypha.ValidText(r.URL.RawQuery) {
			// Nothing escaped (the common case): the raw query is what the
			// handlers read, no need to parse it here too.
			next.ServeHTTP(w, r)
			return
		}
		for k, vs := range r.URL.Query() {
			for _, v := range append(vs, k) {
				if !hypha.ValidText(v) {
					s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "query parameter %q holds a NUL byte or invalid UTF-8", hypha.Clip(strings.ToValidUTF8(k, "?"))))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// withRecover turns a panic into a logged 500 with a JSON body.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type ctxKey int

const requestIDKey ctxKey = iota

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID takes a sane X-Request-ID from the client or makes one, and
// echoes it on the response.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(wire.HeaderRequest)
		if !validRequestID(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set(wire.HeaderRequest, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// statusWriter records the status and size of a response for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withAccessLog logs one structured line per request.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		level := slog.LevelInfo
		if r.URL.Path == "/health" && sw.status < 400 {
			level = slog.LevelDebug // health polls every few seconds would drown the log
		}
		s.Logger.Log(r.Context(), level, "request",
			"method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.bytes,
			"duration_ms", strconv.FormatFloat(float64(time.Since(start).Microseconds())/1000, 'f', 2, 64),
			"request_id", requestID(r.Context()), "remote", r.RemoteAddr)
	})
}
