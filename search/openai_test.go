package search_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// provider is a local stand-in for an embeddings provider on the internet:
// it records every request and answers with respond, or, by default, with
// a vector per input whose first value is the input's length in runes.
type provider struct {
	t       *testing.T
	dims    int
	mu      sync.Mutex
	bodies  []providerRequest
	auth    []string
	respond func(w http.ResponseWriter, r *http.Request, n int, req providerRequest) bool // true: answered
}

type providerRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

func (p *provider) requests() []providerRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]providerRequest(nil), p.bodies...)
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		http.Error(w, `{"error":{"message":"no route"}}`, http.StatusNotFound)
		return
	}
	var req providerRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.bodies = append(p.bodies, req)
	p.auth = append(p.auth, r.Header.Get("Authorization"))
	n := len(p.bodies)
	p.mu.Unlock()
	if p.respond != nil && p.respond(w, r, n, req) {
		return
	}
	writeVectors(w, req.Input, p.dims, false)
}

// writeVectors answers one vector per input, [len(input), 1, 0, 0…],
// in reverse order with their index when shuffled.
func writeVectors(w http.ResponseWriter, inputs []string, dims int, shuffled bool) {
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	items := make([]item, len(inputs))
	for i, in := range inputs {
		v := make([]float32, dims)
		v[0], v[1] = float32(len([]rune(in))), 1
		items[i] = item{Object: "embedding", Index: i, Embedding: v}
	}
	if shuffled {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": items, "model": "m"})
}

// sleeps records the waits between attempts instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// newProvider starts the stand-in and an embedder pointed at it.
func newProvider(t *testing.T, dims int, opts search.OpenAIOptions) (*provider, *search.OpenAIEmbedder, *sleeps) {
	t.Helper()
	p := &provider{t: t, dims: dims}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	sl := &sleeps{}
	opts.URL = srv.URL
	if opts.Model == "" {
		opts.Model = "nomic-embed-text"
	}
	if opts.Dims == 0 {
		opts.Dims = dims
	}
	if opts.Sleep == nil {
		opts.Sleep = sl.sleep
	}
	e, err := search.NewOpenAIEmbedder(opts)
	if err != nil {
		t.Fatalf("NewOpenAIEmbedder: %v", err)
	}
	return p, e, sl
}

func wantErrCode(t *testing.T, err error, code string, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := hypha.ErrorCode(err); got != code {
		t.Fatalf("error code %q, want %q (%v)", got, code, err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not mention %q", err, c)
		}
	}
}

func TestOpenAI_BatchesByCountAndLength(t *testing.T) {
	p, e, _ := newProvider(t, 4, search.OpenAIOptions{BatchSize: 3, BatchUnits: 1000, APIKey: "sk-test"})
	texts := []string{
		"a", "bb", "ccc", "dddd", // 3 + 1 by count
		strings.Repeat("x", 900), strings.Repeat("y", 200), // 900 + 200 > 1000: split
		strings.Repeat("z", 1500), // longer than the bound: alone
		"e",
	}
	vecs, err := e.EmbedBatch(t.Context(), texts)
	if err != nil {
		t.Fatalf("EmbedBatch: %v", err)
	}
	var sizes []int
	for _, r := range p.requests() {
		sizes = append(sizes, len(r.Input))
		if r.Model != "nomic-embed-text" {
			t.Errorf("model %q sent", r.Model)
		}
	}
	if fmt.Sprint(sizes) != "[3 2 1 1 1]" {
		t.Fatalf("request sizes %v, want [3 2 1 1 1] (a, bb, ccc | dddd, 900 | 200 | 1500 | e)", sizes)
	}
	for i, v := range vecs {
		// Unit length, and the first value still says which text it is.
		want := float64(len(texts[i])) / math.Sqrt(float64(len(texts[i])*len(texts[i])+1))
		if len(v) != 4 || math.Abs(float64(v[0])-want) > 1e-6 {
			t.Fatalf("vector %d = %v, want the unit vector of text %d", i, v, i)
		}
	}
	for _, a := range p.auth {
		if a != "Bearer sk-test" {
			t.Fatalf("Authorization %q", a)
		}
	}
}

func TestOpenAI_OrdersByIndex(t *testing.T) {
	p, e, _ := newProvider(t, 3, search.OpenAIOptions{})
	p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, req providerRequest) bool {
		writeVectors(w, req.Input, 3, true)
		return true
	}
	vecs, err := e.EmbedBatch(t.Context(), []string{"one", "three", "seventeen"})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []float32{3, 5, 9} {
		if math.Abs(float64(vecs[i][0]/vecs[i][1]-n)) > 1e-3 {
			t.Fatalf("vector %d = %v, want the one of a %v-rune text", i, vecs[i], n)
		}
	}
}

func TestOpenAI_TruncatesEveryText(t *testing.T) {
	p, e, _ := newProvider(t, 2, search.OpenAIOptions{})
	long := strings.Repeat("é", search.MaxEmbeddingUnits+500)
	if _, err := e.EmbedBatch(t.Context(), []string{"short", long}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.requests() {
		got = append(got, r.Input...)
	}
	if len(got) != 2 || got[0] != "short" || got[1] != search.TruncateForEmbedding(long) || !strings.HasSuffix(got[1], search.TruncationSuffix) {
		t.Fatalf("sent %d texts; the long one was not cut by the reference's rule", len(got))
	}
}

func TestOpenAI_RetriesHonourRetryAfter(t *testing.T) {
	p, e, sl := newProvider(t, 2, search.OpenAIOptions{Backoff: time.Second, MaxBackoff: 8 * time.Second})
	p.respond = func(w http.ResponseWriter, _ *http.Request, n int, _ providerRequest) bool {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "7")
			http.Error(w, `{"error":{"message":"Rate limit reached"}}`, http.StatusTooManyRequests)
		case 2:
			w.Header().Set("Retry-After", "2")
			http.Error(w, `{"errors":[{"message":"capacity","code":3040}]}`, http.StatusServiceUnavailable)
		case 3:
			http.Error(w, "upstream gone", http.StatusBadGateway) // no Retry-After: backoff
		default:
			return false
		}
		return true
	}
	if _, err := e.Embed(t.Context(), "hello"); err != nil {
		t.Fatalf("Embed after three transient failures: %v", err)
	}
	w := sl.waits()
	if len(p.requests()) != 4 || len(w) != 3 {
		t.Fatalf("%d requests, %d waits; want 4 and 3", len(p.requests()), len(w))
	}
	if w[0] != 7*time.Second || w[1] != 2*time.Second {
		t.Fatalf("waits %v; want Retry-After's 7s then 2s", w)
	}
	// The third wait is the backoff of attempt 3: 4 s with equal jitter.
	if w[2] < 2*time.Second || w[2] > 4*time.Second {
		t.Fatalf("backoff after attempt 3 = %v, want within [2s, 4s]", w[2])
	}
}

func TestOpenAI_RetryAfterAsDate(t *testing.T) {
	p, e, sl := newProvider(t, 2, search.OpenAIOptions{})
	p.respond = func(w http.ResponseWriter, _ *http.Request, n int, _ providerRequest) bool {
		if n > 1 {
			return false
		}
		w.Header().Set("Retry-After", time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	if _, err := e.Embed(t.Context(), "x"); err != nil {
		t.Fatal(err)
	}
	if w := sl.waits(); len(w) != 1 || w[0] < 25*time.Second || w[0] > 31*time.Second {
		t.Fatalf("waits %v; want about the 30 s the date names", w)
	}
}

func TestOpenAI_GivesUp(t *testing.T) {
	t.Run("after_max_attempts", func(t *testing.T) {
		p, e, sl := newProvider(t, 2, search.OpenAIOptions{MaxAttempts: 3})
		p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, _ providerRequest) bool {
			http.Error(w, `{"error":{"message":"model is loading"}}`, http.StatusServiceUnavailable)
			return true
		}
		_, err := e.Embed(t.Context(), "x")
		wantErrCode(t, err, hypha.EUnavailable, "failed 3 time(s)", "HTTP 503", "model is loading")
		if n := len(p.requests()); n != 3 || len(sl.waits()) != 2 {
			t.Fatalf("%d requests and %d waits, want 3 and 2", n, len(sl.waits()))
		}
	})
	t.Run("retry_after_too_long", func(t *testing.T) {
		p, e, sl := newProvider(t, 2, search.OpenAIOptions{MaxRetryAfter: time.Minute})
		p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, _ providerRequest) bool {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		_, err := e.Embed(t.Context(), "x")
		wantErrCode(t, err, hypha.EUnavailable, "asked to wait 1h0m0s")
		if hypha.RetryAfter(err) != 3600 || len(p.requests()) != 1 || len(sl.waits()) != 0 {
			t.Fatalf("RetryAfter %d, %d requests, %d waits; want 3600, 1, 0", hypha.RetryAfter(err), len(p.requests()), len(sl.waits()))
		}
	})
	t.Run("cancelled_while_waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		p, e, _ := newProvider(t, 2, search.OpenAIOptions{Sleep: func(context.Context, time.Duration) error {
			cancel()
			return context.Canceled
		}})
		p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, _ providerRequest) bool {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		if _, err := e.Embed(ctx, "x"); err != context.Canceled {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestOpenAI_ClientErrorsAreNotRetried(t *testing.T) {
	cases := []struct {
		status int
		body   string
		code   string
		want   []string
	}{
		{400, `{"error":{"message":"input is too long for model context (3030)","type":"invalid_request_error"}}`, hypha.EInvalid,
			[]string{"HTTP 400", "input is too long for model context (3030)", "not retried"}},
		{401, `{"error":{"message":"Incorrect API key provided: sk-secret-value"}}`, hypha.EInternal,
			[]string{"HTTP 401", "embedding_api_key", "[redacted]"}},
		{404, `{"error":"model \"nomic\" not found, try pulling it first"}`, hypha.EInternal,
			[]string{"HTTP 404", `model "nomic" not found`, "embedding_model"}},
		{422, `{"detail":"unprocessable"}`, hypha.EInvalid, []string{"HTTP 422", "unprocessable"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			p, e, sl := newProvider(t, 2, search.OpenAIOptions{APIKey: "sk-secret-value"})
			p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, _ providerRequest) bool {
				http.Error(w, c.body, c.status)
				return true
			}
			_, err := e.EmbedBatch(t.Context(), []string{"a", "b"})
			wantErrCode(t, err, c.code, c.want...)
			if strings.Contains(err.Error(), "sk-secret-value") {
				t.Fatalf("the API key leaked into the error: %v", err)
			}
			if len(p.requests()) != 1 || len(sl.waits()) != 0 {
				t.Fatalf("%d requests, %d waits; a %d must not be retried", len(p.requests()), len(sl.waits()), c.status)
			}
		})
	}
}

func TestOpenAI_ChecksDimensions(t *testing.T) {
	t.Run("configured_differs", func(t *testing.T) {
		_, e, _ := newProvider(t, 768, search.OpenAIOptions{Dims: 1024})
		_, err := e.Embed(t.Context(), "x")
		wantErrCode(t, err, hypha.EInternal, "768-dimensional", "embedding_dimensions is 1024", "set embedding_dimensions = 768")
	})
	t.Run("uneven_in_one_answer", func(t *testing.T) {
		p, e, _ := newProvider(t, 4, search.OpenAIOptions{})
		p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, _ providerRequest) bool {
			_, _ = w.Write([]byte(`{"data":[{"index":0,"embedding":[1,0,0,0]},{"index":1,"embedding":[1,0,0]}]}`))
			return true
		}
		_, err := e.EmbedBatch(t.Context(), []string{"a", "b"})
		wantErrCode(t, err, hypha.EInternal, "different lengths (4 and 3)")
	})
	t.Run("count_differs", func(t *testing.T) {
		p, e, _ := newProvider(t, 2, search.OpenAIOptions{})
		p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, req providerRequest) bool {
			writeVectors(w, req.Input[:1], 2, false)
			return true
		}
		_, err := e.EmbedBatch(t.Context(), []string{"a", "b"})
		wantErrCode(t, err, hypha.EInternal, "1 embeddings for 2 texts")
	})
	t.Run("not_an_embeddings_answer", func(t *testing.T) {
		p, e, _ := newProvider(t, 2, search.OpenAIOptions{})
		p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, _ providerRequest) bool {
			_, _ = w.Write([]byte(`<html>login page</html>`))
			return true
		}
		_, err := e.Embed(t.Context(), "a")
		wantErrCode(t, err, hypha.EInternal, "without an embeddings list", "login page")
	})
}

func TestOpenAI_Timeout(t *testing.T) {
	p, e, sl := newProvider(t, 2, search.OpenAIOptions{Timeout: 20 * time.Millisecond, MaxAttempts: 2})
	p.respond = func(w http.ResponseWriter, r *http.Request, _ int, _ providerRequest) bool {
		<-r.Context().Done() // a provider that never answers
		return true
	}
	_, err := e.Embed(t.Context(), "x")
	wantErrCode(t, err, hypha.EUnavailable, "no answer within 20ms", "failed 2 time(s)")
	if len(p.requests()) != 2 || len(sl.waits()) != 1 {
		t.Fatalf("%d requests, %d waits; want 2 and 1", len(p.requests()), len(sl.waits()))
	}
}

func TestOpenAI_RefusesBadInput(t *testing.T) {
	p, e, _ := newProvider(t, 2, search.OpenAIOptions{})
	_, err := e.EmbedBatch(t.Context(), []string{"a", ""})
	wantErrCode(t, err, hypha.EInvalid, "empty text")
	if len(p.requests()) != 0 {
		t.Fatal("an empty text was sent")
	}
}

func TestOpenAI_Options(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://127.0.0.1:11434", "http://127.0.0.1:11434/v1/embeddings"},
		{"https://api.openai.com/", "https://api.openai.com/v1/embeddings"},
		{"https://api.openai.com/v1", "https://api.openai.com/v1/embeddings"},
		{"https://api.cloudflare.com/client/v4/accounts/abc/ai", "https://api.cloudflare.com/client/v4/accounts/abc/ai/v1/embeddings"},
		{"https://gw.example/v1/embeddings", "https://gw.example/v1/embeddings"},
	} {
		if got, err := search.EmbeddingsEndpoint(c.in); err != nil || got != c.want {
			t.Errorf("EmbeddingsEndpoint(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []search.OpenAIOptions{
		{URL: "ftp://x", Model: "m", Dims: 3},
		{URL: "127.0.0.1:11434", Model: "m", Dims: 3},
		{URL: "http://x", Dims: 3},
		{URL: "http://x", Model: "m"},
	} {
		if _, err := search.NewOpenAIEmbedder(bad); hypha.ErrorCode(err) != hypha.EInvalid {
			t.Errorf("NewOpenAIEmbedder(%+v) = %v, want invalid", bad, err)
		}
	}
	e, err := search.NewOpenAIEmbedder(search.OpenAIOptions{URL: "https://user:pw@gw.example", Model: "bge-m3", Dims: 1024, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	info := hypha.DescribeEmbedder(e)
	if info != (hypha.EmbedderInfo{Provider: "openai", Model: "bge-m3", Dims: 1024}) || strings.Contains(e.Endpoint(), "pw") {
		t.Fatalf("info %+v, endpoint %s", info, e.Endpoint())
	}
	if h := hypha.DescribeEmbedder(search.NewHashEmbedder(0)); h != (hypha.EmbedderInfo{Provider: "hash", Model: search.HashModel, Dims: 384, Lexical: true}) {
		t.Fatalf("hash info %+v", h)
	}
}
