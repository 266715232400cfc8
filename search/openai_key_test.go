package search_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// TestOpenAI_APIKeyFunc: a key function is asked for every request, so a
// key stored while the server runs is sent from the next request on, and
// whatever it answered never reaches an error.
func TestOpenAI_APIKeyFunc(t *testing.T) {
	var key atomic.Value
	key.Store("")
	p, e, _ := newProvider(t, 2, search.OpenAIOptions{APIKey: "ignored", APIKeyFunc: func() string { return key.Load().(string) }})
	embed := func() {
		t.Helper()
		if _, err := e.Embed(t.Context(), "x"); err != nil {
			t.Fatal(err)
		}
	}
	embed()
	key.Store("stored-token-1")
	embed()
	key.Store("stored-token-2")
	embed()
	want := []string{"", "Bearer stored-token-1", "Bearer stored-token-2"}
	if strings.Join(p.auth, "|") != strings.Join(want, "|") {
		t.Fatalf("Authorization headers %q, want %q", p.auth, want)
	}

	p.respond = func(w http.ResponseWriter, _ *http.Request, _ int, _ providerRequest) bool {
		http.Error(w, `{"error":{"message":"Incorrect API key provided: stored-token-2"}}`, http.StatusUnauthorized)
		return true
	}
	_, err := e.Embed(t.Context(), "x")
	wantErrCode(t, err, hypha.EInternal, "HTTP 401", "[redacted]")
	if strings.Contains(err.Error(), "stored-token-2") {
		t.Fatalf("the stored key leaked into the error: %v", err)
	}
}
