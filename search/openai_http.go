package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
)

// maxResponseBytes caps an embeddings answer (32 texts × 4,096 dimensions
// of JSON numbers stay far below it).
const maxResponseBytes = 64 << 20

// embeddingsRequest is the body of POST /v1/embeddings.
type embeddingsRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

// embeddingsResponse is the part of the answer Hypha reads.
type embeddingsResponse struct {
	Data []struct {
		Index     *int      `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// callError is one request that failed.
type callError struct {
	status int    // HTTP status; 0 when no answer came
	msg    string // what went wrong, with the provider's own message
	retry  bool   // worth another attempt
	after  time.Duration
}

func (c *callError) Error() string { return c.msg }

// post sends one batch, retrying transient failures.
func (e *OpenAIEmbedder) post(ctx context.Context, inputs []string) ([][]float32, error) {
	body, err := json.Marshal(embeddingsRequest{Model: e.opts.Model, Input: inputs})
	if err != nil {
		return nil, fmt.Errorf("encode embeddings request: %w", err)
	}
	for attempt := 1; ; attempt++ {
		vecs, err := e.attempt(ctx, body)
		if err == nil {
			return e.checkVectors(vecs, len(inputs))
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ce *callError
		if !errors.As(err, &ce) {
			return nil, err
		}
		if !ce.retry {
			return nil, e.finalError(ce)
		}
		if attempt >= e.opts.MaxAttempts {
			return nil, e.gaveUp(ce, attempt)
		}
		wait := ce.after
		if wait > e.opts.MaxRetryAfter {
			return nil, e.gaveUp(ce, attempt)
		}
		if wait <= 0 {
			wait = e.backoff(attempt)
		}
		if err := e.opts.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// backoff is the wait after attempt failed: Backoff × 2^(attempt-1), at
// most MaxBackoff, half of it fixed and half random so clients that failed
// together spread out.
func (e *OpenAIEmbedder) backoff(attempt int) time.Duration {
	d := e.opts.Backoff << min(attempt-1, 30)
	if d <= 0 || d > e.opts.MaxBackoff {
		d = e.opts.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// attempt sends one request within the per-request timeout.
func (e *OpenAIEmbedder) attempt(ctx context.Context, body []byte) ([][]float32, error) {
	actx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build embeddings request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hypha")
	key := e.apiKey()
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.opts.Client.Do(req)
	if err != nil {
		return nil, e.transportError(ctx, actx, err, key)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, e.transportError(ctx, actx, err, key)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &callError{
			status: resp.StatusCode,
			msg:    fmt.Sprintf("HTTP %d: %s", resp.StatusCode, e.redact(bodySnippet([]byte(providerMessage(raw, resp.Status))), key)),
			retry:  resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500,
			after:  parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	if len(raw) > maxResponseBytes {
		return nil, hypha.Errorf(hypha.EInternal, "embedding provider %s answered more than %d bytes", e.display, maxResponseBytes)
	}
	var out embeddingsResponse
	if err := json.Unmarshal(raw, &out); err != nil || out.Data == nil {
		return nil, hypha.Errorf(hypha.EInternal, "embedding provider %s answered HTTP 200 without an embeddings list (is %s an OpenAI-compatible /v1/embeddings endpoint?): %s",
			e.display, e.display, e.redact(bodySnippet(raw), key))
	}
	return orderByIndex(out, e.display)
}

// transportError classifies a request that got no (complete) answer: the
// caller's cancellation is final, a timeout or a network error is retried.
func (e *OpenAIEmbedder) transportError(ctx, actx context.Context, err error, key string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &callError{msg: fmt.Sprintf("no answer within %s", e.opts.Timeout), retry: true}
	}
	return &callError{msg: e.redact(err.Error(), key), retry: true}
}

// orderByIndex returns the vectors in input order: by their "index" when
// every item has one, in answer order otherwise.
func orderByIndex(r embeddingsResponse, display string) ([][]float32, error) {
	out := make([][]float32, len(r.Data))
	for i, d := range r.Data {
		if d.Index == nil {
			for j, d := range r.Data {
				out[j] = d.Embedding
			}
			return out, nil
		}
		if *d.Index < 0 || *d.Index >= len(out) || out[*d.Index] != nil {
			return nil, hypha.Errorf(hypha.EInternal, "embedding provider %s answered item %d with index %d, which is out of range or repeated", display, i, *d.Index)
		}
		out[*d.Index] = d.Embedding
	}
	return out, nil
}

// finalError turns an answer that must not be retried into a clear error:
// a refused input is invalid (the consumer then embeds the batch's texts
// one by one, so one bad text does not fail the others); anything else is
// a configuration problem.
func (e *OpenAIEmbedder) finalError(ce *callError) error {
	switch ce.status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return hypha.Errorf(hypha.EInvalid, "embedding provider %s refused the input for model %q (not retried): %s", e.display, e.opts.Model, ce.msg)
	case http.StatusUnauthorized, http.StatusForbidden:
		return hypha.Errorf(hypha.EInternal, "embedding provider %s refused the credentials (not retried; check embedding_api_key_env or embedding_api_key_file): %s",
			e.display, ce.msg)
	case http.StatusNotFound:
		return hypha.Errorf(hypha.EInternal, "embedding provider %s has no such endpoint or model %q (not retried; check embedding_url and embedding_model): %s",
			e.display, e.opts.Model, ce.msg)
	}
	return hypha.Errorf(hypha.EInternal, "embedding provider %s failed for model %q (not retried): %s", e.display, e.opts.Model, ce.msg)
}

// gaveUp is the error after the last attempt: the provider is unavailable,
// with the provider's wish as RetryAfter when it named one.
func (e *OpenAIEmbedder) gaveUp(ce *callError, attempts int) error {
	err := hypha.Errorf(hypha.EUnavailable, "embedding provider %s failed %d time(s) for model %q, last: %s", e.display, attempts, e.opts.Model, ce.msg)
	if ce.after > e.opts.MaxRetryAfter {
		err.Message = fmt.Sprintf("embedding provider %s asked to wait %s (more than %s) for model %q: %s",
			e.display, ce.after.Round(time.Second), e.opts.MaxRetryAfter, e.opts.Model, ce.msg)
	}
	if ce.after > 0 {
		err.RetryAfter = int((ce.after + time.Second - 1) / time.Second)
	}
	return err
}

// parseRetryAfter parses a Retry-After header: seconds or an HTTP date; 0 when
// absent or unparsable.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if secs <= 0 || secs > 1e6 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// providerMessage extracts the message of an error answer in the shapes
// providers use: OpenAI and Ollama {"error":{"message":…}}, Ollama's native
// {"error":"…"}, Cloudflare {"errors":[{"message":…}]}, and {"message":…}
// or {"detail":…}; otherwise the start of the body, or the status line.
func providerMessage(body []byte, status string) string {
	var v struct {
		Error  json.RawMessage `json:"error"`
		Errors []struct {
			Message string `json:"message"`
			Code    any    `json:"code"`
		} `json:"errors"`
		Message string `json:"message"`
		Detail  any    `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var s string
		var obj struct {
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return singleLine(s)
		case json.Unmarshal(v.Error, &obj) == nil && obj.Message != "":
			return singleLine(obj.Message)
		case len(v.Errors) > 0 && v.Errors[0].Message != "":
			msgs := make([]string, 0, len(v.Errors))
			for _, e := range v.Errors {
				if e.Code != nil {
					msgs = append(msgs, fmt.Sprintf("%s (code %v)", e.Message, e.Code))
				} else {
					msgs = append(msgs, e.Message)
				}
			}
			return singleLine(strings.Join(msgs, "; "))
		case v.Message != "":
			return singleLine(v.Message)
		case v.Detail != nil:
			return singleLine(fmt.Sprint(v.Detail))
		}
	}
	if s := bodySnippet(body); s != "" {
		return s
	}
	return status
}

// bodySnippet is the start of a body on one line.
func bodySnippet(body []byte) string {
	s := singleLine(string(body))
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

func singleLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// sleepOrDone waits d or until ctx ends.
func sleepOrDone(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
