package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// outputCalls are, per tool, calls whose answers TestOutputSchemas checks:
// every list and get shape, empty answers, shared records.
var outputCalls = map[string][]map[string]any{
	hypha.ToolSearch: {
		{"query": "migration lock"}, {"query": "retry budget", "limit": 50}, {"query": "runbook", "types": []string{"artifacts"}},
		{"query": "deploys the service", "mode": "semantic"}, {"query": "nothing matches zzzz", "mode": "keyword"},
	},
	hypha.ToolCortex: {{}, {"tier": 1500}, {"tier": 10000}},
	hypha.ToolPlans: {
		{}, {"status": "nothing"}, {"op": "get", "id": "plan-1"}, {"op": "get", "id": "b-plan", "grove_id": "beta"},
	},
	hypha.ToolSessions: {{}, {"since": "2030-01-01"}, {"op": "get", "id": "sess-2"}},
	hypha.ToolSkills:   {{}, {"op": "get", "id": "deploy"}},
	hypha.ToolSpores: {
		{}, {"limit": 100}, {"search": "nothing matches"}, {"offset": 100000}, {"op": "get", "id": "spore-1"},
		{"op": "get", "id": "b-shared", "grove_id": "beta"},
	},
}

// TestOutputSchemas: every tool's real answers validate against the output
// schema tools/list publishes. The server does not validate its answers at
// each call (they are encoded once, from the Go types the schemas are
// derived from); this test is that check.
func TestOutputSchemas(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		e.seed("beta", "BETA")
		e.mustIngest("beta",
			rec{"spores", "b-shared", "m9", map[string]any{"content": "BETA-SHARED retry budget for the queue", "status": "active", "sharing_policy": "cross_grove", "created_at": 99_999}},
			rec{"plans", "b-plan", "m9", map[string]any{"content": "BETA-SHARED queue plan", "sharing_policy": "cross_grove", "updated_at": 99_999}},
		)
		if err := e.DB.PutGrant(ctx, "beta", "alpha"); err != nil {
			t.Fatal(err)
		}
		cs := e.inMemory(&hypha.MCPAccess{GroveID: "alpha"})
		schemas := outputSchemas(t, cs)
		for _, tool := range hypha.MCPTools {
			for _, args := range outputCalls[tool] {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
				if err != nil {
					t.Fatalf("%s %v: %v", tool, args, err)
				}
				r := decodeResult(t, res) // also: the text item is the structured content
				if r.IsError {
					t.Fatalf("%s %v failed: %v", tool, args, r.Text)
				}
				// Validated as a client reads it: decoded from the wire.
				var v any
				b, _ := json.Marshal(res.StructuredContent)
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatal(err)
				}
				if err := schemas[tool].Validate(v); err != nil {
					t.Errorf("%s %v: answer does not validate against the output schema: %v\n%s", tool, args, err, b)
				}
			}
		}
	})
}

// outputSchemas resolves the output schemas of tools/list by tool name.
func outputSchemas(t *testing.T, cs *mcp.ClientSession) map[string]*jsonschema.Resolved {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Resolved{}
	for _, tl := range res.Tools {
		b, _ := json.Marshal(tl.OutputSchema)
		var s jsonschema.Schema
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s output schema: %v", tl.Name, err)
		}
		r, err := s.Resolve(nil)
		if err != nil {
			t.Fatalf("%s output schema: %v", tl.Name, err)
		}
		out[tl.Name] = r
	}
	if len(out) != len(hypha.MCPTools) {
		t.Fatalf("%d output schemas, want %d", len(out), len(hypha.MCPTools))
	}
	return out
}

// TestArgumentChecks: the arguments are checked against the published
// input schema, with JSON Schema's rules (an integral number is an
// integer; null is not an integer or a string), and defaults fill
// what is absent.
func TestArgumentChecks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		cs := e.inMemory(&hypha.MCPAccess{GroveID: "alpha"})
		for _, c := range []struct {
			tool string
			args string
			ok   bool
		}{
			{hypha.ToolSpores, `{"limit": 2.0}`, true},
			{hypha.ToolSpores, `{"limit": 1.5}`, false},
			{hypha.ToolSpores, `{"limit": null}`, false},
			{hypha.ToolSpores, `{"limit": "2"}`, false},
			{hypha.ToolSpores, `{"Limit": 2}`, false},
			{hypha.ToolSpores, `{"op": "list", "offset": 100001}`, false},
			{hypha.ToolSpores, `{"search": 1}`, false},
			{hypha.ToolSpores, `null`, true},
			{hypha.ToolSearch, `{"query": ""}`, false},
			{hypha.ToolSearch, `{"query": "x", "types": ["spores", 1]}`, false},
			{hypha.ToolSearch, `{"query": "x", "types": null}`, true}, // a Go slice's schema allows null
			{hypha.ToolSearch, `{"query": "x", "since": -1}`, false},
			{hypha.ToolSearch, `{"query": "x", "mode": "fuzzy"}`, false},
			{hypha.ToolSearch, `{"query": "x", "limit": 51}`, false},
			{hypha.ToolCortex, `{"op": "list"}`, false},
			{hypha.ToolCortex, `{"tier": 0}`, false},
		} {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: c.tool, Arguments: json.RawMessage(c.args)})
			if err != nil {
				t.Fatalf("%s %s: %v", c.tool, c.args, err)
			}
			r := decodeResult(t, res)
			if c.ok && r.IsError {
				t.Errorf("%s %s refused: %v", c.tool, c.args, r.Text)
			}
			if !c.ok {
				if !r.IsError || r.Text["code"] != hypha.EInvalid {
					t.Errorf("%s %s = isError %v, code %v; want a tool error with code invalid", c.tool, c.args, r.IsError, r.Text["code"])
				}
			}
		}
		// "arguments": null over HTTP is {} (the SDK's typed tools crashed
		// the process on it: defaults applied to a nil map).
		status, _, raw := e.post("/mcp", bearer(e.mustToken("alpha", "c", 0)),
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"myco_spores","arguments":null}}`)
		if status != http.StatusOK || !strings.Contains(string(raw), `spore-1`) {
			t.Errorf("arguments null over HTTP = %d %s", status, raw)
		}
		// Defaults fill absent arguments: a list without a limit is 20.
		r := mustCall(t, cs, hypha.ToolSpores, map[string]any{})
		if got := fmt.Sprint(r.Structured["limit"], r.Structured["offset"]); got != "20 0" {
			t.Errorf("default limit, offset = %s, want 20 0", got)
		}
	})
}
