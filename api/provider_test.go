package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// TestProviderToken: POST /tokens/cf-api stores the provider key sealed,
// /health says one is set, the key never comes back in any answer or log,
// DELETE removes it; bad input and grove tokens are refused.
func TestProviderToken(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, func(e *env) {
			info := search.NewHashEmbedder(0).Info()
			e.Server.Embedder = &info
		})
		const secret = "sk-provider-0123456789abcdef"
		isSet := func() any {
			t.Helper()
			_, _, h := e.do("GET", "/health", nil, nil)
			emb, _ := h["embedder"].(map[string]any)
			return emb["provider_token_set"]
		}
		if isSet() != false {
			t.Fatal("a fresh server says a provider token is set")
		}
		status, _, body := e.do("POST", "/tokens/cf-api", e.auth(), map[string]any{"token": secret, "account_id": "acct"})
		if status != http.StatusOK || body["configured"] != true {
			t.Fatalf("POST /tokens/cf-api = %d %v", status, body)
		}
		if isSet() != true {
			t.Fatal("/health does not say the provider token is set")
		}
		for _, bad := range []any{map[string]any{"token": ""}, map[string]any{"token": "a b"}, map[string]any{"token": strings.Repeat("k", 5000)}, map[string]any{"token": 7}} {
			status, _, body := e.do("POST", "/tokens/cf-api", e.auth(), bad)
			wantError(t, status, body, http.StatusBadRequest, hypha.EInvalid)
		}
		// A grove MCP token may not set or clear it.
		tok := e.mustConnect("g1", "gd-1", "m1")["mcp_token"].(string)
		status, _, body = e.do("DELETE", "/tokens/cf-api", e.bearer(tok, "X-Grove-ID", "g1"), nil)
		wantError(t, status, body, http.StatusForbidden, hypha.EForbidden)

		status, _, body = e.do("DELETE", "/tokens/cf-api", e.auth(), nil)
		if status != http.StatusOK || body["cleared"] != true {
			t.Fatalf("DELETE /tokens/cf-api = %d %v", status, body)
		}
		if isSet() != false {
			t.Fatal("/health still says a provider token is set")
		}
		if strings.Contains(e.logText(), secret) {
			t.Fatal("the provider token was logged")
		}
	})
}

// TestSearch_ProviderErrorTextStaysInTheLog: when the embeddings provider
// refuses a query, the client gets a 503 saying what to do, never the
// provider's own text.
func TestSearch_ProviderErrorTextStaysInTheLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		const leak = "provider-internal-detail-7f3a"
		provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":{"message":"`+leak+`"}}`, http.StatusBadRequest)
		}))
		t.Cleanup(provider.Close)
		e := newEnv(t, engine, withSearch, func(e *env) {
			emb, err := search.NewOpenAIEmbedder(search.OpenAIOptions{URL: provider.URL, Model: "m", Dims: 384, MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			e.Server.Search.Embedder = emb
			e.Server.Search.Logger = e.Server.Logger
		})
		e.index()
		status, _, raw := e.doRaw("GET", "/search?mode=semantic&q=rsync", e.auth(), nil)
		if status != http.StatusServiceUnavailable || strings.Contains(string(raw), leak) {
			t.Fatalf("semantic search with a failing provider = %d %s", status, raw)
		}
		if !strings.Contains(e.logText(), leak) {
			t.Error("the provider's error is not in the server log")
		}
	})
}
