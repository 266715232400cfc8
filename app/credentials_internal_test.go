package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/testdb"
)

// TestCredentials_CompareInConstantTime checks that every secret check goes
// through the constant-time comparison, against every Team Key (so the
// time taken does not tell which key matched), and that the comparison is
// crypto/subtle's.
func TestCredentials_CompareInConstantTime(t *testing.T) {
	// A fixed clock: the cache never ages, so no reload adds comparisons.
	db := testdb.Open(t, "sqlite", func() time.Time { return time.Unix(1_700_000_000, 0) })
	ctx := context.Background()
	if _, err := db.Migrate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	c := NewCredentials(db, CredentialsOptions{})
	var secrets []string
	for _, name := range []string{"a", "b", "c"} {
		s, _, err := c.CreateTeamKey(ctx, name, 0)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	if _, err := db.EnsureGrove(ctx, &hypha.Grove{ID: "g1", Name: "g1"}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.MintMCPToken(ctx, "g1", "gd-1", "", 0)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	calls := 0
	c.equal = func(a, b []byte) bool {
		mu.Lock()
		calls++
		mu.Unlock()
		return constantTimeEqual(a, b)
	}
	count := func(secret string) (int, error) {
		calls = 0
		_, err := c.Authenticate(ctx, secret)
		return calls, err
	}
	for i, s := range secrets {
		if n, err := count(s); err != nil || n != 3 {
			t.Fatalf("key %d: %d comparisons (%v), want one per key (3)", i, n, err)
		}
	}
	if n, err := count("hyk_wrong"); err == nil || n != 3 {
		t.Fatalf("wrong key: %d comparisons (%v), want 3 and an error", n, err)
	}
	if n, err := count(tok.Token); err != nil || n != 4 {
		t.Fatalf("MCP token: %d comparisons (%v), want 3 keys + the token's digest", n, err)
	}

	a, b := []byte("same digest bytes"), []byte("same digest bytes")
	if constantTimeEqual(a, b) != (subtle.ConstantTimeCompare(a, b) == 1) || constantTimeEqual(a, []byte("other")) {
		t.Fatal("constantTimeEqual is not crypto/subtle's comparison")
	}
}

// TestRefreshedMap_RefreshKeepsLocalWrites checks that a write made while
// a refresh is loading survives the refresh.
func TestRefreshedMap_RefreshKeepsLocalWrites(t *testing.T) {
	var r refreshedMap[int]
	now := func() time.Time { return time.Unix(100, 0) }
	loading := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- r.refresh(func() (map[string]int, error) {
			close(loading)
			<-release
			return map[string]int{"stale": 1}, nil // read before the write below
		}, now)
	}()
	<-loading
	r.update(func(m map[string]int) { m["written"] = 2 })
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, ok := r.get("written"); !ok || v != 2 {
		t.Fatal("a local write made during a refresh was lost")
	}
	if v, ok := r.get("stale"); !ok || v != 1 {
		t.Fatal("the refresh result is missing")
	}
	if age, ok := r.age(now()); !ok || age != 0 {
		t.Fatalf("age = %v, %v", age, ok)
	}
	// A failed refresh keeps the map.
	if err := r.refresh(func() (map[string]int, error) { return nil, errors.New("down") }, now); err == nil {
		t.Fatal("refresh hid the load error")
	}
	if _, ok := r.get("written"); !ok {
		t.Fatal("a failed refresh dropped the map")
	}
}
