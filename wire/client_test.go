package wire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// TestErrorOf reads the server's error bodies and the Myco worker's.
func TestErrorOf(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   wire.Error
	}{
		{
			name: "server error body", status: 404, body: `{"error":"no such record","code":"not_found"}`,
			want: wire.Error{Status: 404, Code: hypha.ENotFound, Message: "no such record"},
		},
		{
			name: "message preferred over error", status: 409,
			body: `{"error":"protocol_version_unsupported","code":"protocol_version_unsupported","message":"Client protocol v9 is outside [1, 3]","sync_protocol_version":3,"min_compat_client_version":1}`,
			want: wire.Error{Status: 409, Code: hypha.EProtocolUnsupported, Message: "Client protocol v9 is outside [1, 3]", ServerProtocol: 3, ServerMinProtocol: 1},
		},
		{
			// The worker's typed 409 had no code: the error is the code.
			name: "worker typed 409 without code", status: 409,
			body: `{"error":"protocol_version_unsupported","message":"Client protocol v0 is outside the worker's supported window [1, 3].","sync_protocol_version":3,"min_compat_client_version":1}`,
			want: wire.Error{Status: 409, Code: hypha.EProtocolUnsupported, Message: "Client protocol v0 is outside the worker's supported window [1, 3].", ServerProtocol: 3, ServerMinProtocol: 1},
		},
		{
			name: "worker embed refusal without code", status: 409,
			body: `{"error":"protocol_too_old_for_embed","message":"Client protocol v1 cannot use the 'embed' SyncRecord operation","sync_protocol_version":3,"min_compat_client_version":1}`,
			want: wire.Error{Status: 409, Code: hypha.EProtocolTooOldEmbed, Message: "Client protocol v1 cannot use the 'embed' SyncRecord operation", ServerProtocol: 3, ServerMinProtocol: 1},
		},
		{
			name: "worker plain error", status: 401, body: `{"error":"Unauthorized"}`,
			want: wire.Error{Status: 401, Message: "Unauthorized"},
		},
		{
			name: "not JSON", status: 502, body: "  <html>bad gateway</html>\n",
			want: wire.Error{Status: 502, Message: "<html>bad gateway</html>"},
		},
		{
			name: "long non-JSON body is clipped", status: 500, body: strings.Repeat("x", 300),
			want: wire.Error{Status: 500, Message: strings.Repeat("x", hypha.MaxEcho) + "…"},
		},
		{
			name: "JSON without error or code", status: 500, body: `{"detail":"x"}`,
			want: wire.Error{Status: 500, Message: `{"detail":"x"}`},
		},
		{
			name: "retry after", status: 503, header: http.Header{"Retry-After": {"5"}}, body: `{"error":"busy","code":"unavailable"}`,
			want: wire.Error{Status: 503, Code: hypha.EUnavailable, Message: "busy", RetryAfter: 5 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: tt.header}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			got := wire.ErrorOf(resp, []byte(tt.body))
			if *got != tt.want {
				t.Fatalf("ErrorOf = %+v\nwant      %+v", *got, tt.want)
			}
			wantMismatch := tt.status == http.StatusConflict && strings.HasPrefix(tt.want.Code, "protocol_")
			if got.ProtocolMismatch() != wantMismatch {
				t.Fatalf("ProtocolMismatch() = %v", got.ProtocolMismatch())
			}
		})
	}
}

// TestParseRetryAfter reads seconds or an HTTP date; anything else, or a
// time already past, is no wait.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"3600", time.Hour},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Format(http.TimeFormat), 0},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second},
		{"Saturday, 01-Mar-25 12:00:30 GMT", 30 * time.Second}, // RFC 850, which HTTP still accepts
		{"2025-03-01T12:00:30Z", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := wire.ParseRetryAfter(tt.in, now); got != tt.want {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestClient_Do: a non-2xx answer is an *Error with the code, message and
// Retry-After of the answer, and its body still returned; a 2xx answer is
// its body; the client's credentials and headers go with every request.
func TestClient_Do(t *testing.T) {
	var seen http.Header
	var seenBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		seenBody = string(b)
		switch r.URL.Path {
		case "/slow":
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":"too many requests for this grove","code":"rate_limited"}`)
		case "/down":
			w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"schema not ready","code":"schema_mismatch"}`)
		case "/health":
			fmt.Fprint(w, `{"status":"ok","node_count":2}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"Not found","code":"not_found"}`)
		}
	}))
	defer srv.Close()
	c := &wire.Client{BaseURL: srv.URL, Token: "hyk_secret", GroveID: "g1", DaemonID: "gd-1", UserAgent: "wire-test"}
	ctx := context.Background()

	t.Run("429", func(t *testing.T) {
		body, err := c.Do(ctx, http.MethodPost, "/slow?x=1", map[string]int{"n": 1})
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Fatalf("Do = %v (%T), want a *wire.Error", err, err)
		}
		want := wire.Error{Status: 429, Code: hypha.ERateLimited, Message: "too many requests for this grove", RetryAfter: 7 * time.Second}
		if *we != want {
			t.Fatalf("Do error = %+v, want %+v", *we, want)
		}
		if !strings.Contains(string(body), "rate_limited") {
			t.Fatalf("the refused answer's body is not returned: %q", body)
		}
		if got := we.Error(); got != "429 rate_limited: too many requests for this grove" {
			t.Fatalf("Error() = %q", got)
		}
		for k, v := range map[string]string{"Authorization": "Bearer hyk_secret", wire.HeaderGrove: "g1", wire.HeaderDaemon: "gd-1",
			"User-Agent": "wire-test", "Content-Type": "application/json"} {
			if seen.Get(k) != v {
				t.Errorf("request header %s = %q, want %q", k, seen.Get(k), v)
			}
		}
		if seenBody != `{"n":1}` {
			t.Errorf("request body = %q", seenBody)
		}
	})
	t.Run("503 with a date", func(t *testing.T) {
		_, err := c.Do(ctx, http.MethodGet, "/down", nil)
		we := wire.AsError(err)
		if we == nil || we.Status != 503 || we.Code != hypha.ESchemaMismatch || we.RetryAfter < 50*time.Minute || we.RetryAfter > time.Hour {
			t.Fatalf("Do = %+v", err)
		}
		if seen.Get("Content-Type") != "" {
			t.Errorf("a request without a body says Content-Type %q", seen.Get("Content-Type"))
		}
	})
	t.Run("typed call", func(t *testing.T) {
		h, err := c.WithToken("").Health(ctx)
		if err != nil || h.Status != "ok" || h.NodeCount != 2 {
			t.Fatalf("Health = %+v, %v", h, err)
		}
		if seen.Get("Authorization") != "" {
			t.Errorf("WithToken(\"\") still sends Authorization %q", seen.Get("Authorization"))
		}
		_, err = c.Members(ctx)
		if we := wire.AsError(err); we == nil || we.Status != 404 || we.Code != hypha.ENotFound || we.Message != "Not found" {
			t.Fatalf("Members on a 404 = %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		_, err := (&wire.Client{BaseURL: dead.URL}).Do(ctx, http.MethodGet, "/health", nil)
		if err == nil || wire.AsError(err) != nil {
			t.Fatalf("Do on a closed server = %v, want a plain error", err)
		}
	})
}

// TestStatusOf: the table's codes, and 500 for a code it does not know.
func TestStatusOf(t *testing.T) {
	for code, want := range map[string]int{hypha.EInvalid: 400, hypha.EGroveForbidden: 403, hypha.EProtocolUnsupported: 409,
		hypha.ETooLarge: 413, hypha.ERateLimited: 429, hypha.ESchemaMismatch: 503, "no_such_code": 500, "": 500} {
		if got := wire.StatusOf(code); got != want {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, want)
		}
	}
}
