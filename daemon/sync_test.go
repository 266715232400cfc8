package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/daemon"
	"go.uber.org/goleak"
)

func TestDaemon_FlushInBatchesAndKeepsRejections(t *testing.T) {
	// Registered first, so it runs after every other cleanup: no goroutine
	// of the daemon, its clients or the server outlives them.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx := context.Background()
	ts := newTeamServer(t)
	home := newHome(t)
	install(t, home, "ga", ts)
	install(t, home, "gb", ts)
	// 250 records written while no daemon runs wait in the outbox.
	var writes []daemon.Write
	for i := range 250 {
		writes = append(writes, daemon.Write{Table: "spores", Data: spore(i, "in grove a")})
	}
	if _, err := daemon.LocalWrite(ctx, home, "ga", writes, false); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, home)
	c := daemon.NewClient(home)
	t.Cleanup(c.Close)
	eventually(t, "250 records on the server", func() bool { return ts.count(t, "ga", "m1", "spores") == 250 })
	for _, n := range ts.batchSizes() {
		if n > daemon.MaxBatch {
			t.Fatalf("a batch of %d records; at most %d", n, daemon.MaxBatch)
		}
	}
	eventually(t, "an empty outbox", func() bool { return groveStatus(t, c, "ga").Outbox.Depth == 0 })
	st := groveStatus(t, c, "ga")
	if st.Outbox.LastSuccessAt == "" || st.Connection.State != daemon.StateConnected || st.Token.Status != "valid" {
		t.Fatalf("status = %+v", st)
	}

	// The project belongs to grove ga on the server: grove gb's records of
	// it are rejected one by one, kept, shown, and never sent again.
	if _, err := c.Put(ctx, "gb", "spores", "", spore(1000, "in grove b"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "gb", "spores", "", map[string]any{"id": "ok", "project_id": "proj_ffffffffffffffffffffffffffffffff", "content": "b"}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rejection in the status and an empty outbox", func() bool {
		st := groveStatus(t, c, "gb")
		return st.Outbox.RejectedTotal == 1 && st.Outbox.Depth == 0
	})
	gb := groveStatus(t, c, "gb")
	if gb.Outbox.Depth != 0 || len(gb.Outbox.RecentRejections) != 1 || !strings.Contains(gb.Outbox.RecentRejections[0].Error, "belongs to another grove") {
		t.Fatalf("grove gb = %+v", gb.Outbox)
	}
	if ts.count(t, "gb", "m1", "spores") != 1 {
		t.Fatal("grove gb's accepted record is missing")
	}
	calls := len(ts.enqueueCalls())
	time.Sleep(200 * time.Millisecond) // ten flush intervals
	if n := len(ts.enqueueCalls()); n != calls {
		t.Fatalf("%d more /enqueue calls after the rejection; a rejected record must not be retried", n-calls)
	}
	d.Stop()
}

func TestDaemon_ProtocolMismatchPausesWithoutDropping(t *testing.T) {
	ctx := context.Background()
	ts := newTeamServer(t)
	home := newHome(t)
	install(t, home, "g", ts)
	ts.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/enqueue" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"error":"protocol_version_unsupported","message":"Client protocol v3 is outside the worker's supported window [4, 4].","sync_protocol_version":4,"min_compat_client_version":4}`)
		return true
	})
	startDaemon(t, home)
	c := daemon.NewClient(home)
	for i := range 5 {
		if _, err := c.Put(ctx, "g", "spores", "", spore(i, "x"), false); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the protocol pause", func() bool { return groveStatus(t, c, "g").Connection.State == daemon.StateProtocolPaused })
	calls := len(ts.enqueueCalls())
	time.Sleep(300 * time.Millisecond)
	st := groveStatus(t, c, "g")
	if st.Outbox.Depth != 5 || len(ts.enqueueCalls()) != calls || !strings.Contains(st.Connection.Reason, "supported window") {
		t.Fatalf("paused grove: depth %d, %d more calls, reason %q", st.Outbox.Depth, len(ts.enqueueCalls())-calls, st.Connection.Reason)
	}
	// The server is upgraded: /health shows a window with v3; the grove
	// resumes once the recheck interval (ConnectInterval) has passed.
	ts.setFault(nil)
	eventually(t, "the outbox drained after the pause", func() bool { return ts.count(t, "g", "m1", "spores") == 5 })
	eventually(t, "connected", func() bool { return groveStatus(t, c, "g").Connection.State == daemon.StateConnected })
}

func TestDaemon_HonoursRetryAfterThenDrains(t *testing.T) {
	ctx := context.Background()
	ts := newTeamServer(t)
	home := newHome(t)
	install(t, home, "g", ts)
	refusals := 0
	ts.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/enqueue" || refusals >= 2 {
			return false
		}
		refusals++
		status := http.StatusServiceUnavailable
		if refusals == 2 {
			status = http.StatusTooManyRequests
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(status)
		fmt.Fprint(w, `{"error":"busy","code":"unavailable"}`)
		return true
	})
	startDaemon(t, home)
	c := daemon.NewClient(home)
	if _, err := c.Put(ctx, "g", "spores", "", spore(1, "x"), false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the record on the server", func() bool { return ts.count(t, "g", "m1", "spores") == 1 })
	calls := ts.enqueueCalls()
	if len(calls) < 3 {
		t.Fatalf("%d calls; want two refused and one accepted", len(calls))
	}
	for i := 1; i < 3; i++ {
		// BackoffMax is 200 ms here: only Retry-After explains a 1 s gap.
		if gap := calls[i].Sub(calls[i-1]); gap < 950*time.Millisecond {
			t.Errorf("call %d came %v after a Retry-After: 1", i+1, gap)
		}
	}
	// The daemon settles the batch after the server's answer.
	eventually(t, "an empty outbox", func() bool { return groveStatus(t, c, "g").Outbox.Depth == 0 })
	st := groveStatus(t, c, "g")
	if st.Outbox.Failures24h != 2 || st.Outbox.Depth != 0 {
		t.Fatalf("status = %+v", st.Outbox)
	}
}

func TestDaemon_BacksOffWhileTheServerFails(t *testing.T) {
	ctx := context.Background()
	ts := newTeamServer(t)
	home := newHome(t)
	install(t, home, "g", ts)
	ts.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/enqueue" {
			return false
		}
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":"internal error","code":"internal"}`)
		return true
	})
	startDaemon(t, home)
	c := daemon.NewClient(home)
	if _, err := c.Put(ctx, "g", "spores", "", spore(1, "x"), false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	calls := ts.enqueueCalls()
	// Without backoff the 20 ms flush interval would make ~50 calls; with
	// 250 ms, 500 ms… capped at 200 ms (equal jitter: ≥ 100 ms) at most ~10.
	if len(calls) < 2 || len(calls) > 12 {
		t.Fatalf("%d /enqueue calls in 1 s while failing", len(calls))
	}
	st := groveStatus(t, c, "g")
	if st.Connection.State != daemon.StateFailing || st.Outbox.Depth != 1 || st.Connection.ConsecutiveFailures < 2 {
		t.Fatalf("status = %+v / %+v", st.Connection, st.Outbox)
	}
	ts.setFault(nil)
	eventually(t, "the record on the server", func() bool { return ts.count(t, "g", "m1", "spores") == 1 })
}

func TestDaemon_TokenRotation(t *testing.T) {
	ctx := context.Background()
	ts := newTeamServer(t)
	home := newHome(t)
	install(t, home, "g", ts)
	if _, _, err := daemon.Connect(ctx, home, "g", daemon.ConnectOptions{Interval: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.LocalWrite(ctx, home, "g", []daemon.Write{{Table: "spores", Data: spore(1, "x")}}, false); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, home)
	c := daemon.NewClient(home)
	eventually(t, "the record on the server", func() bool { return ts.count(t, "g", "m1", "spores") == 1 })
	status, body, err := c.RemoteRecord(ctx, "g", "spores", "sp-1")
	if err != nil || status != 200 {
		t.Fatalf("remote read = %d %s %v", status, body, err)
	}
	first := groveStatus(t, c, "g").Token
	time.Sleep(time.Second) // the /connect of Connect above must be a minute (here 1 s) old

	t.Run("noticed on /health within one poll", func(t *testing.T) {
		polls := groveStatus(t, c, "g").Connection.HealthPolls
		if _, err := ts.Creds.RotateGroveTokens(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a new token", func() bool { return groveStatus(t, c, "g").Token.Hash != first.Hash })
		tok := groveStatus(t, c, "g").Token
		if tok.Status != "valid" || tok.Rotations != 1 || tok.LastRotation == nil || tok.LastRotation.DetectedPoll > polls+2 {
			t.Fatalf("token = %+v (polls before the rotation: %d); want the rotation seen by the next poll", tok, polls)
		}
		stored, _ := daemon.ReadToken(home, "g")
		if stored.Hash != tok.Hash {
			t.Fatal("the new token was not stored")
		}
		if fi, _ := os.Stat(home.GroveDir("g") + "/mcp_token.json"); fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file mode %v", fi.Mode().Perm())
		}
		if status, body, err := c.RemoteRecord(ctx, "g", "spores", "sp-1"); err != nil || status != 200 {
			t.Fatalf("remote read after the rotation = %d %s %v", status, body, err)
		}
	})
	t.Run("a call refused with 401 is retried with a new token", func(t *testing.T) {
		time.Sleep(time.Second) // past the one-/connect-per-interval window
		before := groveStatus(t, c, "g").Token
		if _, err := ts.Creds.RotateGroveTokens(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		status, body, err := c.RemoteRecord(ctx, "g", "spores", "sp-1") // may run before the next poll
		if err != nil || status != 200 {
			t.Fatalf("remote read right after a rotation = %d %s %v", status, body, err)
		}
		if after := groveStatus(t, c, "g").Token; after.Hash == before.Hash || after.Connects != before.Connects+1 {
			t.Fatalf("token before %+v, after %+v; want exactly one more /connect", before, after)
		}
	})
	t.Run("at most one /connect per interval", func(t *testing.T) {
		before := groveStatus(t, c, "g").Token
		if _, err := ts.Creds.RotateGroveTokens(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // six polls see the stale token
		mid := groveStatus(t, c, "g").Token
		if mid.Status != "stale" || mid.Connects != before.Connects || mid.NextConnectAt == "" {
			t.Fatalf("token = %+v; want stale, waiting for the rate limit", mid)
		}
		eventually(t, "the token refreshed after the interval", func() bool { return groveStatus(t, c, "g").Token.Status == "valid" })
		if after := groveStatus(t, c, "g").Token; after.Connects != before.Connects+1 {
			t.Fatalf("%d /connect calls for one rotation", after.Connects-before.Connects)
		}
	})
}

func TestDaemon_ControlSocket(t *testing.T) {
	ctx := context.Background()
	home := newHome(t)
	install(t, home, "g", nil) // a grove that only captures locally
	startDaemon(t, home)
	fi, err := os.Stat(home.SocketPath())
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v mode %v", err, fi.Mode())
	}
	c := daemon.NewClient(home)
	if _, err := c.Put(ctx, "nope", "spores", "", spore(1, ""), false); hypha.ErrorCode(err) != daemon.EGroveNotInstalled ||
		!strings.Contains(err.Error(), "hypha init --grove --grove-id nope") {
		t.Fatalf("unknown grove: %v", err)
	}
	if _, err := c.Put(ctx, "g", "nope", "x", spore(1, ""), false); hypha.ErrorCode(err) != hypha.EInvalid {
		t.Fatalf("unknown table: %v", err)
	}
	rec, err := c.Put(ctx, "g", "spores", "a/b c", spore(1, ""), false)
	if err != nil || rec.ID != "a/b c" {
		t.Fatalf("an id with a slash and a space: %+v %v", rec, err)
	}
	if got, err := c.Get(ctx, "g", "spores", "a/b c"); err != nil || got.ID != "a/b c" || !got.Pending {
		t.Fatalf("Get = %+v %v", got, err)
	}
	st := groveStatus(t, c, "g")
	if st.Connection.State != daemon.StateNotConfigured || st.Outbox.Depth != 1 || !strings.Contains(st.Connection.Reason, "--server URL") {
		t.Fatalf("local-only grove status = %+v", st)
	}
	if _, _, err := c.RemoteRecord(ctx, "g", "spores", "x"); hypha.ErrorCode(err) != daemon.ENotConfigured {
		t.Fatalf("remote read without a server: %v", err)
	}
	// Raw requests: malformed JSON, a wrong method, an unknown route.
	for _, tt := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"PUT", "/v1/groves/g/records/spores/x", "{nope", 400, hypha.EBadJSON},
		{"PUT", "/v1/groves/g/records/spores/x", "", 400, hypha.EBadJSON}, // as on the team server
		{"POST", "/v1/status", "", 405, hypha.EMethodNotAllowed},
		{"GET", "/v2/what", "", 404, hypha.ENotFound},
		{"POST", "/v1/groves/g/records", `{"records":[]}`, 400, hypha.EInvalid},
	} {
		status, body := rawSocket(t, home, tt.method, tt.path, tt.body)
		if status != tt.status || body["code"] != tt.code || body["error"] == "" {
			t.Errorf("%s %s = %d %v; want %d %s", tt.method, tt.path, status, body, tt.status, tt.code)
		}
	}
	// One daemon per HYPHA_HOME.
	other := daemon.New(daemon.Options{Home: home})
	if err := other.Start(ctx); err == nil || !strings.Contains(err.Error(), "already runs") {
		other.Stop()
		t.Fatalf("second daemon: %v", err)
	}
}

func TestDaemon_RefusesWithoutGroves(t *testing.T) {
	home := newHome(t)
	err := daemon.New(daemon.Options{Home: home}).Start(context.Background())
	if !daemon.IsNoGroves(err) || !strings.Contains(err.Error(), "Install Grove first: hypha init --grove") {
		t.Fatalf("Start = %v", err)
	}
}

func TestDaemon_LocalSchemaBehindIsNotSynced(t *testing.T) {
	ctx := context.Background()
	ts := newTeamServer(t)
	home := newHome(t)
	install(t, home, "g", ts)
	if _, err := daemon.LocalWrite(ctx, home, "g", []daemon.Write{{Table: "spores", Data: spore(1, "x")}}, false); err != nil {
		t.Fatal(err)
	}
	// Make the store look one step behind this binary.
	st, err := daemon.OpenGroveStore(ctx, home, "g")
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := daemon.Steps()
	sqlExec(t, st, fmt.Sprintf(`DELETE FROM daemon_migrations WHERE version = %d`, len(steps)))
	st.Close()
	if _, err := daemon.LocalWrite(ctx, home, "g", []daemon.Write{{Table: "spores", Data: spore(2, "x")}}, false); hypha.ErrorCode(err) != daemon.ESchemaBehind {
		t.Fatalf("a local write on a store behind: %v", err)
	}
	startDaemon(t, home)
	c := daemon.NewClient(home)
	time.Sleep(200 * time.Millisecond)
	gs := groveStatus(t, c, "g")
	if gs.Connection.State != daemon.StateLocalSchemaBehind || !strings.Contains(gs.Connection.Reason, "hypha daemon migrate --grove g") ||
		len(ts.enqueueCalls()) != 0 {
		t.Fatalf("status = %+v; %d /enqueue calls", gs.Connection, len(ts.enqueueCalls()))
	}
	if _, err := c.Put(ctx, "g", "spores", "", spore(3, "x"), false); hypha.ErrorCode(err) != daemon.ESchemaBehind {
		t.Fatalf("write through the daemon: %v", err)
	}
	st, _ = daemon.OpenGroveStore(ctx, home, "g")
	if _, err := st.Migrate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	st.Close()
	eventually(t, "the record synced after the migration", func() bool { return ts.count(t, "g", "m1", "spores") == 1 })
}

// rawSocket sends one request to the control socket.
func rawSocket(t *testing.T, home daemon.Home, method, path, body string) (int, map[string]any) {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", home.SocketPath())
	}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(method, "http://d"+path, strings.NewReader(body))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
