package search

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
)

// ProviderOpenAI names the OpenAI-compatible embedder in the embedder
// setting and /health.
const ProviderOpenAI = "openai"

// Defaults of the OpenAI-compatible embedder.
const (
	DefaultOpenAITimeout       = 30 * time.Second
	DefaultOpenAIAttempts      = 5
	DefaultOpenAIBatchSize     = 32
	DefaultOpenAIBatchUnits    = 16_000 // two texts of the longest embedded length
	DefaultOpenAIBackoff       = 500 * time.Millisecond
	DefaultOpenAIMaxBackoff    = 30 * time.Second
	DefaultOpenAIMaxRetryAfter = time.Minute
)

// OpenAIOptions configure an OpenAIEmbedder; zero values take the defaults.
type OpenAIOptions struct {
	// URL is the provider's base URL, for example http://127.0.0.1:11434
	// (Ollama), https://api.openai.com, or
	// https://api.cloudflare.com/client/v4/accounts/<account>/ai (Workers
	// AI). "/v1/embeddings" is appended unless the URL already ends with it
	// (or with "/v1").
	URL   string
	Model string
	// Dims is the length of the model's vectors; every answer is checked
	// against it.
	Dims int
	// APIKey is sent as a Bearer token when set. It never appears in
	// errors, even when the provider echoes it.
	APIKey string
	// APIKeyFunc, when set, replaces APIKey: it is called for every
	// request, so a key stored while the server runs (POST
	// /tokens/cf-api) is used without a restart. "" sends no key.
	APIKeyFunc func() string
	// Timeout bounds one request, including reading the answer.
	Timeout time.Duration
	// MaxAttempts bounds the requests per batch: a 429, a 5xx, a 408, a
	// timeout or a network error is retried until then; any other answer
	// is final.
	MaxAttempts int
	// BatchSize and BatchUnits bound one request: at most BatchSize texts
	// whose lengths (in UTF-16 units, after truncation) add up to at most
	// BatchUnits. A text longer than BatchUnits goes alone.
	BatchSize  int
	BatchUnits int
	// Backoff is the base wait before the second attempt, doubled for each
	// further one up to MaxBackoff, with jitter. A Retry-After header
	// replaces it; one longer than MaxRetryAfter ends the retries at once.
	Backoff, MaxBackoff, MaxRetryAfter time.Duration
	// Client sends the requests (default: a client of its own).
	Client *http.Client
	// Sleep waits between attempts (default: a timer that stops when ctx
	// ends). Tests replace it to record the waits instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// OpenAIEmbedder embeds texts through any endpoint that speaks OpenAI's
// `POST /v1/embeddings`: OpenAI, Ollama, Cloudflare Workers AI's compatible
// route, vLLM, LocalAI and others. It applies the reference's truncation to
// every text, sends batches bounded by count and total length, retries
// transient failures with exponential backoff, checks the dimension of
// every vector and scales each to unit length (cosine is unchanged).
type OpenAIEmbedder struct {
	opts     OpenAIOptions
	endpoint string // the full POST URL
	display  string // the endpoint without credentials, for messages
}

var _ hypha.BatchEmbedder = (*OpenAIEmbedder)(nil)

// NewOpenAIEmbedder checks opts and returns the embedder. It makes no
// request: a provider that is down at start fails the first embedding, not
// the start.
func NewOpenAIEmbedder(opts OpenAIOptions) (*OpenAIEmbedder, error) {
	endpoint, err := EmbeddingsEndpoint(opts.URL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(opts.Model) == "" {
		return nil, hypha.Errorf(hypha.EInvalid, "an OpenAI-compatible embedder needs a model name")
	}
	if opts.Dims <= 0 {
		return nil, hypha.Errorf(hypha.EInvalid, "an OpenAI-compatible embedder needs the model's dimension (got %d)", opts.Dims)
	}
	withDefault(&opts.Timeout, DefaultOpenAITimeout)
	withDefault(&opts.MaxAttempts, DefaultOpenAIAttempts)
	withDefault(&opts.BatchSize, DefaultOpenAIBatchSize)
	withDefault(&opts.BatchUnits, DefaultOpenAIBatchUnits)
	withDefault(&opts.Backoff, DefaultOpenAIBackoff)
	withDefault(&opts.MaxBackoff, DefaultOpenAIMaxBackoff)
	withDefault(&opts.MaxRetryAfter, DefaultOpenAIMaxRetryAfter)
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepOrDone
	}
	u, _ := url.Parse(endpoint)
	return &OpenAIEmbedder{opts: opts, endpoint: endpoint, display: u.Redacted()}, nil
}

func withDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// EmbeddingsEndpoint returns the POST URL of a provider's base URL:
// "/v1/embeddings" appended, unless the URL already ends with it or with
// "/v1".
func EmbeddingsEndpoint(base string) (string, error) {
	base = strings.TrimSpace(base)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", hypha.Errorf(hypha.EInvalid, "embedding URL %q must be an http:// or https:// URL with a host (for example http://127.0.0.1:11434)", base)
	}
	path := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(path, "/v1/embeddings"):
	case strings.HasSuffix(path, "/v1"):
		path += "/embeddings"
	default:
		path += "/v1/embeddings"
	}
	u.Path, u.RawPath = path, ""
	return u.String(), nil
}

// Model is the model name, stored with every vector.
func (e *OpenAIEmbedder) Model() string { return e.opts.Model }

// Dims is the configured vector length.
func (e *OpenAIEmbedder) Dims() int { return e.opts.Dims }

// Info describes the embedder: provider "openai", not lexical.
func (e *OpenAIEmbedder) Info() hypha.EmbedderInfo {
	return hypha.EmbedderInfo{Provider: ProviderOpenAI, Model: e.opts.Model, Dims: e.opts.Dims}
}

// Endpoint is the URL requests go to, without credentials.
func (e *OpenAIEmbedder) Endpoint() string { return e.display }

// Embed returns the vector of one text.
func (e *OpenAIEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	vecs, err := e.EmbedBatch(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	return vecs[0], nil
}

// EmbedBatch returns the vectors of texts, in order, sending as few
// requests as the batch bounds allow, one after the other. The first
// request that fails for good fails the call.
func (e *OpenAIEmbedder) EmbedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	inputs := make([]string, len(texts))
	units := make([]int, len(texts))
	for i, t := range texts {
		if t == "" {
			return nil, hypha.Errorf(hypha.EInvalid, "cannot embed an empty text (text %d of %d)", i+1, len(texts))
		}
		inputs[i] = TruncateForEmbedding(t)
		units[i] = UTF16Len(inputs[i])
	}
	out := make([][]float32, len(texts))
	for _, b := range batchBounds(units, e.opts.BatchSize, e.opts.BatchUnits) {
		vecs, err := e.post(ctx, inputs[b[0]:b[1]])
		if err != nil {
			return nil, err
		}
		copy(out[b[0]:b[1]], vecs)
	}
	return out, nil
}

// batchBounds cuts texts of the given lengths into consecutive runs of at
// most size texts and at most maxUnits units (a longer text runs alone),
// returned as [lo, hi) pairs.
func batchBounds(units []int, size, maxUnits int) [][2]int {
	var out [][2]int
	lo, sum := 0, 0
	for i, u := range units {
		if i > lo && (i-lo >= size || sum+u > maxUnits) {
			out = append(out, [2]int{lo, i})
			lo, sum = i, 0
		}
		sum += u
	}
	if lo < len(units) {
		out = append(out, [2]int{lo, len(units)})
	}
	return out
}

// checkVectors checks that there is one vector per text, each of the
// configured dimension with finite values, and scales each to unit length.
func (e *OpenAIEmbedder) checkVectors(vecs [][]float32, n int) ([][]float32, error) {
	if len(vecs) != n {
		return nil, hypha.Errorf(hypha.EInternal, "embedding provider %s answered %d embeddings for %d texts", e.display, len(vecs), n)
	}
	for i, v := range vecs {
		if len(v) != len(vecs[0]) {
			return nil, hypha.Errorf(hypha.EInternal, "embedding provider %s answered vectors of different lengths (%d and %d) in one response for model %q",
				e.display, len(vecs[0]), len(v), e.opts.Model)
		}
		if len(v) != e.opts.Dims {
			return nil, hypha.Errorf(hypha.EInternal, "embedding provider %s answered %d-dimensional vectors for model %q, but embedding_dimensions is %d: "+
				"set embedding_dimensions = %d (every record is then embedded again with it)", e.display, len(v), e.opts.Model, e.opts.Dims, len(v))
		}
		var norm float64
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, hypha.Errorf(hypha.EInternal, "embedding provider %s answered a vector with a non-finite value for text %d", e.display, i+1)
			}
			norm += float64(x) * float64(x)
		}
		if norm > 0 {
			inv := 1 / math.Sqrt(norm)
			for j, x := range v {
				v[j] = float32(float64(x) * inv)
			}
		}
	}
	return vecs, nil
}

// apiKey is the key to send now.
func (e *OpenAIEmbedder) apiKey() string {
	if e.opts.APIKeyFunc != nil {
		return e.opts.APIKeyFunc()
	}
	return e.opts.APIKey
}

// redact removes from text that came from the provider the key the
// request sent and the configured one.
func (e *OpenAIEmbedder) redact(s, sent string) string {
	for _, k := range []string{sent, e.opts.APIKey} {
		if k != "" {
			s = strings.ReplaceAll(s, k, "[redacted]")
		}
	}
	return s
}

// String describes the embedder without its API key.
func (e *OpenAIEmbedder) String() string {
	return fmt.Sprintf("openai-compatible embedder %s model=%s dims=%d", e.display, e.opts.Model, e.opts.Dims)
}
