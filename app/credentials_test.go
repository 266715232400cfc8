package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testclock"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
)

var credStart = testclock.Start

// eachCredEngine runs fn per engine with a migrated store on a fixed clock.
func eachCredEngine(t *testing.T, fn func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock)) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			clock := testclock.NewClock()
			db := testdb.Open(t, engine, clock.Now)
			if _, err := db.Migrate(context.Background(), 0); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			fn(t, db, clock)
		})
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := hypha.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func TestCredentials_EnsureFirstTeamKey(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, _ *testclock.Clock) {
		ctx := context.Background()
		// Several servers start at once on one database: one key between them.
		const n = 8
		var wg sync.WaitGroup
		secrets := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				secret, _, created, err := app.NewCredentials(db, app.CredentialsOptions{}).EnsureFirstTeamKey(ctx)
				if created {
					secrets[i] = secret
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		var created []string
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("EnsureFirstTeamKey: %v", errs[i])
			}
			if secrets[i] != "" {
				created = append(created, secrets[i])
			}
		}
		if len(created) != 1 {
			t.Fatalf("%d first-run keys created, want exactly 1", len(created))
		}
		c := app.NewCredentials(db, app.CredentialsOptions{})
		if _, _, again, err := c.EnsureFirstTeamKey(ctx); again || err != nil {
			t.Fatalf("a later start created a key again (%v, %v)", again, err)
		}
		p, err := c.Authenticate(ctx, created[0])
		if err != nil || p.Kind != hypha.CredentialTeamKey {
			t.Fatalf("the first key does not authenticate: %+v, %v", p, err)
		}
		// Revoking every key is not a first run: nothing is created.
		if _, err := c.RevokeCredential(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, again, err := c.EnsureFirstTeamKey(ctx); again || err != nil {
			t.Fatalf("after revoking the only key, EnsureFirstTeamKey created one (%v, %v)", again, err)
		}
	})
}

func TestCredentials_TeamKeys(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		c := app.NewCredentials(db, app.CredentialsOptions{})
		secret, k, err := c.CreateTeamKey(ctx, "  alice  ", 90*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, app.TeamKeyPrefix) || len(secret) != 4+43 {
			t.Fatalf("secret %q: want hyk_ and 43 base64url characters", secret)
		}
		if k.Name != "alice" || k.ExpiresAt != credStart.Unix()+90*86400 || k.Status != hypha.StatusActive {
			t.Fatalf("key = %+v", k)
		}
		stored, err := db.FindTeamKeyByID(ctx, k.ID)
		if err != nil || stored.Digest != app.Digest(secret) || strings.Contains(stored.Digest, secret) {
			t.Fatalf("stored key %+v, %v: want only the digest", stored, err)
		}
		wantCode(t, func() error { _, _, err := c.CreateTeamKey(ctx, "", 0); return err }(), hypha.EInvalid)
		wantCode(t, func() error { _, _, err := c.CreateTeamKey(ctx, "x", -time.Hour); return err }(), hypha.EInvalid)
		wantCode(t, func() error { _, _, err := c.CreateTeamKey(ctx, "a\nb", 0); return err }(), hypha.EInvalid)

		p, err := c.Authenticate(ctx, secret)
		if err != nil || p.ID != k.ID || p.Name != "alice" || p.GroveID != "" {
			t.Fatalf("Authenticate = %+v, %v", p, err)
		}
		_, err = c.Authenticate(ctx, secret+"x")
		wantCode(t, err, hypha.EUnauthorized)
		if hypha.ErrorMessage(err) != "Invalid Team key" {
			t.Fatalf("message %q, want Myco's", hypha.ErrorMessage(err))
		}

		clock.Advance(93 * 24 * time.Hour)
		_, err = c.Authenticate(ctx, secret)
		wantCode(t, err, hypha.ETokenExpired)
		if msg := hypha.ErrorMessage(err); !strings.HasPrefix(msg, "Team Key expired 3 days ago; create a new one with `hypha token create-team-key`") {
			t.Fatalf("expired message %q", msg)
		}
		if got := c.TeamKeyStatus(ctx, secret); got != hypha.StatusExpired {
			t.Fatalf("TeamKeyStatus = %q", got)
		}

		s2, k2, err := c.CreateTeamKey(ctx, "bob", 0)
		if err != nil {
			t.Fatal(err)
		}
		if kind, err := c.RevokeCredential(ctx, k2.ID); err != nil || kind != hypha.CredentialTeamKey {
			t.Fatalf("RevokeCredential = %q, %v", kind, err)
		}
		if _, err := c.RevokeCredential(ctx, k2.ID); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		_, err = c.Authenticate(ctx, s2)
		wantCode(t, err, hypha.ETokenRevoked)
		_, err = c.RevokeCredential(ctx, "tk_nope")
		wantCode(t, err, hypha.ENotFound)
		_, err = c.RevokeCredential(ctx, "whatever")
		wantCode(t, err, hypha.ENotFound)
	})
}

// TestCredentials_AcrossInstances pins down what a second server on the
// same database sees, and when.
func TestCredentials_AcrossInstances(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		a := app.NewCredentials(db, app.CredentialsOptions{})
		b := app.NewCredentials(db, app.CredentialsOptions{})
		first, _, err := a.CreateTeamKey(ctx, "first", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Authenticate(ctx, first); err != nil {
			t.Fatalf("b's first load does not see a's key: %v", err)
		}
		// A key created elsewhere: an unknown key-shaped secret reloads, at
		// most every 250 ms.
		second, k2, err := a.CreateTeamKey(ctx, "second", 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Authenticate(ctx, second)
		wantCode(t, err, hypha.EUnauthorized)
		clock.Advance(300 * time.Millisecond)
		if _, err := b.Authenticate(ctx, second); err != nil {
			t.Fatalf("after 300 ms b does not see the new key: %v", err)
		}
		// A revocation elsewhere: seen once b's copy is refreshed (Start's
		// loop every 2 s; without it, a reader reloads after 6 s).
		if _, err := a.RevokeCredential(ctx, k2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(ctx, second); hypha.ErrorCode(err) != hypha.ETokenRevoked {
			t.Fatalf("a still accepts its own revoked key: %v", err)
		}
		if _, err := b.Authenticate(ctx, second); err != nil {
			t.Fatalf("b refused before its refresh: %v (the documented delay is not what happens)", err)
		}
		clock.Advance(7 * time.Second)
		_, err = b.Authenticate(ctx, second)
		wantCode(t, err, hypha.ETokenRevoked)

		// Token fingerprints: the same delay.
		if _, err := db.EnsureGrove(ctx, &hypha.Grove{ID: "g1", Name: "g1"}); err != nil {
			t.Fatal(err)
		}
		if got := b.TokenHash(ctx, "g1", "gd-1"); got != "" {
			t.Fatalf("hash before any token = %q", got)
		}
		m, err := a.MintMCPToken(ctx, "g1", "gd-1", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.TokenHash(ctx, "g1", "gd-1"); got != m.Record.TokenHash || got != app.TokenHash("g1", "gd-1", m.Token) {
			t.Fatalf("a's hash = %q, want %q at once", got, m.Record.TokenHash)
		}
		clock.Advance(7 * time.Second)
		if got := b.TokenHash(ctx, "g1", "gd-1"); got != m.Record.TokenHash {
			t.Fatalf("b's hash after its refresh = %q, want %q", got, m.Record.TokenHash)
		}
		if r, err := a.RotateGroveTokens(ctx, "g1"); err != nil || r.Revoked != 1 || r.Shared != nil || r.SharedErr == nil {
			t.Fatalf("RotateGroveTokens without a server key = %+v, %v; want one revoked and no shared token", r, err)
		}
		if got := a.TokenHash(ctx, "g1", "gd-1"); got != "" {
			t.Fatalf("a's hash after rotation = %q, want none at once", got)
		}
		clock.Advance(7 * time.Second)
		if got := b.TokenHash(ctx, "g1", "gd-1"); got != "" {
			t.Fatalf("b's hash after rotation and refresh = %q", got)
		}
		// MCP tokens are read from storage on every use: no delay.
		_, err = b.Authenticate(ctx, m.Token)
		wantCode(t, err, hypha.EUnauthorized)
	})
}

func TestCredentials_MCPTokens(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		c := app.NewCredentials(db, app.CredentialsOptions{MCPTokenTTL: 2 * time.Hour})
		named, err := c.CreateNamedMCPToken(ctx, "g1", "cursor", 0)
		if err != nil {
			t.Fatal(err)
		}
		r := named.Record
		if !strings.HasPrefix(named.Token, app.MCPTokenPrefix) || r.DaemonID != "named:cursor" || r.ExpiresAt != credStart.Unix()+7200 || r.Digest != app.Digest(named.Token) {
			t.Fatalf("named token = %+v", r)
		}
		p, err := c.Authenticate(ctx, named.Token)
		if err != nil || p.Kind != hypha.CredentialMCPToken || p.GroveID != "g1" || p.DaemonID != "named:cursor" || p.Name != "cursor" || p.ID != r.ID {
			t.Fatalf("Authenticate = %+v, %v", p, err)
		}
		// Creating the name again replaces the token.
		again, err := c.CreateNamedMCPToken(ctx, "g1", "cursor", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Authenticate(ctx, named.Token)
		wantCode(t, err, hypha.EUnauthorized)
		if _, err := c.Authenticate(ctx, again.Token); err != nil {
			t.Fatal(err)
		}
		// Revoke by id.
		if kind, err := c.RevokeCredential(ctx, again.Record.ID); err != nil || kind != hypha.CredentialMCPToken {
			t.Fatalf("RevokeCredential = %q, %v", kind, err)
		}
		_, err = c.Authenticate(ctx, again.Token)
		wantCode(t, err, hypha.EUnauthorized)
		if _, err := c.RevokeCredential(ctx, again.Record.ID); err != nil {
			t.Fatalf("revoking a revoked token: %v", err)
		}
		_, err = c.RevokeCredential(ctx, "mt_0000000000000000")
		wantCode(t, err, hypha.ENotFound)
		list, err := c.ListCredentials(ctx, "g1")
		if err != nil || len(list) != 1 || list[0].Status != hypha.StatusRevoked {
			t.Fatalf("ListCredentials = %+v, %v; want the revoked token", list, err)
		}

		// Expiry.
		d, err := c.MintMCPToken(ctx, "g1", "gd-1", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(2*time.Hour - time.Second)
		if _, err := c.Authenticate(ctx, d.Token); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		clock.Advance(time.Second)
		_, err = c.Authenticate(ctx, d.Token)
		wantCode(t, err, hypha.EUnauthorized)
		if got := c.TokenHash(ctx, "g1", "gd-1"); got != "" {
			t.Fatalf("an expired token's hash = %q", got)
		}

		// Refusals.
		_, err = c.MintMCPToken(ctx, "no_such_grove", "gd-1", "", 0)
		wantCode(t, err, hypha.ENotFound)
		_, err = c.MintMCPToken(ctx, "g1", "has space", "", 0)
		wantCode(t, err, hypha.EInvalid)
		_, err = c.CreateNamedMCPToken(ctx, "bad/grove", "x", 0)
		wantCode(t, err, hypha.EInvalid)
		_, err = c.RotateGroveTokens(ctx, "bad/grove")
		wantCode(t, err, hypha.EInvalid)
	})
}

func TestAgo(t *testing.T) {
	tests := []struct {
		secs int64
		want string
	}{
		{-5, "less than a minute ago"}, {0, "less than a minute ago"}, {59, "less than a minute ago"},
		{60, "1 minute ago"}, {3599, "59 minutes ago"}, {3600, "1 hour ago"}, {47 * 3600, "47 hours ago"},
		{48 * 3600, "2 days ago"}, {3 * 86400, "3 days ago"}, {400 * 86400, "400 days ago"},
	}
	for _, tt := range tests {
		if got := app.Ago(tt.secs); got != tt.want {
			t.Errorf("Ago(%d) = %q, want %q", tt.secs, got, tt.want)
		}
	}
}

// TestCredentials_MCPTokenChangesElsewhere: a server that has seen a token
// (and remembers its digest entry) still refuses it at once when another
// server, or the CLI, revokes, rotates or replaces it, with the answer a
// server that never saw it gives; and an expired token is refused.
func TestCredentials_MCPTokenChangesElsewhere(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		a := app.NewCredentials(db, app.CredentialsOptions{MCPTokenTTL: 2 * time.Hour})
		b := app.NewCredentials(db, app.CredentialsOptions{MCPTokenTTL: 2 * time.Hour})
		seen := func(tok string) {
			t.Helper()
			for range 2 { // the second call answers from the remembered entry
				if _, err := a.Authenticate(ctx, tok); err != nil {
					t.Fatal(err)
				}
			}
		}
		refused := func(tok, code string) {
			t.Helper()
			_, errA := a.Authenticate(ctx, tok)
			_, errFresh := app.NewCredentials(db, app.CredentialsOptions{}).Authenticate(ctx, tok)
			wantCode(t, errA, code)
			if hypha.ErrorMessage(errA) != hypha.ErrorMessage(errFresh) {
				t.Fatalf("a server that saw the token says %q, one that did not %q", errA, errFresh)
			}
		}
		// Revoked elsewhere.
		one, err := b.CreateNamedMCPToken(ctx, "g1", "one", 0)
		if err != nil {
			t.Fatal(err)
		}
		seen(one.Token)
		if _, err := b.RevokeCredential(ctx, one.Record.ID); err != nil {
			t.Fatal(err)
		}
		refused(one.Token, hypha.EUnauthorized)
		// Replaced elsewhere (the same name minted again).
		two, err := b.CreateNamedMCPToken(ctx, "g1", "two", 0)
		if err != nil {
			t.Fatal(err)
		}
		seen(two.Token)
		if _, err := b.CreateNamedMCPToken(ctx, "g1", "two", 0); err != nil {
			t.Fatal(err)
		}
		refused(two.Token, hypha.EUnauthorized)
		// The grove's tokens rotated elsewhere.
		three, err := b.CreateNamedMCPToken(ctx, "g1", "three", 0)
		if err != nil {
			t.Fatal(err)
		}
		seen(three.Token)
		if r, err := b.RotateGroveTokens(ctx, "g1"); err != nil || r.Revoked == 0 {
			t.Fatalf("RotateGroveTokens = %+v, %v", r, err)
		}
		refused(three.Token, hypha.EUnauthorized)
		// Expired.
		four, err := b.CreateNamedMCPToken(ctx, "g1", "four", 0)
		if err != nil {
			t.Fatal(err)
		}
		seen(four.Token)
		clock.Advance(3 * time.Hour)
		_, err = a.Authenticate(ctx, four.Token)
		if code := hypha.ErrorCode(err); code != hypha.ETokenExpired && code != hypha.EUnauthorized {
			t.Fatalf("an expired token: %v", err)
		}
	})
}
