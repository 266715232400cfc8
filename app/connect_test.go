package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testclock"
)

func mustAuth(t *testing.T, c *app.Credentials, token string) *hypha.Principal {
	t.Helper()
	p, err := c.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return p
}

// TestCredentials_ConnectRestarts: a daemon restarting calls /connect
// again within the minute and gets a working token each time; only a
// caller far over the daemons' one-a-minute rule is refused, and the
// refusal writes nothing.
func TestCredentials_ConnectRestarts(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		c := app.NewCredentials(db, app.CredentialsOptions{ServerKey: newKey(t)})
		req := app.ConnectRequest{GroveID: "g1", MachineID: "m1", DaemonID: "gd-1", PackageVersion: "1"}
		var prev *app.ConnectResult
		for i := range app.DefaultConnectLimit {
			res, err := c.Connect(ctx, req)
			if err != nil {
				t.Fatalf("connect %d within the minute: %v", i+1, err)
			}
			mustAuth(t, c, res.Token.Token)
			if got := c.TokenHash(ctx, "g1", "gd-1"); got != res.Token.Record.TokenHash {
				t.Fatalf("connect %d: /health shows %q, not the new token's hash", i+1, got)
			}
			if prev != nil {
				// Each call reissues: the previous token is retired.
				_, err := c.Authenticate(ctx, prev.Token.Token)
				wantCode(t, err, hypha.EUnauthorized)
			}
			prev = res
			clock.Advance(time.Second)
		}
		// The 11th call in the window is refused until the window ends,
		// 60 s after the first call.
		req.PackageVersion = "2"
		_, err := c.Connect(ctx, req)
		wantCode(t, err, hypha.ERateLimited)
		if got := hypha.RetryAfter(err); got != 50 {
			t.Fatalf("Retry-After = %d, want 50", got)
		}
		// It wrote nothing: the last token works, the node is as it was.
		mustAuth(t, c, prev.Token.Token)
		if nodes, err := db.ListNodes(ctx, "g1"); err != nil || len(nodes) != 1 || nodes[0].PackageVersion != "1" {
			t.Fatalf("nodes after a refused connect = %+v, %v", nodes, err)
		}
		// Another daemon, or the same daemon in another grove, has a
		// count of its own.
		if _, err := c.Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "m2", DaemonID: "gd-2"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Connect(ctx, app.ConnectRequest{GroveID: "g2", MachineID: "m1", DaemonID: "gd-1"}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(50 * time.Second)
		if _, err := c.Connect(ctx, req); err != nil {
			t.Fatalf("after the window: %v", err)
		}

		// Clients without a daemon id are counted by machine and get the
		// same shared token every time.
		var shared string
		for i := range app.DefaultConnectLimit {
			res := legacyConnect(t, c, "g1", "old laptop")
			if i > 0 && res.Token.Token != shared {
				t.Fatal("a legacy client restarting got another shared token")
			}
			shared = res.Token.Token
		}
		_, err = c.Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "old laptop"})
		wantCode(t, err, hypha.ERateLimited)
		legacyConnect(t, c, "g1", "new laptop")
	})
}

func TestCredentials_ConnectLimitOption(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, clock *testclock.Clock) {
		ctx := context.Background()
		c := app.NewCredentials(db, app.CredentialsOptions{ConnectLimit: 2, ConnectInterval: 30 * time.Second})
		req := app.ConnectRequest{GroveID: "g1", MachineID: "m1", DaemonID: "gd-1"}
		for range 2 {
			if _, err := c.Connect(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(10 * time.Second)
		_, err := c.Connect(ctx, req)
		wantCode(t, err, hypha.ERateLimited)
		if got := hypha.RetryAfter(err); got != 20 {
			t.Fatalf("Retry-After = %d, want 20", got)
		}
		clock.Advance(20 * time.Second)
		if _, err := c.Connect(ctx, req); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCredentials_RevokeTeamKeyRevokesItsTokens: revoking a Team Key
// revokes at once every MCP token minted through it, everywhere, and
// nothing else; the grove's shared token is not tied to a key.
func TestCredentials_RevokeTeamKeyRevokesItsTokens(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, _ *testclock.Clock) {
		ctx := context.Background()
		opts := app.CredentialsOptions{ServerKey: newKey(t)}
		a, b := app.NewCredentials(db, opts), app.NewCredentials(db, opts)
		_, keyA, err := a.CreateTeamKey(ctx, "alice", 0)
		if err != nil {
			t.Fatal(err)
		}
		_, keyB, err := a.CreateTeamKey(ctx, "bob", 0)
		if err != nil {
			t.Fatal(err)
		}
		connect := func(grove, daemon, keyID string) *app.MintedToken {
			t.Helper()
			res, err := a.Connect(ctx, app.ConnectRequest{GroveID: grove, MachineID: "m-" + daemon, DaemonID: daemon, TeamKeyID: keyID})
			if err != nil {
				t.Fatal(err)
			}
			return res.Token
		}
		a1, a2, b1 := connect("g1", "gd-a1", keyA.ID), connect("g2", "gd-a2", keyA.ID), connect("g1", "gd-b1", keyB.ID)
		named, err := a.CreateNamedMCPToken(ctx, "g1", "cursor", 0)
		if err != nil {
			t.Fatal(err)
		}
		shared := legacyConnect(t, a, "g1", "old") // through no key in particular
		for _, tok := range []string{a1.Token, a2.Token, b1.Token, named.Token, shared.Token.Token} {
			mustAuth(t, b, tok) // b remembers their digest entries
		}

		k, n, err := a.RevokeTeamKey(ctx, keyA.ID)
		if err != nil || n != 2 || k.EffectiveStatus(time.Now().Unix()) != hypha.StatusRevoked {
			t.Fatalf("RevokeTeamKey = %+v, %d, %v", k, n, err)
		}
		for _, c := range []*app.Credentials{a, b} {
			for _, tok := range []string{a1.Token, a2.Token} {
				_, err := c.Authenticate(ctx, tok)
				wantCode(t, err, hypha.EUnauthorized)
			}
			for _, tok := range []string{b1.Token, named.Token, shared.Token.Token} {
				mustAuth(t, c, tok)
			}
		}
		// This server's copies changed at once.
		if a.TokenHash(ctx, "g1", "gd-a1") != "" || a.TokenHash(ctx, "g2", "gd-a2") != "" || a.TokenHash(ctx, "g1", "gd-b1") == "" {
			t.Fatal("fingerprints after the revocation are wrong")
		}
		if got := a.GrovesUsingTeamKey(ctx, keyA.ID); len(got) != 0 {
			t.Fatalf("groves still using the revoked key: %v", got)
		}
		list, err := a.ListCredentials(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if c.TeamKeyID == keyA.ID && c.Status != hypha.StatusRevoked {
				t.Fatalf("%+v is still %s", c, c.Status)
			}
		}
		// The revoked key mints nothing more, even on a server whose copy
		// of the keys is not reloaded yet, and the refusal writes nothing.
		_, err = b.Connect(ctx, app.ConnectRequest{GroveID: "g3", MachineID: "m", DaemonID: "gd-a1", TeamKeyID: keyA.ID})
		wantCode(t, err, hypha.ETokenRevoked)
		if nodes, _ := db.ListNodes(ctx, "g3"); len(nodes) != 0 {
			t.Fatalf("a refused connect registered %+v", nodes)
		}
		// Through RevokeCredential too (the CLI's and the API's path).
		if kind, err := a.RevokeCredential(ctx, keyB.ID); err != nil || kind != hypha.CredentialTeamKey {
			t.Fatal(kind, err)
		}
		_, err = b.Authenticate(ctx, b1.Token)
		wantCode(t, err, hypha.EUnauthorized)
		mustAuth(t, b, shared.Token.Token)
	})
}

// TestCredentials_ConnectRefusesWhatEnginesStoreUnalike: text PostgreSQL
// refuses (a NUL byte, invalid UTF-8) and SQLite would store is refused
// before the store on both, with or without a daemon id or a server key,
// and so are over-long values and the daemon ids Hypha keeps for its own
// tokens. A refusal writes nothing.
func TestCredentials_ConnectRefusesWhatEnginesStoreUnalike(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, _ *testclock.Clock) {
		ctx := context.Background()
		tests := []struct {
			name string
			req  app.ConnectRequest
			want string
		}{
			{"nul_machine", app.ConnectRequest{MachineID: "a\x00b"}, "machine_id contains a NUL byte"},
			{"nul_machine_daemon", app.ConnectRequest{MachineID: "a\x00b", DaemonID: "gd-1"}, "machine_id contains a NUL byte"},
			{"invalid_utf8_machine", app.ConnectRequest{MachineID: "a\xffb"}, "machine_id is not valid UTF-8"},
			{"long_machine", app.ConnectRequest{MachineID: strings.Repeat("m", 129)}, "machine_id is longer than 128 bytes"},
			{"nul_package_version", app.ConnectRequest{MachineID: "m", PackageVersion: "1\x00"}, "package_version contains a NUL byte"},
			{"nul_package_version_daemon", app.ConnectRequest{MachineID: "m", DaemonID: "gd-1", PackageVersion: "1\x00"}, "package_version contains a NUL byte"},
			{"invalid_utf8_package_version", app.ConnectRequest{MachineID: "m", PackageVersion: "\xc3"}, "package_version is not valid UTF-8"},
			{"long_package_version", app.ConnectRequest{MachineID: "m", DaemonID: "gd-1", PackageVersion: strings.Repeat("1", 129)}, "package_version is longer than 128 bytes"},
			{"nul_daemon", app.ConnectRequest{MachineID: "m", DaemonID: "gd\x00"}, "daemon id contains a NUL byte"},
			{"invalid_utf8_daemon", app.ConnectRequest{MachineID: "m", DaemonID: "gd-\xff"}, "daemon id is not valid UTF-8"},
			{"long_daemon", app.ConnectRequest{MachineID: "m", DaemonID: strings.Repeat("d", 161)}, "1 to 160 bytes"},
			{"shared", app.ConnectRequest{MachineID: "m", DaemonID: "shared"}, "reserved for the grove's shared MCP token"},
			{"shared_upper", app.ConnectRequest{MachineID: "m", DaemonID: "Shared"}, "reserved for the grove's shared MCP token"},
			{"machine", app.ConnectRequest{MachineID: "m", DaemonID: "machine:m5"}, `ids starting with "machine:" name the tokens Hypha mints itself`},
			{"machine_upper", app.ConnectRequest{MachineID: "m", DaemonID: "MACHINE:m5"}, `ids starting with "machine:"`},
			{"named", app.ConnectRequest{MachineID: "m", DaemonID: "named:cursor"}, `ids starting with "named:"`},
		}
		for _, key := range []bool{false, true} {
			opts := app.CredentialsOptions{}
			if key {
				opts.ServerKey = newKey(t)
			}
			c := app.NewCredentials(db, opts)
			for _, tt := range tests {
				tt.req.GroveID = "g1"
				_, err := c.Connect(ctx, tt.req)
				if hypha.ErrorCode(err) != hypha.EInvalid || !strings.Contains(hypha.ErrorMessage(err), tt.want) {
					t.Errorf("%s (server key %v): %v; want invalid saying %q", tt.name, key, err, tt.want)
				}
			}
		}
		if nodes, err := db.ListNodes(ctx, "g1"); err != nil || len(nodes) != 0 {
			t.Fatalf("refused connects registered %+v, %v", nodes, err)
		}
		if list, err := app.NewCredentials(db, app.CredentialsOptions{}).ListCredentials(ctx, "g1"); err != nil || len(list) != 0 {
			t.Fatalf("refused connects minted %+v, %v", list, err)
		}
		// At the bounds, it is accepted.
		c := app.NewCredentials(db, app.CredentialsOptions{})
		if _, err := c.Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: strings.Repeat("m", 128), DaemonID: strings.Repeat("d", 160),
			PackageVersion: strings.Repeat("1", 128)}); err != nil {
			t.Fatal(err)
		}
		// Named tokens and machines keep their ids: only clients are
		// refused them.
		if named, err := c.CreateNamedMCPToken(ctx, "g1", "cursor", 0); err != nil || named.Record.DaemonID != "named:cursor" {
			t.Fatalf("named token = %+v, %v", named, err)
		}
	})
}

// TestCredentials_MachineDaemonIDs: a client that names no daemon is known
// by "machine:" and its machine id, unchanged when a daemon id can hold it
// and otherwise encoded so that two machines never share an identity (a
// node's daemon id, a rate limit, and without a server key a token).
func TestCredentials_MachineDaemonIDs(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, _ *testclock.Clock) {
		ctx := context.Background()
		long := strings.Repeat("x ", 63) + "x" // encoded, longer than a daemon id may be
		sum := sha256.Sum256([]byte(long))
		want := map[string]string{
			"laptop":       "machine:laptop",
			"Alice's Mac":  "machine:Alice's%20Mac",
			"Alice's_Mac":  "machine:Alice's_Mac",
			"a%20b":        "machine:a%2520b",
			"a\tb":         "machine:a%09b",
			"a\u00a0b":     "machine:a%C2%A0b", // a no-break space, byte by byte
			"ünïcode-ok":   "machine:ünïcode-ok",
			long:           "machine:%~" + hex.EncodeToString(sum[:]),
			"machine:a b":  "machine:machine:a%20b",
			"%~" + "feed":  "machine:%25~feed",
			"named:cursor": "machine:named:cursor",
		}
		c := app.NewCredentials(db, app.CredentialsOptions{})
		tokens := map[string]string{}
		for machine, daemon := range want {
			res := legacyConnect(t, c, "g1", machine)
			if res.DaemonID != daemon || res.Token.Record.DaemonID != daemon {
				t.Errorf("machine %q: daemon id %q, want %q", machine, res.DaemonID, daemon)
			}
			tokens[machine] = res.Token.Token
		}
		// No machine's connect retired another's token.
		for machine, tok := range tokens {
			if _, err := c.Authenticate(ctx, tok); err != nil {
				t.Errorf("machine %q's token: %v", machine, err)
			}
		}
		nodes, err := db.ListNodes(ctx, "g1")
		if err != nil || len(nodes) != len(want) {
			t.Fatalf("nodes = %d, %v; want %d", len(nodes), err, len(want))
		}
		for _, n := range nodes {
			if n.DaemonID != want[n.MachineID] {
				t.Errorf("node %q has daemon id %q, want %q", n.MachineID, n.DaemonID, want[n.MachineID])
			}
		}
	})
}
