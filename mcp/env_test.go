package mcp_test

// The harness of the MCP tests: a real team server (package api) with the
// MCP server mounted, over a real migrated database of one engine, with
// the real ingest, job consumer and search services. Records enter through
// app.Sync, as a daemon's /enqueue would write them, and are indexed by
// draining the queue.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/api"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testclock"
	"github.com/hyphateam/hypha/internal/testdb"
	hmcp "github.com/hyphateam/hypha/mcp"
	"github.com/hyphateam/hypha/search"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// env is one running team server with its MCP endpoint.
type env struct {
	t       *testing.T
	Engine  string
	URL     string
	DB      *sqlstore.DB
	Clock   *testclock.Clock
	Schema  *app.SchemaWatcher
	Creds   *app.Credentials
	Sync    *app.Sync
	Jobs    *app.Jobs
	Vectors *app.SearchIndex
	Search  *app.Search
	Anon    *app.AnonymousMCP
	MCP     *hmcp.Server
	TeamKey string
}

// envOptions change how newEnv builds the MCP server.
type envOptions struct {
	stateless          bool
	allowedHosts       []string
	rateLimit, anonRPS float64 // requests a second per grove (0: none)
	maxSessions        int
}

// forEachEngine runs fn as a parallel subtest per engine under test.
func forEachEngine(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			fn(t, engine)
		})
	}
}

// newEnv starts a server on loopback over a fresh database of engine.
func newEnv(t *testing.T, engine string, opts ...func(*envOptions)) *env {
	t.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	clock := testclock.NewClock()
	db := testdb.Open(t, engine, clock.Now)
	if _, err := db.Migrate(ctx, 0); err != nil {
		t.Fatalf("migrate %s: %v", engine, err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	schema := &app.SchemaWatcher{Check: db.MigrationStatus}
	if st := schema.Refresh(ctx); !st.OK {
		t.Fatalf("schema not usable after migrate: %s", st.Problem)
	}
	creds := app.NewCredentials(db, app.CredentialsOptions{Logger: logger})
	embedder := search.NewHashEmbedder(0)
	jobs := app.NewJobs(db, embedder, logger, app.JobsOptions{})
	syncer := &app.Sync{Store: db, Logger: logger, Jobs: jobs}
	vectors := &app.SearchIndex{Store: db, Dims: embedder.Dims(), Logger: logger}
	srch := &app.Search{Store: db, Embedder: embedder, Index: vectors, Logger: logger}
	anon := &app.AnonymousMCP{Store: db}
	m := hmcp.New(hmcp.Options{Store: db, Search: srch, Stateless: o.stateless, AllowedHosts: o.allowedHosts, MaxSessions: o.maxSessions, Version: "test", Logger: logger})
	t.Cleanup(m.Close)
	srv := &api.Server{Store: db, Schema: schema, Auth: creds, Credentials: creds, Sync: syncer, Logger: logger,
		PackageVersion: "test", MCP: m.Handler(), MCPCall: m, AnonymousMCP: anon,
		MCPRateLimit: o.rateLimit, MCPAnonymousRateLimit: o.anonRPS}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	secret, _, err := creds.CreateTeamKey(ctx, "test", 0)
	if err != nil {
		t.Fatalf("CreateTeamKey: %v", err)
	}
	return &env{t: t, Engine: engine, URL: hs.URL, DB: db, Clock: clock, Schema: schema, Creds: creds, Sync: syncer,
		Jobs: jobs, Vectors: vectors, Search: srch, Anon: anon, MCP: m, TeamKey: secret}
}

// project returns a valid project id for a grove (projects belong to one
// grove).
func project(grove string) string {
	var b strings.Builder
	for _, c := range []byte(grove) {
		fmt.Fprintf(&b, "%02x", c)
	}
	return "proj_" + (b.String() + strings.Repeat("0", 32))[:32]
}

// rec is one record as a daemon sends it to /enqueue.
type rec struct {
	table, id, machine string
	data               map[string]any
}

// mustIngest writes records into grove through the ingest service, then
// drains the queue and catches the vector index up, so search sees them.
func (e *env) mustIngest(grove string, recs ...rec) {
	e.t.Helper()
	ctx := context.Background()
	byMachine := map[string][]json.RawMessage{}
	for _, r := range recs {
		data := map[string]any{"project_id": project(grove)}
		for k, v := range r.data {
			data[k] = v
		}
		raw, err := json.Marshal(map[string]any{"table": r.table, "operation": "upsert", "id": r.id, "machine_id": r.machine, "data": data})
		if err != nil {
			e.t.Fatal(err)
		}
		byMachine[r.machine] = append(byMachine[r.machine], raw)
	}
	for machine, raws := range byMachine {
		res, err := e.Sync.Enqueue(ctx, grove, &app.EnqueueRequest{Protocol: hypha.SyncProtocolVersion, MachineID: machine, Records: raws})
		if err != nil {
			e.t.Fatalf("enqueue into %s: %v", grove, err)
		}
		if len(res.Rejected) > 0 {
			e.t.Fatalf("enqueue into %s rejected %v", grove, res.Rejected)
		}
	}
	e.mustIndex()
}

// mustIndex drains the job queue and catches the vector index up.
func (e *env) mustIndex() {
	e.t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		n, err := e.Jobs.RunOnce(ctx)
		if err != nil {
			e.t.Fatalf("jobs: %v", err)
		}
		if n == 0 {
			break
		}
		if i > 10_000 {
			e.t.Fatal("the queue does not drain")
		}
	}
	if err := e.Vectors.CatchUp(ctx); err != nil {
		e.t.Fatalf("vector index: %v", err)
	}
}

// mustToken mints a named MCP token of grove (creating the grove).
func (e *env) mustToken(grove, name string, ttl time.Duration) string {
	e.t.Helper()
	m, err := e.Creds.CreateNamedMCPToken(context.Background(), grove, name, ttl)
	if err != nil {
		e.t.Fatalf("CreateNamedMCPToken(%s): %v", grove, err)
	}
	return m.Token
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	headers map[string]string
	base    http.RoundTripper
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.base.RoundTrip(r)
}

// Protocol versions the tests speak: the released 2025-11-25 (initialize
// opens a session) and the SDK's latest, 2026-07-28 (sessionless: every
// request stands alone).
const (
	protoSessions    = "2025-11-25"
	protoSessionless = "2026-07-28"
)

// connect opens an SDK client session to /mcp over real HTTP with the
// given headers (name/value pairs), closed when the test ends. It speaks
// protocol 2025-11-25, so the server opens a session.
func (e *env) connect(headers ...string) (*mcp.ClientSession, error) {
	return e.connectAt(protoSessions, headers...)
}

// connectAt is connect speaking the given protocol version.
func (e *env) connectAt(version string, headers ...string) (*mcp.ClientSession, error) {
	e.t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "hypha-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: e.URL + "/mcp", MaxRetries: -1, DisableStandaloneSSE: true,
		HTTPClient: &http.Client{Transport: &headerTransport{headers: h, base: http.DefaultTransport}, Timeout: 30 * time.Second}}
	cs, err := client.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { _ = cs.Close() })
	return cs, nil
}

// mustConnect is connect that fails the test on error.
func (e *env) mustConnect(headers ...string) *mcp.ClientSession {
	e.t.Helper()
	cs, err := e.connect(headers...)
	if err != nil {
		e.t.Fatalf("connect: %v", err)
	}
	return cs
}

// bearer returns the header pairs of a bearer credential, plus extra.
func bearer(secret string, extra ...string) []string {
	return append([]string{"Authorization", "Bearer " + secret}, extra...)
}

// callResult is a decoded tools/call answer.
type callResult struct {
	IsError    bool
	Structured map[string]any // the structured result
	Text       map[string]any // the JSON of the first text item
}

// mustCall calls a tool on a client session and decodes its answer.
func mustCall(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) callResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s %v: %v", tool, args, err)
	}
	return decodeResult(t, res)
}

func decodeResult(t *testing.T, res *mcp.CallToolResult) callResult {
	t.Helper()
	out := callResult{IsError: res.IsError}
	if len(res.Content) == 0 {
		t.Fatalf("result has no content: %+v", res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("first content item is %T, want text", res.Content[0])
	}
	if err := json.Unmarshal([]byte(tc.Text), &out.Text); err != nil {
		t.Fatalf("text item is not a JSON object: %v\n%s", err, tc.Text)
	}
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out.Structured); err != nil {
			t.Fatalf("structured content is not an object: %s", b)
		}
		if !jsonEqual(out.Structured, out.Text) {
			t.Fatalf("structured content and text item differ:\n%v\n%v", out.Structured, out.Text)
		}
	} else if !res.IsError {
		t.Fatalf("a successful result without structured content: %s", tc.Text)
	}
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// wantToolError fails unless r is a tool error with code.
func wantToolError(t *testing.T, r callResult, code string) {
	t.Helper()
	if !r.IsError || r.Text["ok"] != false || r.Text["code"] != code || r.Text["error"] == "" {
		t.Fatalf("result %v (isError %v), want a tool error with code %q", r.Text, r.IsError, code)
	}
}

// post sends one HTTP request and returns the status, headers and body.
func (e *env) post(path string, headers []string, body string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// call posts to /mcp/call and decodes the JSON answer.
func (e *env) call(headers []string, method string, params any) (int, map[string]any) {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"method": method, "params": params})
	if err != nil {
		e.t.Fatal(err)
	}
	status, _, raw := e.post("/mcp/call", headers, string(body))
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("/mcp/call %s: answer %d is not a JSON object: %s", method, status, raw)
	}
	return status, out
}

// items returns the list under key of a tool answer.
func items(t *testing.T, out map[string]any, key string) []map[string]any {
	t.Helper()
	raw, ok := out[key].([]any)
	if !ok {
		t.Fatalf("answer has no %q list: %v", key, out)
	}
	var res []map[string]any
	for _, x := range raw {
		res = append(res, x.(map[string]any))
	}
	return res
}
