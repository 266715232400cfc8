package app_test

import (
	"context"
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
