package mcp_test

import (
	"net/http"
	"testing"

	"github.com/hyphateam/hypha"
)

// TestToolKeyBytes: a NUL in an id or filter of a tool call is an invalid
// tool error on both engines, never a store error.
func TestToolKeyBytes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		tok := e.mustToken("g1", "keybytes", 0)
		for _, c := range []struct {
			tool string
			args map[string]any
		}{
			{"myco_spores", map[string]any{"op": "get", "id": "a\x00b"}},
			{"myco_sessions", map[string]any{"op": "get", "id": "s", "machine_id": "m\x00"}},
			{"myco_plans", map[string]any{"op": "list", "status": "x\x00"}},
			{"myco_skills", map[string]any{"op": "get", "id": "\x00"}},
		} {
			status, out := e.call(bearer(tok, "X-Grove-ID", "g1"), c.tool, c.args)
			if status != http.StatusBadRequest || out["code"] != hypha.EInvalid {
				t.Errorf("%s %v = %d %v, want 400 invalid", c.tool, c.args, status, out)
			}
		}
	})
}
