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

// answer is one answer the client received.
type answer struct {
	status int
	body   []byte
}

// answerKey files an answer under its route's pattern and its status
// class, "2xx" or "error".
type answerKey struct{ route, class string }

// recorder keeps every answer the client receives, each under the pattern
// (of wireRoutes) that matched its request.
type recorder struct {
	routes  *http.ServeMux // wireRoutes' patterns, to name a request's route
	mu      sync.Mutex
	answers map[answerKey][]answer
}

func newRecorder() *recorder {
	mux := http.NewServeMux()
	for pattern := range wireRoutes {
		mux.Handle(pattern, http.NotFoundHandler())
	}
	return &recorder{routes: mux, answers: map[answerKey][]answer{}}
}

func (rc *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	_, route := rc.routes.Handler(req)
	if route == "" {
		route = "unlisted " + req.Method + " " + req.URL.Path
	}
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
	class := "error"
	if resp.StatusCode/100 == 2 {
		class = "2xx"
	}
	rc.mu.Lock()
	k := answerKey{route, class}
	rc.answers[k] = append(rc.answers[k], answer{resp.StatusCode, b})
	rc.mu.Unlock()
	return resp, nil
}

// TestWire_EveryRouteThroughTheClient calls every route of the team server
// through wire.Client on each engine (every pattern the server registers
// must be listed in wireRoutes), decodes every answer strictly into its
// wire type (a field the type does not declare fails; errors as
// wire.ErrorBody), and compares the field names of all the answers, by
// route and status class, with testdata/wire_fields.golden, so a field
// renamed, added or dropped on either side fails until the golden file is
// deliberately rewritten with -update.
func TestWire_EveryRouteThroughTheClient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withSearch, func(e *env) {
			m := hmcp.New(hmcp.Options{Store: e.DB, Search: e.Server.Search, Version: "test", Logger: e.Server.Logger})
			e.Server.MCP, e.Server.MCPCall = m.Handler(), m
		})
		ctx := t.Context()
		rec := newRecorder()
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
		pt, err := c.SetProviderToken(ctx, wire.ProviderTokenRequest{Token: "sk-wire-0123456789abcdef", AccountID: "acct"})
		must("set provider token", err)
		if !pt.Configured {
			t.Fatalf("set provider token = %+v", pt)
		}
		pt, err = c.DeleteProviderToken(ctx)
		must("delete provider token", err)
		if !pt.Cleared {
			t.Fatalf("delete provider token = %+v", pt)
		}
		out, err := c.WithToken(conn.MCPAccessToken).MCPCall(ctx, "myco_spores", map[string]any{"op": "list"})
		must("mcp call", err)
		if !bytes.Contains(out, []byte(`"s1"`)) {
			t.Fatalf("mcp call = %s", out)
		}
		mcpSession(t, c.WithToken(conn.MCPAccessToken))
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

		checkRoutes(t, e.Server.Routes())
		checkStrict(t, rec)
		checkGolden(t, rec)
	})
}

// mcpSession opens an MCP session on /mcp and closes it: the SDK's
// JSON-RPC transport, called through the client's transport so it is
// recorded, but not a wire type.
func mcpSession(t *testing.T, c *wire.Client) {
	t.Helper()
	send := func(method, body string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, c.BaseURL+"/mcp", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set(wire.HeaderGrove, c.GroveID)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatalf("%s /mcp: %v", method, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := send(http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wire-test","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" || !bytes.Contains(b, []byte(`"serverInfo"`)) {
		t.Fatalf("POST /mcp initialize = %d, session %q: %s", resp.StatusCode, sid, b)
	}
	// Without a session GET opens no event stream: the SDK refuses it.
	if resp, b := send(http.MethodGet, ""); resp.StatusCode/100 == 2 {
		t.Fatalf("GET /mcp without a session = %d %s", resp.StatusCode, b)
	}
	if resp, b := send(http.MethodDelete, "", "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25"); resp.StatusCode/100 != 2 {
		t.Fatalf("DELETE /mcp = %d %s", resp.StatusCode, b)
	}
}

// answerTypes names the wire types of a route's answers.
type answerTypes struct {
	ok  func() any // of a 2xx answer; nil: not a wire type (see the route)
	err func() any // of an error answer; nil: wire.ErrorBody
	// sdk marks the MCP SDK's JSON-RPC routes: listed, called, never
	// decoded here.
	sdk bool
}

func typ[T any]() any { return new(T) }

// mcpSDK are the answers of /mcp, the MCP SDK's Streamable HTTP transport.
var mcpSDK = answerTypes{sdk: true}

// wireRoutes lists every route the server registers, with the wire types
// of its answers. checkRoutes fails when the server registers a pattern
// this table lacks, or the table lists one the server does not register.
var wireRoutes = map[string]answerTypes{
	"GET /health":                  {ok: typ[wire.HealthResponse]},
	"POST /connect":                {ok: typ[wire.ConnectResponse]},
	"POST /enqueue":                {ok: typ[wire.EnqueueResponse]},
	"POST /sync":                   {ok: typ[wire.SyncResponse]},
	"GET /records/{type}/{id}":     {ok: typ[wire.RecordResponse]},
	"GET /manifest":                {ok: typ[wire.ManifestResponse]},
	"PUT /config":                  {ok: typ[wire.ConfigUpdateResponse]},
	"GET /config":                  {ok: typ[wire.ConfigResponse]},
	"GET /sync-summary":            {ok: typ[wire.SyncSummaryResponse]},
	"GET /search":                  {ok: typ[wire.SearchResponse]},
	"GET /members":                 {ok: typ[wire.MembersResponse]},
	"DELETE /members/{machine_id}": {ok: typ[wire.RemoveMemberResponse]},
	"POST /rebuild":                {ok: typ[wire.RebuildResponse]},
	"GET /queue-stats":             {ok: typ[wire.QueueStats]},
	"GET /dlq":                     {ok: typ[wire.DeadLettersResponse]},
	"POST /dlq/retry":              {ok: typ[wire.RetryResponse]},
	"POST /dlq/discard":            {ok: typ[wire.DiscardResponse]},
	"POST /vectors/reindex":        {ok: typ[wire.ReindexResponse]},
	"GET /org/credentials":         {ok: typ[wire.CredentialsResponse]},
	// Every status of /validate-team-key carries its own answer.
	"GET /validate-team-key":   {ok: typ[wire.ValidateTeamKeyResponse], err: typ[wire.ValidateTeamKeyResponse]},
	"POST /tokens/cf-api":      {ok: typ[wire.ProviderTokenResponse]},
	"DELETE /tokens/cf-api":    {ok: typ[wire.ProviderTokenResponse]},
	"POST /mcp/rotate":         {ok: typ[wire.RotateMCPResponse]},
	"POST /mcp/call":           {}, // a 2xx is the tool's own result: the MCP tools' schemas describe it
	"GET /collective/status":   {ok: typ[wire.CollectiveStatus]},
	"GET /collective/settings": {ok: typ[wire.CollectiveSettings]},
	"POST /collective/query":   {}, // a 2xx is the collective tool's own result
	"GET /mcp":                 mcpSDK,
	"POST /mcp":                mcpSDK,
	"DELETE /mcp":              mcpSDK,
}

// checkRoutes compares the server's registered patterns with wireRoutes,
// both ways. /mcp may still be registered on the mux without a method
// (then the server lists none of its patterns); its three method patterns
// are required once any of them is registered.
func checkRoutes(t *testing.T, registered []string) {
	t.Helper()
	if len(registered) == 0 {
		t.Fatal("the server lists no routes")
	}
	mcpListed := slices.ContainsFunc(registered, func(p string) bool { return strings.HasSuffix(p, " /mcp") })
	for _, p := range registered {
		if _, ok := wireRoutes[p]; !ok {
			t.Errorf("the server registers %s, which this test's wireRoutes does not list: call it through wire.Client and add its types", p)
		}
	}
	for p, types := range wireRoutes {
		if slices.Contains(registered, p) || (types.sdk && !mcpListed) {
			continue
		}
		t.Errorf("wireRoutes lists %s, which the server does not register", p)
	}
}

// checkStrict decodes every recorded answer into its route's wire type
// (the success type for a 2xx, wire.ErrorBody or the route's own for an
// error), refusing fields the type does not declare; an error's code must
// map to its status. Every listed route must have been called.
func checkStrict(t *testing.T, rec *recorder) {
	t.Helper()
	called := map[string]bool{}
	for k, answers := range rec.answers {
		called[k.route] = true
		types, ok := wireRoutes[k.route]
		if !ok {
			t.Errorf("%s: the client called a route wireRoutes does not list", k.route)
			continue
		}
		mk := types.ok
		if k.class == "error" {
			mk = types.err
			if mk == nil {
				mk = typ[wire.ErrorBody]
			}
		}
		if types.sdk || mk == nil {
			continue
		}
		for _, a := range answers {
			v := mk()
			dec := json.NewDecoder(bytes.NewReader(a.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Errorf("%s answers %d with what its wire type %T does not describe: %v\n%s", k.route, a.status, v, err, a.body)
				continue
			}
			if eb, ok := v.(*wire.ErrorBody); ok && wire.StatusOf(eb.Code) != a.status {
				t.Errorf("%s answers %d with code %q, which wire maps to %d", k.route, a.status, eb.Code, wire.StatusOf(eb.Code))
			}
		}
	}
	for route := range wireRoutes {
		if !called[route] {
			t.Errorf("route %s was not called through the client", route)
		}
	}
}

// checkGolden compares the field paths of every decoded answer, by route
// and status class, with the golden file.
func checkGolden(t *testing.T, rec *recorder) {
	t.Helper()
	var lines []string
	for k, answers := range rec.answers {
		types := wireRoutes[k.route]
		if types.sdk || (k.class == "2xx" && types.ok == nil) {
			continue
		}
		for _, a := range answers {
			var v any
			if err := json.Unmarshal(a.body, &v); err != nil {
				t.Fatalf("%s %d: %v", k.route, a.status, err)
			}
			for _, p := range fieldPaths(v, "") {
				lines = append(lines, k.route+" "+k.class+" "+p)
			}
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
