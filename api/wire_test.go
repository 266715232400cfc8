package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hyphateam/hypha"
	hmcp "github.com/hyphateam/hypha/mcp"
	"github.com/hyphateam/hypha/wire"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/wire_fields.golden")

// recorder keeps every answer body the client receives, by route.
type recorder struct {
	mu     sync.Mutex
	bodies map[string][]byte // "METHOD /path" → last answer
}

func (rc *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	rc.mu.Lock()
	rc.bodies[req.Method+" "+routeOf(req.URL.Path)] = b
	rc.mu.Unlock()
	return resp, nil
}

// routeOf names the route of a path, its variable parts as patterns.
func routeOf(p string) string {
	switch {
	case strings.HasPrefix(p, "/records/"):
		return "/records/{type}/{id}"
	case strings.HasPrefix(p, "/members/"):
		return "/members/{machine_id}"
	}
	return p
}

// TestWire_EveryRouteThroughTheClient calls every route of the team server
// through wire.Client on each engine, decodes every answer strictly into
// its wire type (a field the type does not declare fails), and compares
// the field names of every answer with testdata/wire_fields.golden, so a
// field renamed, added or dropped on either side fails until the golden
// file is deliberately rewritten with -update.
func TestWire_EveryRouteThroughTheClient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch, func(e *env) {
			m := hmcp.New(hmcp.Options{Store: e.DB, Search: e.Server.Search, Version: "test", Logger: e.Server.Logger})
			e.Server.MCP, e.Server.MCPCall = m.Handler(), m
		})
		ctx := t.Context()
		rec := &recorder{bodies: map[string][]byte{}}
		c := &wire.Client{BaseURL: e.URL, HTTP: &http.Client{Transport: rec}, Token: e.TeamKey, GroveID: "wire_grove", DaemonID: "gd-wire"}
		must := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}

		h, err := c.Health(ctx)
		must("health", err)
		if h.Status != "ok" || h.GroveScope == nil || *h.GroveScope != "wire_grove" {
			t.Fatalf("health = %+v", h)
		}
		conn, err := c.Connect(ctx, wire.ConnectRequest{MachineID: "m1", GlobalDaemon: json.RawMessage("true"),
			SyncProtocolVersion: wire.NewMaybeInt(hypha.SyncProtocolVersion)})
		must("connect", err)
		if conn.MCPAccessToken == "" || conn.DaemonID != "gd-wire" || conn.GroveID != "wire_grove" {
			t.Fatalf("connect = %+v", conn)
		}
		spore := func(id, text string) json.RawMessage {
			project := "proj_" + strings.Repeat("ab", 16)
			if text == "" {
				project = "/not/a/project/id"
			}
			b, _ := json.Marshal(map[string]any{"table": "spores", "operation": "upsert", "id": id, "machine_id": "m1",
				"data": map[string]any{"project_id": project, "agent_id": "a", "observation_type": "gotcha",
					"content": text, "created_at": 1700000000}})
			return b
		}
		enq, err := c.Enqueue(ctx, wire.EnqueueRequest{SyncProtocolVersion: wire.NewInt(3), MachineID: "m1",
			Records: []json.RawMessage{spore("s1", "rsync retries on flaky links"), spore("s2", "")}})
		must("enqueue", err)
		if enq.Accepted != 1 || len(enq.Rejected) != 1 || enq.Rejected[0].ID != "s2" {
			t.Fatalf("enqueue = %+v", enq)
		}
		syn, err := c.Sync(ctx, wire.EnqueueRequest{SyncProtocolVersion: wire.NewInt(3), MachineID: "m1",
			Records: []json.RawMessage{spore("s3", "a second spore about retries")}})
		must("sync", err)
		if syn.Synced != 1 || syn.Errors == nil {
			t.Fatalf("sync = %+v", syn)
		}
		e.index()
		got, err := c.Record(ctx, "spores", "s1", "m1")
		must("record", err)
		if got.Record["content"] != "rsync retries on flaky links" {
			t.Fatalf("record = %+v", got)
		}
		man, err := c.Manifest(ctx, wire.ManifestQuery{Table: "spores", MachineID: "m1", Limit: 1})
		must("manifest", err)
		if man.Count != 2 || len(man.Items) != 1 || man.NextCursor == "" || !man.Items[0].ContentHash.Present {
			t.Fatalf("manifest = %+v", man)
		}
		_, err = c.PutConfig(ctx, wire.ConfigUpdate{"team_name": "wire team"})
		must("put config", err)
		cfg, err := c.Config(ctx)
		must("config", err)
		if cfg.Config["team_name"] != "wire team" {
			t.Fatalf("config = %+v", cfg)
		}
		sum, err := c.SyncSummary(ctx, "m1")
		must("sync summary", err)
		if sum.TotalRecords != 2 || sum.MachineTables["spores"] != 2 {
			t.Fatalf("sync summary = %+v", sum)
		}
		res, err := c.Search(ctx, map[string][]string{"q": {"rsync"}})
		must("search", err)
		if len(res.Results) == 0 || !slices.Equal(res.MachineIDs, []string{"m1"}) {
			t.Fatalf("search = %+v", res)
		}
		_, err = c.Members(ctx)
		must("members", err)
		_, err = c.RemoveMember(ctx, "m9")
		must("remove member", err)
		_, err = c.QueueStats(ctx)
		must("queue stats", err)
		_, err = c.DeadLetters(ctx, 5)
		must("dead letters", err)
		if _, err := c.RetryDeadLetters(ctx, []string{"nope"}); err != nil {
			must("retry dead letters", err)
		}
		_, err = c.DiscardDeadLetters(ctx, []string{"nope"})
		must("discard dead letters", err)
		ri, err := c.Reindex(ctx, "spores")
		must("reindex", err)
		if ri.Table == nil || *ri.Table != "spores" {
			t.Fatalf("reindex = %+v", ri)
		}
		creds, err := c.Credentials(ctx, "wire_grove")
		must("credentials", err)
		if creds.TeamKeys == 0 || creds.MCPTokens == 0 {
			t.Fatalf("credentials = %+v", creds)
		}
		v, err := c.ValidateTeamKey(ctx)
		must("validate", err)
		if !v.Valid {
			t.Fatalf("validate = %+v", v)
		}
		bad, err := c.WithToken("hyk_not-a-key").ValidateTeamKey(ctx)
		if we := wire.AsError(err); we == nil || we.Status != http.StatusUnauthorized || bad.Valid || bad.ErrorType == "" {
			t.Fatalf("validate with a bad key = %+v, %v", bad, err)
		}
		out, err := c.WithToken(conn.MCPAccessToken).MCPCall(ctx, "myco_spores", map[string]any{"op": "list"})
		must("mcp call", err)
		if !bytes.Contains(out, []byte(`"s1"`)) {
			t.Fatalf("mcp call = %s", out)
		}
		st, err := c.CollectiveStatus(ctx)
		must("collective status", err)
		if st.Connected || st.Capabilities == nil || st.Settings == nil {
			t.Fatalf("collective status = %+v", st)
		}
		cs, err := c.CollectiveSettings(ctx)
		must("collective settings", err)
		if cs.CollectiveEnabled || cs.Settings == nil {
			t.Fatalf("collective settings = %+v", cs)
		}
		_, err = c.CollectiveQuery(ctx, wire.CollectiveQuery{Tool: "collective_search", Args: map[string]any{"query": "x"}})
		if we := wire.AsError(err); we == nil || we.Status != http.StatusConflict || we.Code != hypha.ENotConfigured {
			t.Fatalf("collective query = %v", err)
		}
		rot, err := c.RotateMCP(ctx)
		must("rotate", err)
		if rot.Rotated == 0 {
			t.Fatalf("rotate = %+v", rot)
		}
		reb, err := c.Rebuild(ctx, "m1")
		must("rebuild", err)
		if !reb.OK {
			t.Fatalf("rebuild = %+v", reb)
		}
		// An error comes back typed, with its code and the server's
		// protocol window on a protocol refusal.
		_, err = c.Enqueue(ctx, wire.EnqueueRequest{SyncProtocolVersion: wire.NewInt(99), MachineID: "m1", Records: []json.RawMessage{}})
		var we *wire.Error
		if !errors.As(err, &we) || !we.ProtocolMismatch() || we.ServerProtocol != hypha.SyncProtocolVersion {
			t.Fatalf("enqueue with protocol 99 = %v", err)
		}

		checkStrict(t, rec)
		checkGolden(t, rec)
	})
}

// wireTypes names the wire type of each recorded route's answer.
var wireTypes = map[string]func() any{
	"GET /health":                  func() any { return &wire.HealthResponse{} },
	"POST /connect":                func() any { return &wire.ConnectResponse{} },
	"POST /enqueue":                func() any { return &wire.ErrorBody{} }, // the last call was refused
	"POST /sync":                   func() any { return &wire.SyncResponse{} },
	"GET /records/{type}/{id}":     func() any { return &wire.RecordResponse{} },
	"GET /manifest":                func() any { return &wire.ManifestResponse{} },
	"PUT /config":                  func() any { return &wire.ConfigUpdateResponse{} },
	"GET /config":                  func() any { return &wire.ConfigResponse{} },
	"GET /sync-summary":            func() any { return &wire.SyncSummaryResponse{} },
	"GET /search":                  func() any { return &wire.SearchResponse{} },
	"GET /members":                 func() any { return &wire.MembersResponse{} },
	"DELETE /members/{machine_id}": func() any { return &wire.RemoveMemberResponse{} },
	"GET /queue-stats":             func() any { return &wire.QueueStats{} },
	"GET /dlq":                     func() any { return &wire.DeadLettersResponse{} },
	"POST /dlq/retry":              func() any { return &wire.RetryResponse{} },
	"POST /dlq/discard":            func() any { return &wire.DiscardResponse{} },
	"POST /vectors/reindex":        func() any { return &wire.ReindexResponse{} },
	"GET /org/credentials":         func() any { return &wire.CredentialsResponse{} },
	"GET /validate-team-key":       func() any { return &wire.ValidateTeamKeyResponse{} },
	"POST /mcp/call":               nil, // a tool's own result: the MCP tools' schemas describe it
	"GET /collective/status":       func() any { return &wire.CollectiveStatus{} },
	"GET /collective/settings":     func() any { return &wire.CollectiveSettings{} },
	"POST /collective/query":       func() any { return &wire.ErrorBody{} },
	"POST /mcp/rotate":             func() any { return &wire.RotateMCPResponse{} },
	"POST /rebuild":                func() any { return &wire.RebuildResponse{} },
}

// checkStrict decodes every recorded answer into its type, refusing fields
// the type does not declare.
func checkStrict(t *testing.T, rec *recorder) {
	t.Helper()
	for route, body := range rec.bodies {
		mk, ok := wireTypes[route]
		if !ok {
			t.Errorf("route %s has no wire type in this test", route)
			continue
		}
		if mk == nil {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(mk()); err != nil {
			t.Errorf("%s answers what its wire type does not describe: %v\n%s", route, err, body)
		}
	}
	for route := range wireTypes {
		if _, ok := rec.bodies[route]; !ok {
			t.Errorf("route %s was not called through the client", route)
		}
	}
}

// checkGolden compares the field paths of every answer with the golden
// file.
func checkGolden(t *testing.T, rec *recorder) {
	t.Helper()
	var lines []string
	for route, body := range rec.bodies {
		if wireTypes[route] == nil {
			continue
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: %v", route, err)
		}
		for _, p := range fieldPaths(v, "") {
			lines = append(lines, route+" "+p)
		}
	}
	sort.Strings(lines)
	lines = slices.Compact(lines)
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", "wire_fields.golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./api -run TestWire -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("the answers' fields differ from %s (a renamed field breaks clients; if it is deliberate, rerun with -update):\n%s", path, lineDiff(string(want), got))
	}
}

// fieldPaths lists the object keys of v as dotted paths; arrays add [],
// and the keys of maps keyed by data (tables, projects, config keys,
// record columns) are not listed.
func fieldPaths(v any, prefix string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := prefix + "." + k
			if dataKeyed(prefix) {
				p = prefix + ".*"
			}
			out = append(out, p)
			out = append(out, fieldPaths(val, p)...)
		}
	case []any:
		for _, el := range x {
			out = append(out, fieldPaths(el, prefix+"[]")...)
		}
	}
	return out
}

func dataKeyed(prefix string) bool {
	for _, s := range []string{".tables", ".machine_tables", ".by_table", ".embeddable_by_table", ".config", ".project_sync_status",
		".record", ".data", ".metadata", ".input", ".settings"} {
		if strings.HasSuffix(prefix, s) {
			return true
		}
	}
	return false
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
