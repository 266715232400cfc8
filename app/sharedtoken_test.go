package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/seal"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testclock"
)

// TestLegacyTokenHash: Myco's client fingerprint. The vectors were computed
// outside Go, with the client's own JavaScript (Node) and again in Python;
// the first three are the reference's (§3.3).
func TestLegacyTokenHash(t *testing.T) {
	tests := []struct{ token, want string }{
		{"00000000-0000-4000-8000-000000000000", "0b6dd53c"},
		{"3f2504e0-4f89-41d3-9a0c-0305e82c3301", "7d284c90"},
		{"", "00000000"},
		{"a", "00000061"},        // padded to 8 digits
		{"zzzzzzzz", "71d8a300"}, // the sum is negative (-1910022912): its absolute value
		// The one string of this kind everyone knows: its hashCode is
		// -2^31, whose absolute value JavaScript gives as 2^31.
		{"polygenelubricants", "80000000"},
		{"Aa", "00000840"}, {"BB", "00000840"}, // Java's classic collision
		{"ü", "000000fc"},
		{"🍄", "001b0e88"}, // two UTF-16 code units (a surrogate pair), not one rune
		{"hym_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "1fb060a2"},
	}
	for _, tt := range tests {
		if got := app.LegacyTokenHash(tt.token); got != tt.want {
			t.Errorf("LegacyTokenHash(%q) = %q, want %q", tt.token, got, tt.want)
		}
	}
}

var eightHex = regexp.MustCompile(`^[0-9a-f]{8}$`)

func newKey(t *testing.T) *seal.Key {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func legacyConnect(t *testing.T, c *app.Credentials, grove, machine string) *app.ConnectResult {
	t.Helper()
	res, err := c.Connect(context.Background(), app.ConnectRequest{GroveID: grove, MachineID: machine})
	if err != nil {
		t.Fatalf("legacy connect of %s to %s: %v", machine, grove, err)
	}
	return res
}

func TestCredentials_SharedToken(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		key := newKey(t)
		opts := app.CredentialsOptions{MCPTokenTTL: 2 * time.Hour, ServerKey: key}
		a, b := app.NewCredentials(db, opts), app.NewCredentials(db, opts)

		first := legacyConnect(t, a, "g1", "laptop")
		tok := first.Token
		if !first.Shared || first.DaemonID != app.SharedDaemonID || !strings.HasPrefix(tok.Token, app.MCPTokenPrefix) ||
			tok.Record.TokenHash != app.LegacyTokenHash(tok.Token) || !eightHex.MatchString(tok.Record.TokenHash) ||
			tok.Record.ExpiresAt != clock.Unix()+7200 || tok.Record.TeamKeyID != "" {
			t.Fatalf("first legacy connect = %+v, token %+v", first, tok.Record)
		}
		// Every client without a daemon id gets the same token, from any
		// server, and it authenticates like any grove token.
		for _, c := range []*app.Credentials{a, b} {
			for _, m := range []string{"laptop", "desktop", "laptop"} {
				if got := legacyConnect(t, c, "g1", m); got.Token.Token != tok.Token || !got.Shared {
					t.Fatalf("connect of %s handed out another token", m)
				}
			}
		}
		p := mustAuth(t, b, tok.Token)
		if p.Kind != hypha.CredentialMCPToken || p.GroveID != "g1" || p.DaemonID != app.SharedDaemonID || p.ID != tok.Record.ID {
			t.Fatalf("principal = %+v", p)
		}
		if got := a.SharedTokenHash(ctx, "g1"); got != tok.Record.TokenHash {
			t.Fatalf("SharedTokenHash = %q, want %q", got, tok.Record.TokenHash)
		}
		if got := a.SharedTokenHash(ctx, "g2"); got != "" {
			t.Fatalf("a grove without a shared token has hash %q", got)
		}
		// Nodes are registered by machine; groves get tokens of their own.
		nodes, err := db.ListNodes(ctx, "g1")
		if err != nil || len(nodes) != 2 || nodes[0].DaemonID != "machine:"+nodes[0].MachineID {
			t.Fatalf("nodes = %+v, %v", nodes, err)
		}
		if other := legacyConnect(t, a, "g2", "laptop"); other.Token.Token == tok.Token {
			t.Fatal("two groves share one token")
		}
		// Storage holds a digest and ciphertext, never the token.
		assertNotStored(t, db, tok.Token)

		// A daemon may not claim the shared token's id.
		_, err = a.Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "m", DaemonID: app.SharedDaemonID})
		wantCode(t, err, hypha.EInvalid)

		// Rotation: every token of the grove goes, a new shared one comes.
		own, err := a.Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "m", DaemonID: "gd-1"})
		if err != nil {
			t.Fatal(err)
		}
		rot, err := b.RotateGroveTokens(ctx, "g1")
		if err != nil || rot.Revoked != 2 || rot.Shared == nil || rot.SharedErr != nil || rot.GroveID != "g1" {
			t.Fatalf("RotateGroveTokens = %+v, %v", rot, err)
		}
		next := rot.Shared
		if next.Token == tok.Token || next.Record.TokenHash != app.LegacyTokenHash(next.Token) || next.Record.DaemonID != app.SharedDaemonID {
			t.Fatalf("rotated shared token = %+v", next.Record)
		}
		for _, old := range []string{tok.Token, own.Token.Token} {
			_, err := a.Authenticate(ctx, old)
			wantCode(t, err, hypha.EUnauthorized)
		}
		mustAuth(t, a, next.Token)
		if got := b.SharedTokenHash(ctx, "g1"); got != next.Record.TokenHash {
			t.Fatalf("the rotating server's hash = %q, want the new one at once", got)
		}
		clock.Advance(7 * time.Second) // a's background reload
		if got := a.SharedTokenHash(ctx, "g1"); got != next.Record.TokenHash {
			t.Fatalf("the other server's hash = %q, want the new one after its reload", got)
		}
		if got := legacyConnect(t, a, "g1", "laptop"); got.Token.Token != next.Token {
			t.Fatal("after a rotation /connect does not hand out the new shared token")
		}

		// Revoked by id: the next legacy connect mints another.
		if _, err := a.RevokeCredential(ctx, next.Record.ID); err != nil {
			t.Fatal(err)
		}
		if got := a.SharedTokenHash(ctx, "g1"); got != "" {
			t.Fatalf("a revoked shared token still has hash %q", got)
		}
		third := legacyConnect(t, a, "g1", "laptop").Token
		if third.Token == next.Token {
			t.Fatal("a revoked shared token was handed out")
		}

		// Expiry: the next legacy connect mints another.
		clock.Advance(2*time.Hour + time.Second)
		if got := a.SharedTokenHash(ctx, "g1"); got != "" {
			t.Fatalf("an expired shared token still has hash %q", got)
		}
		_, err = a.Authenticate(ctx, third.Token)
		wantCode(t, err, hypha.EUnauthorized)
		fourth := legacyConnect(t, a, "g1", "desktop").Token
		if fourth.Token == third.Token || a.SharedTokenHash(ctx, "g1") != fourth.Record.TokenHash {
			t.Fatal("no new shared token after expiry")
		}
		mustAuth(t, b, fourth.Token)
	})
}

// TestCredentials_SharedTokenRenewal: a shared token is replaced before it
// expires, because Myco's clients notice a changed fingerprint but not a
// missing one.
func TestCredentials_SharedTokenRenewal(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		opts := app.CredentialsOptions{MCPTokenTTL: 10 * time.Hour, ServerKey: newKey(t)}
		a := app.NewCredentials(db, opts)
		old := legacyConnect(t, a, "g1", "laptop").Token
		tick := func() { a.Start(ctx); a.Stop() } // one run of the background loop
		clock.Advance(8 * time.Hour)
		tick()
		if got := legacyConnect(t, a, "g1", "laptop").Token; got.Token != old.Token {
			t.Fatal("renewed with most of its lifetime left")
		}
		clock.Advance(61 * time.Minute) // less than a tenth left
		b := app.NewCredentials(db, opts)
		b.Start(ctx) // two servers renew: one wins
		b.Stop()
		tick()
		renewed := legacyConnect(t, a, "g1", "laptop").Token
		if renewed.Token == old.Token || renewed.Record.ExpiresAt != clock.Unix()+36000 {
			t.Fatalf("not renewed: %+v", renewed.Record)
		}
		if a.SharedTokenHash(ctx, "g1") != renewed.Record.TokenHash || b.SharedTokenHash(ctx, "g1") != renewed.Record.TokenHash {
			t.Fatal("the servers do not show the renewed token's hash")
		}
		mustAuth(t, a, renewed.Token)
		_, err := a.Authenticate(ctx, old.Token)
		wantCode(t, err, hypha.EUnauthorized)
	})
}

func TestCredentials_SharedTokenConcurrentFirstConnect(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, _ *testclock.Clock) {
		opts := app.CredentialsOptions{ServerKey: newKey(t)}
		const n = 8
		tokens := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := app.NewCredentials(db, opts).Connect(context.Background(), app.ConnectRequest{GroveID: "g1", MachineID: "m" + string(rune('a'+i))})
				if err != nil {
					t.Error(err)
					return
				}
				tokens[i] = res.Token.Token
			}()
		}
		wg.Wait()
		for _, tok := range tokens {
			if tok != tokens[0] {
				t.Fatalf("clients connecting at once got different shared tokens")
			}
		}
		mustAuth(t, app.NewCredentials(db, opts), tokens[0])
	})
}

// TestCredentials_ConnectWithoutServerKey: a server without a server key
// cannot keep the shared token, so a client that names no daemon gets a
// token of its machine, as before there was a shared token: it joins and
// syncs, but cannot notice a rotation, which the first such connect logs,
// once.
func TestCredentials_ConnectWithoutServerKey(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, _ *testclock.Clock) {
		ctx := context.Background()
		var logs bytes.Buffer
		none := app.NewCredentials(db, app.CredentialsOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		first := legacyConnect(t, none, "g1", "laptop")
		tok := first.Token
		if first.Shared || first.DaemonID != "machine:laptop" || tok.Record.DaemonID != "machine:laptop" ||
			tok.Record.TokenHash != app.TokenHash("g1", "machine:laptop", tok.Token) || tok.Record.TeamKeyID != "" {
			t.Fatalf("legacy connect without a key = %+v, token %+v", first, tok.Record)
		}
		if p := mustAuth(t, none, tok.Token); p.GroveID != "g1" || p.DaemonID != "machine:laptop" {
			t.Fatalf("principal = %+v", p)
		}
		if got := none.TokenHash(ctx, "g1", "machine:laptop"); got != tok.Record.TokenHash {
			t.Fatalf("the machine token's hash = %q", got)
		}
		if got := none.SharedTokenHash(ctx, "g1"); got != "" {
			t.Fatalf("a grove without a shared token has hash %q", got)
		}
		// Another machine gets a token of its own; the same machine again
		// a fresh one, retiring its previous token.
		other := legacyConnect(t, none, "g1", "desktop").Token
		again := legacyConnect(t, none, "g1", "laptop").Token
		mustAuth(t, none, other.Token)
		mustAuth(t, none, again.Token)
		_, err := none.Authenticate(ctx, tok.Token)
		wantCode(t, err, hypha.EUnauthorized)
		if nodes, err := db.ListNodes(ctx, "g1"); err != nil || len(nodes) != 2 {
			t.Fatalf("nodes = %+v, %v", nodes, err)
		}
		if n := strings.Count(logs.String(), "cannot notice a token rotation until a server key is configured"); n != 1 {
			t.Fatalf("the warning was logged %d times, want once:\n%s", n, logs.String())
		}
		// With a key, the same clients get the shared token.
		keyed := app.NewCredentials(db, app.CredentialsOptions{ServerKey: newKey(t)})
		if res := legacyConnect(t, keyed, "g1", "laptop"); !res.Shared || res.DaemonID != app.SharedDaemonID {
			t.Fatalf("with a key: %+v", res)
		}
	})
}

// TestCredentials_RotationThatCannotMintSharedToken: legacy clients notice
// a changed fingerprint but never a missing one, so a rotation that could
// not mint the grove's new shared token revokes nothing.
func TestCredentials_RotationThatCannotMintSharedToken(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, _ *testclock.Clock) {
		ctx := context.Background()
		none := app.NewCredentials(db, app.CredentialsOptions{})
		// A grove that never had a shared token, without a key: its
		// daemon and machine tokens are revoked, and it gets none.
		daemon, err := none.Connect(ctx, app.ConnectRequest{GroveID: "g0", MachineID: "m", DaemonID: "gd-1"})
		if err != nil {
			t.Fatal(err)
		}
		machine := legacyConnect(t, none, "g0", "laptop").Token
		_, err = none.RotateGroveTokensWith(ctx, "g0", app.RotateOptions{RequireShared: true})
		wantCode(t, err, hypha.EUnavailable)
		if msg := hypha.ErrorMessage(err); !strings.Contains(msg, "none was revoked") || !strings.Contains(msg, "HYPHA_SERVER_KEY") || !strings.Contains(msg, "--server-key-file") {
			t.Fatalf("message %q does not say nothing was revoked and how to give the key", msg)
		}
		mustAuth(t, none, daemon.Token.Token)
		r, err := none.RotateGroveTokens(ctx, "g0")
		if err != nil || r.Shared != nil || r.Revoked != 2 || hypha.ErrorCode(r.SharedErr) != hypha.EUnavailable ||
			!strings.Contains(hypha.ErrorMessage(r.SharedErr), "has no shared MCP token") {
			t.Fatalf("rotation of a grove without a shared token, without a key = %+v, %v", r, err)
		}
		for _, old := range []string{daemon.Token.Token, machine.Token} {
			_, err := none.Authenticate(ctx, old)
			wantCode(t, err, hypha.EUnauthorized)
		}

		// A grove with a shared token, rotated without a key: refused, and
		// every token still works.
		key := newKey(t)
		keyed := app.NewCredentials(db, app.CredentialsOptions{ServerKey: key})
		shared := legacyConnect(t, keyed, "g1", "laptop").Token
		own, err := keyed.Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "m", DaemonID: "gd-1"})
		if err != nil {
			t.Fatal(err)
		}
		unchanged := func(t *testing.T) {
			t.Helper()
			mustAuth(t, keyed, shared.Token)
			mustAuth(t, keyed, own.Token.Token)
			if got := keyed.SharedTokenHash(ctx, "g1"); got != shared.Record.TokenHash {
				t.Fatalf("the shared token's hash is %q, want %q", got, shared.Record.TokenHash)
			}
			if got := legacyConnect(t, keyed, "g1", "desktop").Token; got.Token != shared.Token {
				t.Fatal("the shared token was replaced")
			}
		}
		for _, opts := range []app.RotateOptions{{}, {AcceptNewKey: true}, {RequireShared: true}} {
			_, err = none.RotateGroveTokensWith(ctx, "g1", opts)
			wantCode(t, err, hypha.EUnavailable)
			if msg := hypha.ErrorMessage(err); !strings.Contains(msg, "none was revoked") || !strings.Contains(msg, "HYPHA_SERVER_KEY") || !strings.Contains(msg, "--server-key-file") {
				t.Fatalf("message %q does not say nothing was revoked and how to give the key", msg)
			}
		}
		unchanged(t)

		// Under another key than the token's: refused as well, naming both
		// keys and the way out when the old key is lost.
		otherKey := newKey(t)
		other := app.NewCredentials(db, app.CredentialsOptions{ServerKey: otherKey})
		_, err = other.RotateGroveTokens(ctx, "g1")
		wantCode(t, err, hypha.EUnavailable)
		if msg := hypha.ErrorMessage(err); !strings.Contains(msg, key.ID()) || !strings.Contains(msg, otherKey.ID()) ||
			!strings.Contains(msg, "none was revoked") || !strings.Contains(msg, "--accept-new-key") {
			t.Fatalf("message %q names not both keys and the fix", msg)
		}
		unchanged(t)

		// Under the token's key: rotated.
		rot, err := keyed.RotateGroveTokens(ctx, "g1")
		if err != nil || rot.Shared == nil || rot.Revoked != 2 {
			t.Fatalf("rotation under the token's key = %+v, %v", rot, err)
		}
		// A revoked shared token leaves the grove without one: a rotation
		// without a key may then go on.
		if _, err := keyed.RevokeCredential(ctx, rot.Shared.Record.ID); err != nil {
			t.Fatal(err)
		}
		if r, err := none.RotateGroveTokens(ctx, "g1"); err != nil || r.Shared != nil || r.SharedErr == nil {
			t.Fatalf("rotation after the shared token was revoked = %+v, %v", r, err)
		}
	})
}

func TestCredentials_SharedTokenUnderAnotherKey(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		// The token was sealed under another key (a restored backup, a
		// server started with the wrong key file).
		opts := app.CredentialsOptions{MCPTokenTTL: 10 * time.Hour, ServerKey: newKey(t)}
		first := app.NewCredentials(db, opts)
		tok := legacyConnect(t, first, "g1", "laptop").Token
		otherKey := newKey(t)
		other := app.NewCredentials(db, app.CredentialsOptions{MCPTokenTTL: 10 * time.Hour, ServerKey: otherKey})
		_, err := other.Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "laptop"})
		wantCode(t, err, hypha.EUnavailable)
		if msg := hypha.ErrorMessage(err); !strings.Contains(msg, otherKey.ID()) || !strings.Contains(msg, "rotate-mcp --grove g1 --accept-new-key") {
			t.Fatalf("message %q names neither the key nor the fix", msg)
		}
		// The token itself still authenticates (by digest).
		mustAuth(t, other, tok.Token)

		// A server under another key does not renew it either: the
		// servers holding its key do.
		clock.Advance(9*time.Hour + 30*time.Minute)
		other.Start(ctx)
		other.Stop()
		if got := legacyConnect(t, first, "g1", "laptop").Token; got.Token != tok.Token {
			t.Fatal("a server renewed a shared token sealed under another key")
		}
		first.Start(ctx)
		first.Stop()
		renewed := legacyConnect(t, first, "g1", "laptop").Token
		if renewed.Token == tok.Token {
			t.Fatal("the token's own key did not renew it")
		}

		// The way out when the old key is lost: a rotation that accepts
		// the new key.
		rot, err := other.RotateGroveTokensWith(ctx, "g1", app.RotateOptions{AcceptNewKey: true})
		if err != nil || rot.Shared == nil || rot.Revoked != 1 {
			t.Fatalf("rotate under the new key: %+v, %v", rot, err)
		}
		if got := legacyConnect(t, other, "g1", "laptop").Token; got.Token != rot.Shared.Token {
			t.Fatal("after the rotation the new key's token is not handed out")
		}
		_, err = other.Authenticate(ctx, renewed.Token)
		wantCode(t, err, hypha.EUnauthorized)
	})
}

// assertNotStored fails if any KV value or metadata holds secret.
func assertNotStored(t *testing.T, db *sqlstore.DB, secret string) {
	t.Helper()
	ctx := context.Background()
	opts := hypha.KVListOptions{}
	for {
		page, err := db.KVList(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Keys {
			e, err := db.KVGet(ctx, k.Name)
			if err != nil {
				continue // expired meanwhile
			}
			if strings.Contains(string(e.Value), secret) || strings.Contains(string(e.Metadata), secret) || strings.Contains(k.Name, secret) {
				t.Fatalf("KV entry %s holds the secret in clear", k.Name)
			}
		}
		if page.Cursor == "" {
			return
		}
		opts.Cursor = page.Cursor
	}
}
