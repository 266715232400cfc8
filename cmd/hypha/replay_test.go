package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/wire"
)

// capturedRequest is one line of testdata/myco-wire/requests.jsonl: a
// request a real Myco client (the 0.12.10 daemon, protocol 1, or the newer
// team-sync client, protocol 3) sent, credentials replaced by placeholders.
type capturedRequest struct {
	Seq     int               `json:"seq"`
	Client  string            `json:"client"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func loadCaptured(t *testing.T) []capturedRequest {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "myco-wire", "requests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capturedRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r capturedRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("requests.jsonl: %v", err)
		}
		out = append(out, r)
	}
	if len(out) < 80 {
		t.Fatalf("requests.jsonl holds %d requests", len(out))
	}
	return out
}

// mycoHash is the Myco client's fingerprint of its MCP token, computed as
// the client does: Java's String.hashCode over UTF-16 code units, then
// Math.abs, lower-case hex, left-padded with 0 to 8 characters, cut to 8.
func mycoHash(token string) string {
	var h int32
	for _, u := range utf16Units(token) {
		h = 31*h + int32(u)
	}
	a := int64(h)
	if a < 0 {
		a = -a
	}
	s := fmt.Sprintf("%08x", a)
	return s[:8]
}

func utf16Units(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

func TestMycoHashVectors(t *testing.T) {
	// Values of Java's "x".hashCode(), "hello".hashCode(), and a string
	// whose hash overflows to negative ("polygenelubricants": MIN_VALUE,
	// whose Math.abs stays negative in Java; the client's JavaScript abs
	// makes it 2^31).
	for in, want := range map[string]string{"": "00000000", "x": "00000078", "hello": "05e918d2", "polygenelubricants": "80000000"} {
		if got := mycoHash(in); got != want {
			t.Errorf("mycoHash(%q) = %s, want %s", in, got, want)
		}
	}
}

// replayState is what the replay learned from earlier answers.
type replayState struct {
	sharedToken string // the MCP token handed to callers without X-Daemon-ID
	daemonHash  string // mcp_token_hash /connect gave the caller with X-Daemon-ID
	sessionID   string // the MCP session the server opened
}

// TestMycoWireReplay sends every request real Myco clients sent (both
// client versions), with this server's credentials swapped in, to a real
// `hypha serve` on each engine, and checks each answer against what that
// client expects (shared/reference/myco-wire/README.md): status, fields
// and their types. Then the 0.12.x rows, pushed with POST /sync, must be
// searchable.
func TestMycoWireReplay(t *testing.T) {
	reqs := loadCaptured(t)
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			if code, out, errOut := runCLI(t, nil, "migrate", "up", "--db", db); code != 0 {
				t.Fatalf("migrate: %s %s", out, errOut)
			}
			key := createTeamKey(t, db)
			args := []string{"--db", db}
			if engine == "postgres" {
				// PostgreSQL has no data directory: the operator names the
				// key file (SQLite's sits beside its database).
				args = append(args, "--server-key-file", filepath.Join(t.TempDir(), "server.key"))
			}
			base, _ := startServe(t, nil, args...)
			st := &replayState{}
			for _, r := range reqs {
				status, hdr, body := replayOne(t, base, key, st, r)
				checkAnswer(t, r, status, hdr, body, st)
			}
			waitSearchable(t, base, key)
		})
	}
}

func createTeamKey(t *testing.T, db string) string {
	t.Helper()
	code, out, errOut := runCLI(t, nil, "token", "create-team-key", "--db", db, "--name", "replay")
	if code != 0 {
		t.Fatalf("create-team-key: %s %s", out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "hyk_") {
			return line
		}
	}
	t.Fatalf("no key in %q", out)
	return ""
}

func replayOne(t *testing.T, base, key string, st *replayState, r capturedRequest) (int, http.Header, []byte) {
	t.Helper()
	var body io.Reader
	if len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequest(r.Method, base+r.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.Headers {
		switch {
		case v == "Bearer <team key>":
			v = "Bearer " + key
		case v == "Bearer <mcp token>":
			v = "Bearer " + st.sharedToken
		case strings.EqualFold(k, "mcp-session-id"):
			v = st.sessionID
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("#%d %s %s: %v", r.Seq, r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// checkAnswer holds the README's table: what each client expects back.
func checkAnswer(t *testing.T, r capturedRequest, status int, hdr http.Header, raw []byte, st *replayState) {
	t.Helper()
	route := r.Method + " " + strings.SplitN(r.URL, "?", 2)[0]
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("#%d %s (%s): %s\nanswer %d: %.600s", r.Seq, r.URL, r.Client, fmt.Sprintf(format, args...), status, raw)
	}
	if route == "POST /mcp" {
		checkMCP(t, r, status, hdr, raw, st, fail)
		return
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		fail("the answer is not a JSON object")
		return
	}
	str := func(k string) bool { _, ok := b[k].(string); return ok }
	num := func(k string) bool { _, ok := b[k].(float64); return ok }
	arr := func(k string) bool { _, ok := b[k].([]any); return ok }
	obj := func(k string) bool { _, ok := b[k].(map[string]any); return ok }
	nullOrStr := func(k string) bool { v, ok := b[k]; return ok && (v == nil || str(k)) }
	legacy := r.Headers["x-daemon-id"] == ""
	jsonError := func(what string) {
		t.Helper()
		if status < 400 || status >= 500 || !str("code") || !str("error") {
			fail("want a JSON error with a stable code: %s", what)
		}
	}
	switch {
	case strings.HasPrefix(route, "GET /records/"):
		// The client never throws here: a record, or null on any error.
		if status == http.StatusOK && !obj("record") || status != http.StatusOK && !str("code") {
			fail("want {record} or a JSON error")
		}
		if r.URL == "/records/spores/gotcha-mcp1" && status != http.StatusOK {
			fail("a record the client pushed is not found")
		}
		return
	case route == "POST /collective/query":
		jsonError("no collective is attached")
		return
	case r.URL == "/search?q=":
		jsonError("an empty query is refused, as by the worker")
		return
	case strings.HasPrefix(r.URL, "/manifest?table=spores"), strings.Contains(r.URL, "table=entity_mentions"):
		jsonError("no machine_id, or a table without a manifest, as on the worker")
		return
	}
	if status != http.StatusOK {
		fail("want 200")
		return
	}
	switch route {
	case "POST /connect":
		cfg, _ := b["config"].(map[string]any)
		if !str("status") || !num("sync_protocol_version") || cfg == nil || cfg["team_id"] == nil || !str("mcp_endpoint") || b["mcp_token"] == "" || !str("mcp_token") {
			fail("want {status, sync_protocol_version, config{team_id}, mcp_token, mcp_endpoint}")
			return
		}
		tok := b["mcp_token"].(string)
		if legacy {
			if st.sharedToken != "" && tok != st.sharedToken {
				fail("a caller without X-Daemon-ID got a token other than the grove's shared one before any rotation")
			}
			st.sharedToken = tok
		} else {
			st.daemonHash, _ = b["mcp_token_hash"].(string)
		}
	case "GET /health":
		h, _ := b["mcp_token_hash"].(string)
		switch {
		case !legacy && (h == "" || h != st.daemonHash):
			fail("mcp_token_hash %q, want the hash /connect gave this daemon (%q)", h, st.daemonHash)
		case legacy && st.sharedToken != "" && h != mycoHash(st.sharedToken):
			fail("mcp_token_hash %q, want the client's hash of its token, %s", h, mycoHash(st.sharedToken))
		}
	case "POST /sync":
		synced, _ := b["synced"].(float64)
		skipped, _ := b["skipped"].(float64)
		if !num("synced") || !num("skipped") || !arr("errors") || synced+skipped == 0 {
			fail("want {synced, skipped, errors} with rows synced or skipped")
		}
		if errs, _ := b["errors"].([]any); len(errs) > 0 {
			fail("0.12.x rows were rejected: %v", errs)
		}
	case "POST /enqueue":
		if !num("accepted") || !arr("rejected") {
			fail("want {accepted, rejected[]}")
		}
		rejected := map[string]bool{}
		for _, rj := range b["rejected"].([]any) {
			m, _ := rj.(map[string]any)
			id, ok := m["id"].(string)
			if !ok || m["table"] == nil || m["error"] == nil {
				fail("a rejection is not {id, table, error}: %v", rj)
			}
			rejected[id] = true
		}
		// Protocol 3 keeps the worker's rule: an upsert without a valid
		// project id is rejected, that record alone.
		for id, want := range wantRejected(r.Body) {
			if rejected[id] != want {
				fail("record %s rejected = %v, want %v", id, rejected[id], want)
			}
		}
	case "POST /mcp/rotate":
		tok, _ := b["token"].(string)
		if tok == "" || tok == st.sharedToken {
			fail("want {token: <the new token>}")
		}
		st.sharedToken = tok
	case "GET /collective/status":
		if _, ok := b["connected"].(bool); !ok || !nullOrStr("collective_url") || !nullOrStr("project_id") || !nullOrStr("last_settings_sync") ||
			!nullOrStr("last_heartbeat") || !arr("capabilities") || !obj("settings") {
			fail("want {connected, collective_url, project_id, last_settings_sync, last_heartbeat, capabilities, settings}")
		}
	case "GET /collective/settings":
		if _, ok := b["collective_enabled"].(bool); !ok || !obj("settings") || !nullOrStr("last_sync") {
			fail("want {collective_enabled, settings, last_sync}")
		}
	case "POST /tokens/cf-api":
		if b["configured"] != true {
			fail("want {configured: true}")
		}
	case "DELETE /tokens/cf-api":
		if b["cleared"] != true {
			fail("want {cleared: true}")
		}
	case "GET /search":
		if !arr("results") || !arr("machine_ids") {
			fail("want {results[], machine_ids[]}")
		}
	case "GET /manifest":
		checkManifestOrder(t, r, b, fail)
	}
}

// checkManifestOrder: integer ids of integer-keyed tables page as numbers
// (7 before 10), as the client walks them.
func checkManifestOrder(t *testing.T, r capturedRequest, b map[string]any, fail func(string, ...any)) {
	t.Helper()
	if !strings.Contains(r.URL, "table=prompt_batches") || strings.Contains(r.URL, "limit=1") {
		return
	}
	items, _ := b["items"].([]any)
	var ids []string
	for _, it := range items {
		m, _ := it.(map[string]any)
		id, _ := m["id"].(string)
		ids = append(ids, id)
	}
	if strings.Join(ids, ",") != "7,10" {
		fail("prompt_batches ids in order %v, want 7,10", ids)
	}
}

// checkMCP: the MCP requests work as captured (a session, tools, results).
func checkMCP(t *testing.T, r capturedRequest, status int, hdr http.Header, raw []byte, st *replayState, fail func(string, ...any)) {
	t.Helper()
	var msg map[string]any
	if bytes.Contains(raw, []byte("data: ")) {
		// Server-sent events: the message is the data line.
		for _, line := range strings.Split(string(raw), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				raw = []byte(d)
			}
		}
	}
	var method string
	var body map[string]any
	_ = json.Unmarshal(r.Body, &body)
	method, _ = body["method"].(string)
	if method == "notifications/initialized" {
		if status != http.StatusAccepted && status != http.StatusOK {
			fail("want 202 for a notification")
		}
		return
	}
	if status != http.StatusOK || json.Unmarshal(raw, &msg) != nil || msg["result"] == nil {
		fail("want 200 with a JSON-RPC result")
		return
	}
	if method == "initialize" {
		if sid := hdr.Get("Mcp-Session-Id"); sid != "" {
			st.sessionID = sid
		}
	}
	if method == "tools/call" {
		res, _ := msg["result"].(map[string]any)
		if res["isError"] == true {
			fail("the tool call failed")
		}
	}
}

// waitSearchable waits until the 0.12.x daemons' rows, pushed with POST
// /sync, are embedded and found by /search.
func waitSearchable(t *testing.T, base, key string) {
	t.Helper()
	c := &wire.Client{BaseURL: base, Token: key}
	found := map[string]bool{}
	waitFor(t, "the 0.12.x rows to be searchable", 60*time.Second, func() bool {
		for _, q := range []string{"rsync retry loop deploy", "Before-join spore rsync"} {
			res, err := c.Search(t.Context(), url.Values{"q": {q}, "limit": {"50"}})
			if err != nil {
				t.Fatalf("/search: %v", err)
			}
			for _, r := range res.Results {
				found[r.MachineID+"/"+r.ID] = true
			}
		}
		return found["olduser_0a1b2c/gotcha-old1"] && found["realdaemon_d00d01/gotcha-9727c334"]
	})
}

// wantRejected says, for each record of a protocol-3 /enqueue body, whether
// the worker's rule rejects it: an upsert of a project-scoped table whose
// project_id is not proj_<32 hex>.
func wantRejected(body json.RawMessage) map[string]bool {
	var env struct {
		Records []struct {
			Table     string         `json:"table"`
			ID        string         `json:"id"`
			Operation string         `json:"operation"`
			Data      map[string]any `json:"data"`
		} `json:"records"`
	}
	out := map[string]bool{}
	if json.Unmarshal(body, &env) != nil {
		return out
	}
	for _, rec := range env.Records {
		if rec.Operation != "upsert" || rec.Table == "team_members" {
			continue
		}
		pid, _ := rec.Data["project_id"].(string)
		out[rec.ID] = !projectIDPattern.MatchString(pid)
	}
	return out
}

var projectIDPattern = regexp.MustCompile(`^proj_[0-9a-f]{32}$`)
