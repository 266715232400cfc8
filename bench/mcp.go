package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/api"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/mcp"
	"github.com/hyphateam/hypha/search"
)

// MCPOptions configures the MCP tools/call benchmark.
type MCPOptions struct {
	Records  int // records populated, as the search benchmark does (default 100,000)
	Requests int // timed calls per measured call (default 500)
	// Warmup is the untimed calls before each timing (default 100: on
	// PostgreSQL each of the pool's connections prepares a statement the
	// first time it runs it, so the first few dozen calls are slower than
	// a running server's).
	Warmup   int
	Seed     uint64 // of texts and queries (default 1)
	Progress io.Writer
}

// MCPCall is one measured tool call.
type MCPCall struct {
	Name    string // what was called, e.g. "myco_spores list"
	Latency Latency
	Items   float64 // mean results or list items per call
}

// MCPResult holds the measured figures.
type MCPResult struct {
	Engine   string
	Records  int
	PerGrove map[string]int
	Spores   int // spores the benchmark grove sees (own + shared)
	Populate time.Duration
	Calls    []MCPCall
}

// MCP measures tools/call end to end on db, a migrated, empty scratch
// store: it populates it as the search benchmark does (SearchGrove holds
// 90 % of the records, a grant shares SharedGrove's cross_grove ones),
// builds the vector index, serves the real API server with /mcp on a
// loopback port, and times sequential tools/call requests of a grove MCP
// token over HTTP: each a stateless JSON-RPC POST to /mcp, timed until
// its answer is read (authentication, the grove check, the SDK's schema
// validation, the tool and its store reads included). Every call is timed
// twice: with the grant, then with the grant withdrawn.
func MCP(ctx context.Context, db *sqlstore.DB, opts MCPOptions) (*MCPResult, error) {
	if opts.Records <= 0 {
		opts.Records = 100_000
	}
	if opts.Requests <= 0 {
		opts.Requests = 500
	}
	if opts.Warmup <= 0 {
		opts.Warmup = 100
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	emb := search.NewHashEmbedder(0)
	gen := newCorpus(opts.Seed, 4000)
	sres := &SearchResult{PerGrove: map[string]int{}}
	res := &MCPResult{Engine: db.Engine(), Records: opts.Records, PerGrove: sres.PerGrove}

	progress("populating %d records…", opts.Records)
	start := time.Now()
	if err := populate(ctx, db, emb, gen, SearchOptions{Records: opts.Records, Batch: 5000}, sres); err != nil {
		return nil, fmt.Errorf("populate: %w", err)
	}
	if err := prepare(ctx, db, sres); err != nil {
		return nil, err
	}
	res.Populate = time.Since(start)
	vectors := &app.SearchIndex{Store: db, Dims: emb.Dims()}
	if err := vectors.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("build the vector index: %w", err)
	}

	logger := slog.New(slog.DiscardHandler)
	schema := &app.SchemaWatcher{Check: db.MigrationStatus}
	if st := schema.Refresh(ctx); !st.OK {
		return nil, fmt.Errorf("schema: %s", st.Problem)
	}
	creds := app.NewCredentials(db, app.CredentialsOptions{Logger: logger})
	token, err := creds.CreateNamedMCPToken(ctx, SearchGrove, "bench", 0)
	if err != nil {
		return nil, err
	}
	searcher := &app.Search{Store: db, Embedder: emb, Index: vectors, Logger: logger}
	tools := mcp.New(mcp.Options{Store: db, Search: searcher, Version: "bench", Logger: logger})
	defer tools.Close()
	srv := &api.Server{Store: db, Schema: schema, Auth: creds, Credentials: creds, Logger: logger, PackageVersion: "bench",
		MCP: tools.Handler(), MCPCall: tools}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	url := "http://" + ln.Addr().String() + "/mcp"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: time.Minute}

	spores, err := db.ListRecords(ctx, hypha.RecordFilter{Table: hypha.LookupTable("spores"), GroveID: SearchGrove,
		SharedFrom: []string{SharedGrove}, Limit: 1})
	if err != nil || len(spores) == 0 {
		return nil, fmt.Errorf("no spores to list: %v", err)
	}
	res.Spores = res.PerGrove[SearchGrove]*70/100 + res.PerGrove[SharedGrove]*70/100/4 // about: spores are 70 %, a quarter of SharedGrove's shared

	queries := gen.queries(7, opts.Warmup+opts.Requests)
	calls := []struct {
		name, tool, key string
		args            func(i int) map[string]any
	}{
		{"myco_search (hybrid, limit 10)", hypha.ToolSearch, "results", func(i int) map[string]any { return map[string]any{"query": queries[i]} }},
		{"myco_spores list (limit 20)", hypha.ToolSpores, "spores", func(int) map[string]any { return map[string]any{} }},
		{"myco_spores list (status, offset 200)", hypha.ToolSpores, "spores", func(int) map[string]any {
			return map[string]any{"status": "active", "offset": 200, "limit": 20}
		}},
		{"myco_spores get", hypha.ToolSpores, "", func(i int) map[string]any {
			return map[string]any{"op": "get", "id": spores[0].ID, "machine_id": spores[0].MachineID}
		}},
	}
	// The same calls once more after the grant is withdrawn: the grove
	// alone, as most groves are.
	n := len(calls)
	for _, c := range calls[:n] {
		c.name += ", no grant"
		calls = append(calls, c)
	}
	for i, c := range calls {
		if i == n {
			if err := db.DeleteGrant(ctx, SharedGrove, SearchGrove); err != nil {
				return nil, err
			}
		}
		progress("timing %d calls of %s…", opts.Requests, c.name)
		var lat []time.Duration
		items := 0
		for i := 0; i < opts.Warmup+opts.Requests; i++ {
			d, n, err := toolCall(ctx, client, url, token.Token, c.tool, c.args(i), c.key)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			if i >= opts.Warmup {
				lat = append(lat, d)
				items += n
			}
		}
		res.Calls = append(res.Calls, MCPCall{Name: c.name, Latency: summarise(lat), Items: float64(items) / float64(len(lat))})
		if c.tool == hypha.ToolSearch {
			// The search service alone, in process, for the share of
			// the search itself in the tool call.
			var lat []time.Duration
			items := 0
			for i := 0; i < opts.Warmup+opts.Requests; i++ {
				start := time.Now()
				found, err := searcher.Search(ctx, SearchGrove, hypha.SearchQuery{Text: queries[i]})
				if err != nil {
					return nil, err
				}
				if i >= opts.Warmup {
					lat = append(lat, time.Since(start))
					items += len(found)
				}
			}
			res.Calls = append(res.Calls, MCPCall{Name: "  app.Search in process" + strings.TrimPrefix(c.name, "myco_search (hybrid, limit 10)"),
				Latency: summarise(lat), Items: float64(items) / float64(len(lat))})
		}
	}
	return res, nil
}

// toolCall sends one stateless tools/call and returns its time until the
// whole answer was read, and how many items the answer's list under key
// holds.
func toolCall(ctx context.Context, client *http.Client, url, token, tool string, args map[string]any, key string) (time.Duration, int, error) {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args}})
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	var answer struct {
		Result struct {
			IsError           bool                       `json:"isError"`
			StructuredContent map[string]json.RawMessage `json:"structuredContent"`
		} `json:"result"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(sseData(raw), &answer); err != nil {
		return 0, 0, fmt.Errorf("answer %q: %w", raw, err)
	}
	if answer.Error != nil || answer.Result.IsError {
		return 0, 0, fmt.Errorf("tool failed: %s", raw)
	}
	n := 1
	if key != "" {
		var list []json.RawMessage
		if err := json.Unmarshal(answer.Result.StructuredContent[key], &list); err != nil {
			return 0, 0, fmt.Errorf("no %s list in %s", key, raw)
		}
		n = len(list)
	}
	return d, n, nil
}

// sseData returns the data of the last event of a server-sent event
// stream, or raw itself when it is plain JSON.
func sseData(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("event:")) && !bytes.HasPrefix(raw, []byte("data:")) && !bytes.HasPrefix(raw, []byte("id:")) {
		return raw
	}
	// Line by line in place: the client shares the process (and its
	// garbage collector) with the server it times, so it allocates nothing
	// here.
	var data []byte
	for line := range bytes.Lines(raw) {
		line = bytes.TrimRight(line, "\r\n")
		if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok && len(d) > 0 {
			data = d
		}
	}
	return data
}

// String renders the figures.
func (r *MCPResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "engine %s, %d records (%d in the benchmark grove, ~%d spores visible to it), populated in %s\n",
		r.Engine, r.Records, r.PerGrove[SearchGrove], r.Spores, r.Populate.Round(time.Millisecond))
	fmt.Fprintf(&b, "%-50s %6s %10s %10s %10s %10s\n", "tools/call over HTTP", "items", "p50", "p95", "p99", "mean")
	for _, c := range r.Calls {
		l := c.Latency
		fmt.Fprintf(&b, "%-50s %6.1f %10s %10s %10s %10s\n", c.Name, c.Items, ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Mean))
	}
	return b.String()
}
