package mcp_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inMemory connects an SDK client to the server of access a through the
// SDK's in-memory transports.
func (e *env) inMemory(a *hypha.MCPAccess) *mcp.ClientSession {
	e.t.Helper()
	ctx := context.Background()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := e.MCP.ServerFor(a).Connect(ctx, st, nil)
	if err != nil {
		e.t.Fatalf("server connect: %v", err)
	}
	e.t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "hypha-test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		e.t.Fatalf("client connect: %v", err)
	}
	e.t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func TestToolsList(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		cs := e.inMemory(&hypha.MCPAccess{GroveID: "alpha"})
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range res.Tools {
			names = append(names, tl.Name)
			if tl.InputSchema == nil || tl.OutputSchema == nil || tl.Annotations == nil || !tl.Annotations.ReadOnlyHint {
				t.Errorf("tool %s: input %v, output %v, annotations %+v: want both schemas and read-only", tl.Name, tl.InputSchema != nil, tl.OutputSchema != nil, tl.Annotations)
			}
		}
		want := slices.Sorted(slices.Values(hypha.MCPTools)) // the SDK lists tools by name
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("tools = %v, want %v", names, want)
		}
		// The limits of reference §7 are in the schemas.
		schema := map[string]map[string]any{}
		for _, tl := range res.Tools {
			schema[tl.Name] = tl.InputSchema.(map[string]any)
		}
		limit := func(tool string) map[string]any {
			return schema[tool]["properties"].(map[string]any)["limit"].(map[string]any)
		}
		for tool, want := range map[string][3]float64{
			hypha.ToolSearch: {1, 50, 10}, hypha.ToolPlans: {1, 100, 20}, hypha.ToolSessions: {1, 100, 20},
			hypha.ToolSkills: {1, 100, 50}, hypha.ToolSpores: {1, 100, 20},
		} {
			l := limit(tool)
			if l["minimum"] != want[0] || l["maximum"] != want[1] || l["default"] != want[2] {
				t.Errorf("%s limit schema = %v, want min %v max %v default %v", tool, l, want[0], want[1], want[2])
			}
		}
		if req, _ := schema[hypha.ToolSearch]["required"].([]any); len(req) != 1 || req[0] != "query" {
			t.Errorf("myco_search required = %v, want [query]", schema[hypha.ToolSearch]["required"])
		}

		// The anonymous tier lists only the tools its grove opened.
		anon := e.inMemory(&hypha.MCPAccess{GroveID: "alpha", Anonymous: true, Tools: []string{hypha.ToolSpores}})
		res, err = anon.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Tools) != 1 || res.Tools[0].Name != hypha.ToolSpores {
			t.Fatalf("anonymous tools = %v, want only myco_spores", res.Tools)
		}
		if _, err := anon.CallTool(context.Background(), &mcp.CallToolParams{Name: hypha.ToolPlans, Arguments: map[string]any{}}); err == nil {
			t.Fatal("an anonymous caller could call a tool its grove did not open")
		}
	})
}

func TestEntityTools(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		e.seed("alpha", "ALPHA")
		cs := e.inMemory(&hypha.MCPAccess{GroveID: "alpha"})

		t.Run("plans", func(t *testing.T) {
			r := mustCall(t, cs, hypha.ToolPlans, map[string]any{})
			plans := items(t, r.Structured, "plans")
			if len(plans) != 2 || plans[0]["id"] != "plan-1" || plans[1]["id"] != "plan-2" {
				t.Fatalf("plans = %v, want plan-1 (updated 300) then plan-2", plans)
			}
			if p := plans[0]["preview"].(string); len([]rune(p)) != 500 || !strings.HasPrefix(p, "ALPHA plan: ") {
				t.Errorf("preview has %d characters, want the first 500 of the content", len([]rune(p)))
			}
			if plans[0]["grove_id"] != "alpha" || plans[0]["logical_key"] != "rollout" || plans[0]["author"] != "ana" {
				t.Errorf("plan summary = %v", plans[0])
			}
			r = mustCall(t, cs, hypha.ToolPlans, map[string]any{"status": "done"})
			if plans := items(t, r.Structured, "plans"); len(plans) != 1 || plans[0]["id"] != "plan-2" {
				t.Fatalf("status=done plans = %v", plans)
			}
			r = mustCall(t, cs, hypha.ToolPlans, map[string]any{"session": "sess-1", "limit": 1})
			if plans := items(t, r.Structured, "plans"); len(plans) != 1 || plans[0]["id"] != "plan-1" {
				t.Fatalf("session=sess-1 plans = %v", plans)
			}
			r = mustCall(t, cs, hypha.ToolPlans, map[string]any{"op": "get", "id": "plan-2", "machine_id": "m1"})
			if r.Structured["id"] != "plan-2" || r.Structured["content"] != "ALPHA cleanup plan" || r.Structured["grove_id"] != "alpha" ||
				r.Structured["project_id"] != project("alpha") {
				t.Fatalf("get plan-2 = %v, want the full row", r.Structured)
			}
			wantToolError(t, mustCall(t, cs, hypha.ToolPlans, map[string]any{"op": "get", "id": "nope"}), hypha.ENotFound)
			r = mustCall(t, cs, hypha.ToolPlans, map[string]any{"op": "get"})
			wantToolError(t, r, hypha.EInvalid)
			if r.Text["error"] != "id is required for op: get" {
				t.Errorf("get without id: %v", r.Text["error"])
			}
		})

		t.Run("sessions", func(t *testing.T) {
			r := mustCall(t, cs, hypha.ToolSessions, map[string]any{})
			sessions := items(t, r.Structured, "sessions")
			if len(sessions) != 2 || sessions[0]["id"] != "sess-2" {
				t.Fatalf("sessions = %v, want sess-2 (started last) first", sessions)
			}
			if s := sessions[1]["summary"].(string); len([]rune(s)) != 300 {
				t.Errorf("summary has %d characters, want 300", len([]rune(s)))
			}
			if sessions[1]["prompt_count"] != float64(3) || sessions[1]["tool_count"] != float64(7) || sessions[1]["ended_at"] != float64(2000) {
				t.Errorf("session summary = %v", sessions[1])
			}
			for _, c := range []struct {
				args map[string]any
				want []string
			}{
				{map[string]any{"agent": "claude"}, []string{"sess-1"}},
				{map[string]any{"branch": "feature"}, []string{"sess-2"}},
				{map[string]any{"status": "completed"}, []string{"sess-1"}},
				{map[string]any{"since": "2026-01-01"}, []string{"sess-2"}},
				{map[string]any{"since": "1970-01-01T00:16:40Z"}, []string{"sess-2", "sess-1"}},
				{map[string]any{"machine_id": "m1"}, []string{"sess-1"}},
			} {
				got := ids(items(t, mustCall(t, cs, hypha.ToolSessions, c.args).Structured, "sessions"))
				if strings.Join(got, ",") != strings.Join(c.want, ",") {
					t.Errorf("sessions %v = %v, want %v", c.args, got, c.want)
				}
			}
			wantToolError(t, mustCall(t, cs, hypha.ToolSessions, map[string]any{"since": "last tuesday"}), hypha.EInvalid)
			r = mustCall(t, cs, hypha.ToolSessions, map[string]any{"op": "get", "id": "sess-2"})
			if r.Structured["machine_id"] != "m2" || r.Structured["agent"] != "cursor" {
				t.Fatalf("get sess-2 = %v", r.Structured)
			}
			wantToolError(t, mustCall(t, cs, hypha.ToolSessions, map[string]any{"op": "get", "id": "sess-2", "machine_id": "m1"}), hypha.ENotFound)
		})

		t.Run("skills", func(t *testing.T) {
			skills := items(t, mustCall(t, cs, hypha.ToolSkills, map[string]any{}).Structured, "skills")
			if got := ids(skills); strings.Join(got, ",") != "skill-2,skill-1" {
				t.Fatalf("skills = %v, want the most used first", got)
			}
			r := mustCall(t, cs, hypha.ToolSkills, map[string]any{"op": "get", "id": "deploy"})
			if r.Structured["id"] != "skill-1" {
				t.Fatalf("get by name deploy = %v, want skill-1", r.Structured)
			}
			r = mustCall(t, cs, hypha.ToolSkills, map[string]any{"op": "get", "id": "skill-2"})
			if r.Structured["name"] != "test" {
				t.Fatalf("get skill-2 = %v", r.Structured)
			}
			wantToolError(t, mustCall(t, cs, hypha.ToolSkills, map[string]any{"op": "get", "id": "nothing"}), hypha.ENotFound)
		})

		t.Run("spores", func(t *testing.T) {
			r := mustCall(t, cs, hypha.ToolSpores, map[string]any{})
			if got := ids(items(t, r.Structured, "spores")); strings.Join(got, ",") != "spore-3,spore-2,spore-1" {
				t.Fatalf("spores = %v, want newest first", got)
			}
			if r.Structured["limit"] != float64(20) || r.Structured["offset"] != float64(0) {
				t.Errorf("limit/offset = %v/%v", r.Structured["limit"], r.Structured["offset"])
			}
			for _, c := range []struct {
				args map[string]any
				want string
			}{
				{map[string]any{"status": "active"}, "spore-2,spore-1"},
				{map[string]any{"observation_type": "gotcha"}, "spore-3,spore-1"},
				{map[string]any{"agent_id": "agent-b"}, "spore-2"},
				{map[string]any{"search": "MIGRATION lock"}, "spore-1"},
				{map[string]any{"search": "100%"}, "spore-2"}, // a LIKE wildcard is a plain character
				{map[string]any{"search": "pool_size"}, "spore-2"},
				{map[string]any{"search": "ool_s"}, "spore-2"},
				{map[string]any{"search": "pool size"}, ""},
				{map[string]any{"limit": 1, "offset": 1}, "spore-2"},
				{map[string]any{"offset": 3}, ""},
			} {
				got := ids(items(t, mustCall(t, cs, hypha.ToolSpores, c.args).Structured, "spores"))
				if strings.Join(got, ",") != c.want {
					t.Errorf("spores %v = %v, want %q", c.args, got, c.want)
				}
			}
			r = mustCall(t, cs, hypha.ToolSpores, map[string]any{"op": "get", "id": "spore-1", "machine_id": "m1"})
			if r.Structured["importance"] != float64(8) || r.Structured["session_id"] != "sess-1" {
				t.Fatalf("get spore-1 = %v", r.Structured)
			}
			// Out-of-range arguments are rejected against the input schema,
			// as tool errors with a stable code.
			for _, bad := range []map[string]any{{"limit": 0}, {"limit": 101}, {"offset": -1}, {"op": "delete"}, {"unknown": 1}, {"limit": "ten"}} {
				wantToolError(t, mustCall(t, cs, hypha.ToolSpores, bad), hypha.EInvalid)
			}
		})

		t.Run("cortex", func(t *testing.T) {
			r := mustCall(t, cs, hypha.ToolCortex, map[string]any{})
			if r.Structured["content"] != "ALPHA new digest" || r.Structured["tier"] != float64(5000) || r.Structured["fallback"] != false ||
				r.Structured["generated_at"] != float64(20) {
				t.Fatalf("digest = %v, want the latest of tier 5000", r.Structured)
			}
			r = mustCall(t, cs, hypha.ToolCortex, map[string]any{"op": "digest", "tier": 1500})
			if r.Structured["content"] != "ALPHA small digest" {
				t.Fatalf("digest tier 1500 = %v", r.Structured)
			}
			r = mustCall(t, cs, hypha.ToolCortex, map[string]any{"tier": 10000})
			if r.Structured["content"] != "Digest context is not yet available. The first digest cycle has not completed." ||
				r.Structured["tier"] != float64(10000) || r.Structured["generated_at"] != nil {
				t.Fatalf("missing digest = %v", r.Structured)
			}
		})
	})
}

// ids returns the ids of list items.
func ids(rows []map[string]any) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r["id"].(string))
	}
	return out
}
