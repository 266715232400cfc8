package api_test

// This file is the shared harness of the HTTP tests: a real team server on
// loopback over a real, migrated database of one engine. Use it for every
// route:
//
//	func TestMyRoute(t *testing.T) {
//		forEachEngine(t, func(t *testing.T, engine string) {
//			e := newEnv(t, engine)
//			status, hdr, body := e.do("GET", "/my-route", e.auth(), nil)
//			…
//		})
//	}
//
// newEnv wires api.Server with the real app services this harness knows
// (credentials, health figures, the schema gate). A route that needs
// another service adds it with an option, which runs before the HTTP
// server starts:
//
//	e := newEnv(t, engine, func(e *env) { e.Server.Sync = &app.Sync{Store: e.DB} })

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testclock"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/api"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/seal"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/wire"
)

// env is one running team server and what a test needs to drive it.
type env struct {
	t      *testing.T
	Engine string
	URL    string // base URL of the server, http://127.0.0.1:port
	DB     *sqlstore.DB
	Clock  *testclock.Clock // the store's clock: Advance it instead of sleeping
	Server *api.Server
	Creds  *app.Credentials
	Health *app.Health
	logs   *syncBuffer

	TeamKey   string // secret of an active Team Key, never expiring
	TeamKeyID string
}

var start = testclock.Start

// forEachEngine runs fn as a parallel subtest per engine under test:
// SQLite always, PostgreSQL when HYPHA_TEST_POSTGRES_URL is set.
func forEachEngine(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			fn(t, engine)
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// logText returns everything the server has logged so far (JSON lines).
func (e *env) logText() string { return e.logs.String() }

// newEnv opens a migrated database of engine on a fixed clock, builds the
// server with real app services, applies opts, starts it on loopback and
// creates a Team Key. Everything is closed when t ends.
func newEnv(t *testing.T, engine string, opts ...func(*env)) *env {
	t.Helper()
	clock := testclock.NewClock()
	db := testdb.Open(t, engine, clock.Now)
	if _, err := db.Migrate(context.Background(), 0); err != nil {
		t.Fatalf("migrate %s: %v", engine, err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	schema := &app.SchemaWatcher{Check: db.MigrationStatus}
	if st := schema.Refresh(context.Background()); !st.OK {
		t.Fatalf("schema not usable after migrate: %s", st.Problem)
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	creds := app.NewCredentials(db, app.CredentialsOptions{Logger: logger, ServerKey: key})
	secrets := app.NewSecrets(db, key, app.SecretsOptions{Logger: logger})
	health := &app.Health{Store: db, Logger: logger}
	e := &env{
		t: t, Engine: engine, DB: db, Clock: clock, Creds: creds, Health: health, logs: logs,
		Server: &api.Server{Store: db, Schema: schema, Auth: creds, Credentials: creds, Secrets: secrets, Health: health, Logger: logger, PackageVersion: "test"},
	}
	for _, o := range opts {
		o(e)
	}
	srv := httptest.NewServer(e.Server.Handler())
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	secret, k, err := creds.CreateTeamKey(context.Background(), "test key", 0)
	if err != nil {
		t.Fatalf("CreateTeamKey: %v", err)
	}
	e.TeamKey, e.TeamKeyID = secret, k.ID
	return e
}

// auth returns headers carrying the env's Team Key, plus extra
// name/value pairs.
func (e *env) auth(extra ...string) map[string]string {
	return e.bearer(e.TeamKey, extra...)
}

// bearer returns headers carrying secret as a Bearer credential, plus
// extra name/value pairs.
func (e *env) bearer(secret string, extra ...string) map[string]string {
	h := map[string]string{"Authorization": "Bearer " + secret}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

// do sends one request and decodes the JSON answer. body is sent as is
// when it is a string or []byte, as JSON otherwise, and not at all when
// nil. A body that is not a JSON object fails the test.
func (e *env) do(method, path string, headers map[string]string, body any) (int, http.Header, map[string]any) {
	e.t.Helper()
	status, hdr, raw := e.doRaw(method, path, headers, body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: answer %d is not a JSON object: %v\n%s", method, path, status, err, raw)
	}
	return status, hdr, out
}

// doRaw sends one request and returns the undecoded answer.
func (e *env) doRaw(method, path string, headers map[string]string, body any) (int, http.Header, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode request body: %v", err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, raw
}

// wantError fails the test unless the answer is an error with the given
// status and code.
func wantError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["code"] != wantCode {
		t.Fatalf("answer %d %v, want %d with code %q", status, body, wantStatus, wantCode)
	}
	if msg, _ := body["error"].(string); msg == "" {
		t.Fatalf("error answer %v has no error message", body)
	}
}

// mustTeamKey creates another Team Key with the given lifetime (0: none)
// and returns its secret and id.
func (e *env) mustTeamKey(name string, expiresIn time.Duration) (string, string) {
	e.t.Helper()
	secret, k, err := e.Creds.CreateTeamKey(context.Background(), name, expiresIn)
	if err != nil {
		e.t.Fatalf("CreateTeamKey(%s): %v", name, err)
	}
	return secret, k.ID
}

// mustConnect calls /connect for a daemon of a grove and returns the
// answer, failing the test unless it is 200.
func (e *env) mustConnect(grove, daemon, machine string) map[string]any {
	e.t.Helper()
	status, _, body := e.do("POST", "/connect", e.auth(wire.HeaderGrove, grove, wire.HeaderDaemon, daemon),
		map[string]any{"machine_id": machine, "global_daemon": true, "sync_protocol_version": hypha.SyncProtocolVersion})
	if status != http.StatusOK {
		e.t.Fatalf("/connect grove %s daemon %s = %d %v", grove, daemon, status, body)
	}
	return body
}
