// Package httpjson holds what the team server (api) and the daemon's
// control socket share to speak JSON over HTTP: a router on Go's method
// patterns whose 405 is a JSON error with a stable Allow header, strict
// JSON request decoding and JSON answers.
package httpjson

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/hyphateam/hypha"
)

// Router registers handlers on "METHOD /path" patterns. A request whose
// path matches a registered pattern but not with its method gets the
// router's error handler with a method_not_allowed error and an Allow
// header listing the path's methods in a fixed order (alphabetical, HEAD
// after GET since GET patterns serve it too).
type Router struct {
	Mux *http.ServeMux
	// Error writes an error answer (the server's and the daemon's own).
	Error func(w http.ResponseWriter, r *http.Request, err error)
	// Guard405, when set, wraps the method_not_allowed answers, so a
	// server that authenticates before saying a route does not exist
	// authenticates before saying which methods one has.
	Guard405 func(path string, h http.Handler) http.Handler

	mu      sync.Mutex
	methods map[string][]string // path pattern → its methods
}

// NewRouter returns a router that answers errors with errFn.
func NewRouter(errFn func(w http.ResponseWriter, r *http.Request, err error)) *Router {
	return &Router{Mux: http.NewServeMux(), Error: errFn, methods: map[string][]string{}}
}

// Handle registers h for pattern, which must name a method:
// "POST /enqueue", "GET /records/{type}/{id}".
func (rt *Router) Handle(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		panic("httpjson: pattern " + pattern + " names no method")
	}
	rt.Mux.Handle(pattern, h)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	known, seen := rt.methods[path]
	rt.methods[path] = append(known, method)
	if !seen {
		var notAllowed http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			allow := rt.allow(path)
			w.Header().Set("Allow", allow)
			rt.Error(w, r, hypha.Errorf(hypha.EMethodNotAllowed, "%s is not allowed here (allowed: %s)", clipMethod(r.Method), allow))
		})
		if rt.Guard405 != nil {
			notAllowed = rt.Guard405(path, notAllowed)
		}
		rt.Mux.Handle(path, notAllowed)
	}
}

// HandleFunc registers f for pattern.
func (rt *Router) HandleFunc(pattern string, f http.HandlerFunc) { rt.Handle(pattern, f) }

// ServeHTTP dispatches to the registered handlers.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.Mux.ServeHTTP(w, r) }

// Patterns lists the "METHOD /path" patterns registered through Handle,
// sorted by path, then method, so a test can check every route is
// covered. What is registered on Mux directly is not listed.
func (rt *Router) Patterns() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	paths := slices.Sorted(maps.Keys(rt.methods))
	var out []string
	for _, p := range paths {
		for _, m := range slices.Sorted(slices.Values(rt.methods[p])) {
			out = append(out, m+" "+p)
		}
	}
	return out
}

func (rt *Router) allow(path string) string {
	rt.mu.Lock()
	ms := slices.Clone(rt.methods[path])
	rt.mu.Unlock()
	if slices.Contains(ms, http.MethodGet) && !slices.Contains(ms, http.MethodHead) {
		ms = append(ms, http.MethodHead)
	}
	slices.Sort(ms)
	return strings.Join(ms, ", ")
}

func clipMethod(m string) string {
	if len(m) > 16 {
		return m[:16] + "…"
	}
	return m
}

// WriteJSON writes v as JSON with the given status (HTML characters are
// not escaped: the answers are data, not markup).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// ReadJSON decodes the request body into v. Malformed JSON is a 400
// bad_json (never a 500), as is data after the value; a value of the wrong
// type is a 400 invalid naming the field (with its path, "inner.n", when
// nested); a body over an http.MaxBytesReader limit is a 413
// payload_too_large; an empty body is the zero value when allowEmpty, a
// 400 bad_json otherwise. A field's own UnmarshalJSON names the field by
// failing with a *json.UnmarshalTypeError (as wire.Int does), which
// encoding/json completes with the field's path; a *hypha.Error it returns
// is passed through as it is, and cannot name the field.
func ReadJSON(r *http.Request, v any, allowEmpty bool) error {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := decodeError(dec.Decode(v), allowEmpty); err != nil {
		return err
	}
	// Anything after the value is garbage too.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return hypha.Errorf(hypha.ETooLarge, "request body is over the %d-byte limit", mbe.Limit)
		}
		return hypha.Errorf(hypha.EBadJSON, "request body has data after its JSON value")
	}
	return nil
}

func decodeError(err error, allowEmpty bool) error {
	var mbe *http.MaxBytesError
	var he *hypha.Error
	var ute *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe):
		return hypha.Errorf(hypha.ETooLarge, "request body is over the %d-byte limit", mbe.Limit)
	case errors.Is(err, io.EOF):
		if allowEmpty {
			return nil
		}
		return hypha.Errorf(hypha.EBadJSON, "request body is empty; expected a JSON object")
	case errors.As(err, &he):
		// A field's own check: already a coded error.
		return he
	case errors.As(err, &ute):
		if ute.Field != "" {
			return hypha.Errorf(hypha.EInvalid, "field %s: expected %s, got JSON %s", ute.Field, jsonType(ute.Type.String()), ute.Value)
		}
		return hypha.Errorf(hypha.EInvalid, "expected %s, got JSON %s", jsonType(ute.Type.String()), ute.Value)
	default:
		return hypha.Errorf(hypha.EBadJSON, "request body is not valid JSON: %v", err)
	}
}

// jsonType names a Go type the way a JSON client thinks of it.
func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"), strings.Contains(goType, "."):
		return "an object"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return goType
}
