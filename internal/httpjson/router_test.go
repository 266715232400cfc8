package httpjson_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
)

// errorBody is what testRouter's error handler writes.
type errorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

// testRouter answers errors as {code, error} with status 405 for
// method_not_allowed and 500 otherwise: the servers' own tables are not
// this package's concern.
func testRouter() *httpjson.Router {
	return httpjson.NewRouter(func(w http.ResponseWriter, r *http.Request, err error) {
		status := http.StatusInternalServerError
		if hypha.ErrorCode(err) == hypha.EMethodNotAllowed {
			status = http.StatusMethodNotAllowed
		}
		httpjson.WriteJSON(w, status, errorBody{Code: hypha.ErrorCode(err), Error: hypha.ErrorMessage(err)})
	})
}

// ok answers 200 with the pattern that served the request.
func ok(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.Pattern)) }

// permutations returns every order of ms.
func permutations(ms []string) [][]string {
	if len(ms) <= 1 {
		return [][]string{slices.Clone(ms)}
	}
	var out [][]string
	for i := range ms {
		rest := slices.Concat(ms[:i], ms[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]string{ms[i]}, p...))
		}
	}
	return out
}

func serve(rt http.Handler, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

// TestRouter_MethodNotAllowed: a path served with other methods answers
// 405 through the error handler, with an Allow header in one fixed order
// (alphabetical, HEAD after GET) whatever order the methods were
// registered in.
func TestRouter_MethodNotAllowed(t *testing.T) {
	tests := []struct {
		name      string
		methods   []string // registered on path, in every order
		path      string
		request   string // a path matching the patterns
		wantAllow string
	}{
		{"several with GET", []string{"PUT", "GET", "DELETE", "POST"}, "/things", "/things", "DELETE, GET, HEAD, POST, PUT"},
		{"wildcards", []string{"DELETE", "PATCH", "GET"}, "/items/{type}/{id}", "/items/a/b", "DELETE, GET, HEAD, PATCH"},
		{"HEAD registered too", []string{"HEAD", "GET"}, "/h", "/h", "GET, HEAD"},
		{"no GET, no HEAD", []string{"PUT", "POST"}, "/w", "/w", "POST, PUT"},
		{"one method", []string{"POST"}, "/enqueue", "/enqueue", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range permutations(tt.methods) {
				rt := testRouter()
				for _, m := range order {
					rt.HandleFunc(m+" "+tt.path, ok)
				}
				w := serve(rt, "OPTIONS", tt.request)
				if w.Code != http.StatusMethodNotAllowed {
					t.Fatalf("order %v: OPTIONS %s = %d %s, want 405", order, tt.request, w.Code, w.Body)
				}
				if got := w.Header().Get("Allow"); got != tt.wantAllow {
					t.Fatalf("order %v: Allow = %q, want %q", order, got, tt.wantAllow)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				var body errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
					t.Fatalf("405 body %q: %v", w.Body, err)
				}
				if body.Code != hypha.EMethodNotAllowed || !strings.Contains(body.Error, tt.wantAllow) {
					t.Fatalf("405 body = %+v", body)
				}
				// Each registered method is served by its own handler.
				for _, m := range order {
					if w := serve(rt, m, tt.request); w.Code != http.StatusOK {
						t.Fatalf("%s %s = %d %s", m, tt.request, w.Code, w.Body)
					}
				}
			}
		})
	}
}

// TestRouter_HeadIsServedByGet: HEAD on a GET route is the GET handler,
// not a 405 (net/http's GET patterns match HEAD).
func TestRouter_HeadIsServedByGet(t *testing.T) {
	rt := testRouter()
	rt.HandleFunc("GET /r", ok)
	rt.HandleFunc("POST /r", ok)
	if w := serve(rt, http.MethodHead, "/r"); w.Code != http.StatusOK {
		t.Fatalf("HEAD /r = %d, want 200", w.Code)
	}
}

// TestRouter_LongMethodIsClipped: a client's made-up method is echoed
// clipped in the 405 message.
func TestRouter_LongMethodIsClipped(t *testing.T) {
	rt := testRouter()
	rt.HandleFunc("GET /r", ok)
	long := strings.Repeat("X", 100)
	w := serve(rt, long, "/r")
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("%s /r = %d %s", long[:8], w.Code, w.Body)
	}
	if strings.Contains(body.Error, long[:17]) || !strings.Contains(body.Error, "…") {
		t.Fatalf("405 message does not clip the method: %q", body.Error)
	}
}

// TestRouter_Patterns lists what was registered through Handle, sorted by
// path then method, and nothing registered on Mux directly.
func TestRouter_Patterns(t *testing.T) {
	rt := testRouter()
	for _, p := range []string{"PUT /config", "GET /records/{type}/{id}", "GET /config", "DELETE /a", "POST /a"} {
		rt.HandleFunc(p, ok)
	}
	rt.Mux.HandleFunc("/raw", ok)
	want := []string{"DELETE /a", "POST /a", "GET /config", "PUT /config", "GET /records/{type}/{id}"}
	if got := rt.Patterns(); !slices.Equal(got, want) {
		t.Fatalf("Patterns() = %q, want %q", got, want)
	}
	if got := testRouter().Patterns(); len(got) != 0 {
		t.Fatalf("a new router's Patterns() = %q", got)
	}
}

// TestRouter_HandleNeedsAMethod: a pattern without a method would answer
// every method, which is what the router exists to prevent.
func TestRouter_HandleNeedsAMethod(t *testing.T) {
	for _, p := range []string{"/x", " /x", "GET", "GET x"} {
		t.Run(p, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("Handle(%q) did not panic", p)
				}
			}()
			testRouter().HandleFunc(p, ok)
		})
	}
}

// TestWriteJSON: the status, the content type, and HTML characters left
// as they are.
func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	httpjson.WriteJSON(w, http.StatusTeapot, map[string]string{"q": "<a & b>"})
	if w.Code != http.StatusTeapot || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("WriteJSON = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if got := w.Body.String(); got != `{"q":"<a & b>"}`+"\n" {
		t.Fatalf("WriteJSON body = %q", got)
	}
}
