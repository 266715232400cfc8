package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha/api"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/daemon"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
)

const project = "proj_0123456789abcdef0123456789abcdef"

// teamServer is a real team server (api.Server over a migrated SQLite
// store) on loopback, behind a hook that can answer instead of it to
// produce the failures a healthy server does not (409, 503…).
type teamServer struct {
	URL   string
	Key   string
	DB    *sqlstore.DB
	Creds *app.Credentials

	mu      sync.Mutex
	fault   func(w http.ResponseWriter, r *http.Request) bool
	batches []int       // sizes of the /enqueue batches the real server answered
	calls   []time.Time // times of every /enqueue request
}

func newTeamServer(t *testing.T) *teamServer {
	t.Helper()
	ctx := context.Background()
	db := testdb.MustOpen(t, "sqlite")
	logger := slog.New(slog.DiscardHandler)
	schema := &app.SchemaWatcher{Check: db.MigrationStatus}
	if st := schema.Refresh(ctx); !st.OK {
		t.Fatalf("schema: %s", st.Problem)
	}
	creds := app.NewCredentials(db, app.CredentialsOptions{ConnectInterval: time.Second, Logger: logger})
	srv := &api.Server{Store: db, Schema: schema, Auth: creds, Credentials: creds, Health: &app.Health{Store: db, Logger: logger},
		Sync: &app.Sync{Store: db, Logger: logger}, Logger: logger, PackageVersion: "test"}
	h := srv.Handler()
	ts := &teamServer{DB: db, Creds: creds}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/enqueue" {
			ts.mu.Lock()
			ts.calls = append(ts.calls, time.Now())
			ts.mu.Unlock()
		}
		ts.mu.Lock()
		fault := ts.fault
		ts.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		if r.URL.Path == "/enqueue" {
			b, _ := io.ReadAll(r.Body)
			var body struct {
				Records []json.RawMessage `json:"records"`
			}
			_ = json.Unmarshal(b, &body)
			ts.mu.Lock()
			ts.batches = append(ts.batches, len(body.Records))
			ts.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	ts.URL = hs.URL
	key, _, err := creds.CreateTeamKey(ctx, "daemon test", 0)
	if err != nil {
		t.Fatal(err)
	}
	ts.Key = key
	return ts
}

func (ts *teamServer) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.fault = f
}

func (ts *teamServer) enqueueCalls() []time.Time {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]time.Time(nil), ts.calls...)
}

func (ts *teamServer) batchSizes() []int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]int(nil), ts.batches...)
}

// count returns how many records of table the server holds for the grove.
func (ts *teamServer) count(t *testing.T, grove, machine, table string) int {
	t.Helper()
	n, err := ts.DB.CountRecords(context.Background(), grove, machine)
	if err != nil {
		t.Fatal(err)
	}
	return int(n[table])
}

// newHome returns a short HYPHA_HOME (a Unix socket path is limited to
// about 104 bytes, and t.TempDir paths can be long).
func newHome(t *testing.T) daemon.Home {
	t.Helper()
	dir, err := os.MkdirTemp("", "hh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return daemon.Home{Dir: filepath.Join(dir, "h")}
}

// install creates grove g joined to ts (nil: no server).
func install(t *testing.T, home daemon.Home, g string, ts *teamServer) {
	t.Helper()
	opts := daemon.InstallOptions{GroveID: g, MachineID: "m1"}
	if ts != nil {
		opts.ServerURL, opts.TeamKey = ts.URL, ts.Key
	}
	if _, err := daemon.Install(context.Background(), home, opts); err != nil {
		t.Fatal(err)
	}
}

// startDaemon runs a daemon on home with test intervals until t ends.
func startDaemon(t *testing.T, home daemon.Home) *daemon.Daemon {
	t.Helper()
	d := daemon.New(daemon.Options{Home: home, Version: "test", PollInterval: 50 * time.Millisecond, FlushInterval: 20 * time.Millisecond,
		ConnectInterval: time.Second, BackoffMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// testWriter sends the daemon's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// eventually polls cond until it holds or 15 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func spore(i int, extra string) map[string]any {
	return map[string]any{"id": sporeID(i), "project_id": project, "content": "spore " + extra, "status": "active"}
}

func sporeID(i int) string { return "sp-" + itoa(i) }

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func groveStatus(t *testing.T, c *daemon.Client, g string) *daemon.GroveStatus {
	t.Helper()
	st, err := c.GroveStatus(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sqlExec(t *testing.T, st *daemon.Store, q string) {
	t.Helper()
	if _, err := st.DBForTest().Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
