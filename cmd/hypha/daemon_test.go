package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyphateam/hypha/daemon"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/wire"
)

const e2eProject = "proj_0123456789abcdef0123456789abcdef"

// daemonProc is a `hypha daemon run` child process.
type daemonProc struct {
	cmd *exec.Cmd
	out *lockedBuffer
}

// shortHome returns a HYPHA_HOME short enough for the control socket.
func shortHome(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "h")
}

// startDaemonProc runs the daemon of home with short test intervals and
// waits until its socket answers.
func startDaemonProc(t *testing.T, bin, home string) *daemonProc {
	t.Helper()
	cmd := exec.Command(bin, "daemon", "run", "--home", home, "--daemon-poll-interval", "100ms", "--daemon-flush-interval", "50ms",
		"--daemon-connect-interval", "1s", "--daemon-backoff-max", "300ms", "--log-level", "debug", "--log-format", "json")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, out: out}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("daemon log:\n%s", tail(out.String(), 40))
		}
	})
	c := daemon.NewClient(daemon.Home{Dir: home})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.Status(context.Background()); err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not answer:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *daemonProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// teamClient is the wire client of the team server with the Team Key in
// grove.
func teamClient(base, key, grove string) *wire.Client {
	return &wire.Client{BaseURL: base, Token: key, GroveID: grove}
}

// teamCall calls the team server with the Team Key in grove and returns
// the status and the JSON answer, whatever the status (0 when unreachable).
func teamCall(t *testing.T, base, key, grove, method, path string) (int, map[string]any) {
	t.Helper()
	resp, err := teamClient(base, key, grove).Send(t.Context(), method, path, nil)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// serverCount is the number of spores of machine in grove on the server.
func serverCount(t *testing.T, base, key, grove, machine string) int {
	t.Helper()
	m, err := teamClient(base, key, grove).Manifest(t.Context(), wire.ManifestQuery{Table: "spores", MachineID: machine, Summary: true})
	if err != nil {
		return -1
	}
	return int(m.Count)
}

// serverIDs lists every spore id of machine in grove, counting repeats.
func serverIDs(t *testing.T, base, key, grove, machine string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	q := wire.ManifestQuery{Table: "spores", MachineID: machine, Limit: 1000}
	for {
		m, err := teamClient(base, key, grove).Manifest(t.Context(), q)
		if err != nil {
			t.Fatalf("/manifest: %v", err)
		}
		for _, it := range m.Items {
			seen[it.ID]++
		}
		if q.Cursor = m.NextCursor; q.Cursor == "" {
			return seen
		}
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sporeWrites(prefix string, from, n int, project, word string) []daemon.Write {
	out := make([]daemon.Write, n)
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, from+i)
		out[i] = daemon.Write{Table: "spores", Data: map[string]any{"id": id, "project_id": project, "status": "active",
			"content": fmt.Sprintf("spore %s about %s %s", id, word, strings.Repeat("x", 100))}}
	}
	return out
}

func mustCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	code, out, errs := runCLI(t, env, args...)
	if code != 0 {
		t.Fatalf("hypha %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// TestDaemonE2E_SyncOutageRotationIsolation runs a real `hypha serve` and a
// real `hypha daemon run` with two groves: records written locally reach
// the server (readable and searchable) in their own grove only; with the
// server down the outbox grows and loses nothing, and drains when it is
// back; a token rotated on the server is noticed within one poll, and calls
// refused with 401 are retried with the new token.
func TestDaemonE2E_SyncOutageRotationIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server and daemon processes")
	}
	t.Setenv("HYPHA_CONNECT_INTERVAL", "1s") // the server's /connect window, inherited by the child
	// The server key, as a PostgreSQL deployment gives it (a rotation
	// through /mcp/rotate mints the grove's shared token under it).
	t.Setenv("HYPHA_SERVER_KEY", strings.Repeat("5e", 32))
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			bin := hyphaBinary(t)
			db := dbArg(t, engine)
			key := teamKeyFor(t, bin, db)
			addr := freeAddr(t)
			base := "http://" + addr
			srv := startServerProc(t, bin, db, addr)
			home := shortHome(t)
			env := map[string]string{"HYPHA_HOME": home}
			keyFile := filepath.Join(t.TempDir(), "team_key")
			if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}

			// Team sync needs a grove installation, and says how to make one.
			code, _, stderr := runCLI(t, env, "record", "put", "--grove", "ga", "--table", "spores")
			if code != 1 || !strings.Contains(stderr, "Team sync requires Grove installation") || !strings.Contains(stderr, "Install Grove first: hypha init --grove") {
				t.Fatalf("record put without a grove: exit %d, %q", code, stderr)
			}
			for _, g := range []string{"ga", "gb"} {
				out := mustCLI(t, env, "init", "--grove", "--grove-id", g, "--server", base, "--team-key-file", keyFile)
				if !strings.Contains(out, "connected to "+base) {
					t.Fatalf("init %s: %s", g, out)
				}
			}
			h := daemon.Home{Dir: home}
			id, err := daemon.EnsureIdentity(h, "")
			if err != nil {
				t.Fatal(err)
			}
			startDaemonProc(t, bin, home)
			c := daemon.NewClient(h)
			defer c.Close()

			// Local writes: the CLI through the daemon's socket, and the socket API.
			rec := filepath.Join(t.TempDir(), "rec.json")
			if err := os.WriteFile(rec, []byte(`{"id":"ga-cli","project_id":"`+e2eProject+`","status":"active","content":"written by the command line"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if out := mustCLI(t, env, "record", "put", "--grove", "ga", "--table", "spores", "--file", rec); !strings.Contains(out, "queued") {
				t.Fatalf("record put: %s", out)
			}
			if _, err := c.Write(ctx, "ga", sporeWrites("ga", 0, 40, e2eProject, "mycorrhiza"), false); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(ctx, "gb", sporeWrites("gb", 0, 30, "proj_ffffffffffffffffffffffffffffffff", "lichen"), false); err != nil {
				t.Fatal(err)
			}
			mustCLI(t, env, "record", "delete", "--grove", "ga", "--table", "spores", "--id", "ga-39")
			waitFor(t, "grove ga on the server", 20*time.Second, func() bool { return serverCount(t, base, key, "ga", id.MachineID) == 40 })
			waitFor(t, "grove gb on the server", 20*time.Second, func() bool { return serverCount(t, base, key, "gb", id.MachineID) == 30 })
			if st, _ := teamCall(t, base, key, "ga", "GET", "/records/spores/ga-39"); st != 404 {
				t.Fatalf("the deleted record answers %d", st)
			}

			// Isolation: each grove sees only its own records, on the server,
			// through the daemon's MCP tokens, and locally.
			for _, tt := range []struct {
				grove, id string
				want      int
			}{{"ga", "ga-1", 200}, {"ga", "ga-cli", 200}, {"gb", "gb-1", 200}, {"gb", "ga-1", 404}, {"ga", "gb-1", 404}} {
				if st, body := teamCall(t, base, key, tt.grove, "GET", "/records/spores/"+tt.id); st != tt.want {
					t.Errorf("grove %s GET /records/spores/%s = %d %v; want %d", tt.grove, tt.id, st, body, tt.want)
				}
				if st, body, err := c.RemoteRecord(ctx, tt.grove, "spores", tt.id); err != nil || st != tt.want {
					t.Errorf("grove %s read through the daemon of %s = %d %s %v; want %d", tt.grove, tt.id, st, body, err, tt.want)
				}
			}
			if _, err := c.Get(ctx, "gb", "spores", "ga-1"); err == nil {
				t.Error("grove gb's local store holds grove ga's record")
			}
			assertSearchable(t, base, key, c)

			// The server goes away: the outbox grows, nothing is lost.
			srv.kill()
			if _, err := c.Write(ctx, "ga", sporeWrites("ga", 100, 60, e2eProject, "outage"), false); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the outage in the status", 10*time.Second, func() bool {
				st, err := c.GroveStatus(ctx, "ga")
				return err == nil && st.Outbox.Failures24h > 0 && st.Connection.State == daemon.StateUnreachable
			})
			time.Sleep(300 * time.Millisecond)
			if st, _ := c.GroveStatus(ctx, "ga"); st.Outbox.Depth != 60 {
				t.Fatalf("outbox depth %d during the outage; want the 60 records written", st.Outbox.Depth)
			}
			out := mustCLI(t, env, "daemon", "status", "--grove-coordination", "--grove", "ga")
			for _, want := range []string{"grove ga", "server URL", base, "connection state", "unreachable", "outbox depth", "60",
				"last successful sync", "failures last 24 h", "token status", "valid, expires", "team key status", "active", "local schema"} {
				if !strings.Contains(out, want) {
					t.Errorf("status --grove-coordination lacks %q:\n%s", want, out)
				}
			}
			// Back: the outbox drains.
			p, err := launchServerProc(bin, db, addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.kill)
			waitFor(t, "the outbox drained", 20*time.Second, func() bool { return serverCount(t, base, key, "ga", id.MachineID) == 100 })
			waitFor(t, "an empty outbox and a connected grove", 10*time.Second, func() bool {
				st, err := c.GroveStatus(ctx, "ga")
				return err == nil && st.Outbox.Depth == 0 && st.Connection.State == daemon.StateConnected
			})
			for id, n := range serverIDs(t, base, key, "ga", id.MachineID) {
				if n != 1 {
					t.Fatalf("record %s listed %d times", id, n)
				}
			}

			// Rotation on the server (the API): noticed by the next /health poll.
			before, _ := c.GroveStatus(ctx, "ga")
			req, _ := http.NewRequest("POST", base+"/mcp/rotate", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("X-Grove-ID", "ga")
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
				t.Fatalf("/mcp/rotate: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			waitFor(t, "the daemon's new token", 10*time.Second, func() bool {
				st, err := c.GroveStatus(ctx, "ga")
				return err == nil && st.Token.Hash != before.Token.Hash && st.Token.Status == "valid"
			})
			after, _ := c.GroveStatus(ctx, "ga")
			if r := after.Token.LastRotation; r == nil || r.DetectedPoll > before.Connection.HealthPolls+2 {
				t.Fatalf("rotation %+v; the last poll before it was %d: want it noticed by the next poll", r, before.Connection.HealthPolls)
			}
			if st, body, err := c.RemoteRecord(ctx, "ga", "spores", "ga-1"); err != nil || st != 200 {
				t.Fatalf("read with the new token = %d %s %v", st, body, err)
			}
			// Rotation by the operator's CLI, and a call made before the
			// daemon's next poll: refused with 401, retried with a new token.
			time.Sleep(1100 * time.Millisecond) // the one-/connect-per-interval window (1 s here)
			if out, err := exec.Command(bin, "token", "rotate-mcp", "--grove", "ga", "--db", db).CombinedOutput(); err != nil {
				t.Fatalf("token rotate-mcp: %v\n%s", err, out)
			}
			if st, body, err := c.RemoteRecord(ctx, "ga", "spores", "ga-1"); err != nil || st != 200 {
				t.Fatalf("read right after the CLI rotation = %d %s %v", st, body, err)
			}
			final, _ := c.GroveStatus(ctx, "ga")
			if final.Token.Hash == after.Token.Hash || final.Token.Rotations < 2 {
				t.Fatalf("token after the CLI rotation = %+v", final.Token)
			}
			if gb, _ := c.GroveStatus(ctx, "gb"); gb.Token.Rotations != 0 {
				t.Fatalf("grove gb's token rotated with grove ga's: %+v", gb.Token)
			}
		})
	}
}

// assertSearchable checks, when the server has GET /search, that grove
// ga's records are found in ga (once the asynchronous indexer caught up)
// and never in gb.
func assertSearchable(t *testing.T, base, key string, c *daemon.Client) {
	t.Helper()
	if st, _ := teamCall(t, base, key, "ga", "GET", "/search?q=mycorrhiza"); st == 404 {
		t.Log("no GET /search on this server: searchability not checked")
		return
	}
	var found bool
	waitFor(t, "ga-7 found by /search", 30*time.Second, func() bool {
		st, body := teamCall(t, base, key, "ga", "GET", "/search?q=mycorrhiza+ga-7&limit=50")
		if st != 200 {
			return false
		}
		res, _ := body["results"].([]any)
		for _, r := range res {
			if m, _ := r.(map[string]any); m != nil && (m["id"] == "ga-7" || strings.HasSuffix(fmt.Sprint(m["id"]), ":ga-7")) {
				found = true
			}
		}
		return found
	})
	st, body := teamCall(t, base, key, "gb", "GET", "/search?q=mycorrhiza&limit=50")
	if st != 200 {
		t.Fatalf("grove gb's search = %d", st)
	}
	res, _ := body["results"].([]any)
	for _, r := range res {
		if m, _ := r.(map[string]any); m != nil && strings.HasPrefix(fmt.Sprint(m["id"]), "ga-") {
			t.Fatalf("grove gb's search found grove ga's record %v", m["id"])
		}
	}
	// Through the daemon, with the grove's MCP token.
	status, raw, err := c.RemoteSearch(context.Background(), "ga", url.Values{"q": {"mycorrhiza"}})
	if err != nil || status != 200 || !strings.Contains(string(raw), "ga-") {
		t.Fatalf("search through the daemon = %d %s %v", status, raw, err)
	}
}

// TestDaemonE2E_KillMidFlushLosesNothing writes 6,000 records locally,
// starts the daemon, SIGKILLs it while the outbox is draining, starts it
// again, and checks that every record is on the server exactly once.
func TestDaemonE2E_KillMidFlushLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills daemon processes")
	}
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			bin := hyphaBinary(t)
			db := dbArg(t, engine)
			key := teamKeyFor(t, bin, db)
			addr := freeAddr(t)
			base := "http://" + addr
			startServerProc(t, bin, db, addr)
			home := shortHome(t)
			h := daemon.Home{Dir: home}
			if _, err := daemon.Install(ctx, h, daemon.InstallOptions{GroveID: "g", ServerURL: base, TeamKey: key}); err != nil {
				t.Fatal(err)
			}
			id, _ := daemon.EnsureIdentity(h, "")
			const n = 6000
			for from := 0; from < n; from += 1000 {
				if _, err := daemon.LocalWrite(ctx, h, "g", sporeWrites("s", from, 1000, e2eProject, "kill"), false); err != nil {
					t.Fatal(err)
				}
			}
			p := startDaemonProc(t, bin, home)
			var seen int
			waitFor(t, "the first batches on the server", 20*time.Second, func() bool { seen = serverCount(t, base, key, "g", id.MachineID); return seen > 0 })
			p.kill()
			at := serverCount(t, base, key, "g", id.MachineID)
			st, err := daemon.OfflineStatus(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			depth := st.Groves[0].Outbox.Depth
			t.Logf("SIGKILL with %d of %d records on the server and %d in the outbox", at, n, depth)
			if at >= n || depth == 0 {
				t.Fatalf("the daemon finished before it was killed (%d on the server, outbox %d): nothing was tested", at, depth)
			}
			startDaemonProc(t, bin, home)
			waitFor(t, "every record on the server", 30*time.Second, func() bool { return serverCount(t, base, key, "g", id.MachineID) == n })
			c := daemon.NewClient(h)
			defer c.Close()
			waitFor(t, "an empty outbox", 10*time.Second, func() bool {
				st, err := c.GroveStatus(ctx, "g")
				return err == nil && st.Outbox.Depth == 0
			})
			ids := serverIDs(t, base, key, "g", id.MachineID)
			if len(ids) != n {
				t.Fatalf("%d distinct records on the server, want %d", len(ids), n)
			}
			for rid, k := range ids {
				if k != 1 {
					t.Fatalf("record %s listed %d times", rid, k)
				}
			}
			if st, _ := c.GroveStatus(ctx, "g"); st.Outbox.RejectedTotal != 0 {
				t.Fatalf("%d rejections", st.Outbox.RejectedTotal)
			}
		})
	}
}

// TestDaemonE2E_KillDuringConcurrentWritesKeepsEveryAcknowledged kills the
// daemon with SIGKILL while writers write through its socket (their writes
// committed in groups): every write it acknowledged is in the local store,
// table row and outbox row, and no table row lacks its outbox row.
func TestDaemonE2E_KillDuringConcurrentWritesKeepsEveryAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills daemon processes")
	}
	ctx := context.Background()
	bin := hyphaBinary(t)
	home := shortHome(t)
	h := daemon.Home{Dir: home}
	if _, err := daemon.Install(ctx, h, daemon.InstallOptions{GroveID: "g"}); err != nil { // no server: nothing leaves
		t.Fatal(err)
	}
	p := startDaemonProc(t, bin, home)
	c := daemon.NewClient(h)
	defer c.Close()
	const writers = 8
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				data := map[string]any{"project_id": e2eProject, "content": "written while the daemon dies " + id}
				if _, err := c.Put(ctx, "g", "spores", id, data, false); err != nil {
					return // the daemon is gone
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "acknowledged writes", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 400
	})
	p.kill()
	wg.Wait()
	st, err := daemon.OpenGroveStore(ctx, h, "g")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range acked {
		rec, err := st.Get(ctx, "spores", id)
		if err != nil || !rec.Pending {
			t.Fatalf("acknowledged write %s after SIGKILL: %+v, %v", id, rec, err)
		}
	}
	rows, err := st.CountRecords(ctx, "spores")
	if err != nil {
		t.Fatal(err)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL after %d acknowledged writes: %d table rows, %d outbox rows", len(acked), rows, stats.Depth)
	if rows != stats.Depth || rows < int64(len(acked)) || rows > int64(len(acked)+writers) {
		t.Fatalf("%d table rows and %d outbox rows for %d acknowledged writes (at most %d in flight)", rows, stats.Depth, len(acked), writers)
	}
}

// TestDaemonCLI_Lifecycle drives init, daemon start/status/stop, record
// put without a daemon, and a local schema that is behind, through the
// real binary and the in-process CLI.
func TestDaemonCLI_Lifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hyphaBinary(t)
	home := shortHome(t)
	env := map[string]string{"HYPHA_HOME": home}
	run := func(args ...string) (string, error) {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "HYPHA_HOME="+home)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if code, _, stderr := runCLI(t, env, "daemon", "status"); code != 1 || !strings.Contains(stderr, "Install Grove first: hypha init --grove") {
		t.Fatalf("status without a grove: %d %q", code, stderr)
	}
	if out, err := run("daemon", "start"); err == nil || !strings.Contains(out, "Team sync requires Grove installation") {
		t.Fatalf("start without a grove: %v %s", err, out)
	}
	if code, _, stderr := runCLI(t, env, "init"); code != 2 || !strings.Contains(stderr, "--grove") {
		t.Fatalf("init without --grove: %d %q", code, stderr)
	}
	if out := mustCLI(t, env, "init", "--grove"); !strings.Contains(out, "created grove user_primary") || !strings.Contains(out, "no team server yet") {
		t.Fatalf("init: %s", out)
	}
	if out, err := run("daemon", "start", "--daemon-poll-interval", "100ms"); err != nil || !strings.Contains(out, "hypha daemon started") {
		t.Fatalf("daemon start: %v %s", err, out)
	}
	t.Cleanup(func() { // whatever happens, no daemon outlives the test
		if pid, held := daemon.Running(daemon.Home{Dir: home}); held && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if out, _ := run("daemon", "start"); !strings.Contains(out, "already runs") {
		t.Fatalf("second start: %s", out)
	}
	if fi, err := os.Stat(filepath.Join(home, "daemon", "daemon.sock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", err, fi)
	}
	rec := filepath.Join(t.TempDir(), "r.json")
	_ = os.WriteFile(rec, []byte(`[{"id":"a","project_id":"`+e2eProject+`","content":"one"},{"id":"b","project_id":"`+e2eProject+`","content":"two"}]`), 0o600)
	if out := mustCLI(t, env, "record", "put", "--grove", "user_primary", "--table", "spores", "--file", rec); !strings.Contains(out, "2 record(s) written") {
		t.Fatalf("record put: %s", out)
	}
	if code, _, stderr := runCLI(t, env, "record", "put", "--grove", "other", "--table", "spores", "--file", rec); code != 1 ||
		!strings.Contains(stderr, "hypha init --grove --grove-id other") {
		t.Fatalf("record put in a grove not installed: %d %q", code, stderr)
	}
	out := mustCLI(t, env, "daemon", "status", "--grove-coordination")
	for _, want := range []string{"running", "grove user_primary", "not_configured", "outbox depth          2", "token status", "missing", "local schema          version 2 of 2 (current)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if out, err := run("daemon", "stop"); err != nil || !strings.Contains(out, "hypha daemon stopped") {
		t.Fatalf("daemon stop: %v %s", err, out)
	}
	code, out, _ := runCLI(t, env, "daemon", "status")
	if code != exitNotRunning || !strings.Contains(out, "not running") || !strings.Contains(out, "daemon_not_running") {
		t.Fatalf("status of a stopped daemon: %d %s", code, out)
	}
	if out := mustCLI(t, env, "record", "delete", "--grove", "user_primary", "--table", "spores", "--id", "a"); !strings.Contains(out, "no daemon is running") {
		t.Fatalf("record delete without a daemon: %s", out)
	}
	if out := mustCLI(t, env, "record", "get", "--grove", "user_primary", "--table", "spores", "--id", "b"); !strings.Contains(out, `"pending": true`) {
		t.Fatalf("record get: %s", out)
	}
	// A local store one step behind: writes are refused with the fix.
	steps, _ := daemon.Steps()
	execSQL(t, "sqlite", filepath.Join(home, "groves", "user_primary", "local.db"), fmt.Sprintf("DELETE FROM daemon_migrations WHERE version = %d", len(steps)))
	code, _, stderr := runCLI(t, env, "record", "put", "--grove", "user_primary", "--table", "spores", "--file", rec)
	if code != 1 || !strings.Contains(stderr, "run `hypha daemon migrate --grove user_primary`") {
		t.Fatalf("put on a store behind: %d %q", code, stderr)
	}
	code, out, _ = runCLI(t, env, "daemon", "status", "--grove-coordination")
	if code != exitNotRunning || !strings.Contains(out, "version 1 of 2 (behind)") {
		t.Fatalf("status of a store behind: %s", out)
	}
	if out := mustCLI(t, env, "daemon", "migrate", "--grove", "user_primary"); !strings.Contains(out, "applied 0002_outbox") {
		t.Fatalf("daemon migrate: %s", out)
	}
	if out := mustCLI(t, env, "daemon", "migrate", "--all"); !strings.Contains(out, "nothing to do") {
		t.Fatalf("daemon migrate again: %s", out)
	}
}
