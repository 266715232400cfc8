package hypha

import (
	"context"
	"slices"
)

// The MCP tools of the cloud MCP server (reference §7): read-only and
// grove-scoped.
const (
	ToolSearch   = "myco_search"
	ToolCortex   = "myco_cortex"
	ToolPlans    = "myco_plans"
	ToolSessions = "myco_sessions"
	ToolSkills   = "myco_skills"
	ToolSpores   = "myco_spores"
)

// MCPTools lists every MCP tool name, in the order tools/list shows them.
var MCPTools = []string{ToolSearch, ToolCortex, ToolPlans, ToolSessions, ToolSkills, ToolSpores}

// MCPAnonymousPrefix is the KV prefix of a grove's anonymous MCP tier
// setting: MCPAnonymousPrefix + grove_id → MCPAnonymous as JSON. No entry
// means the tier is off for the grove.
const MCPAnonymousPrefix = "mcp_anonymous:"

// MCPAnonymous is a grove's anonymous MCP tier: callers without a
// credential who name the grove in X-Grove-ID may call Tools, and see only
// the grove's records marked public (sharing_policy "public").
type MCPAnonymous struct {
	GroveID   string   `json:"grove_id"`
	Tools     []string `json:"tools"`
	UpdatedAt int64    `json:"updated_at"`
}

// MCPAccess is what one MCP request may read, as the HTTP layer
// authenticated it.
type MCPAccess struct {
	// GroveID is the grove whose records the request reads (plus those
	// other groves share with it, on the token tier).
	GroveID string
	// Principal is the credential the request presented; nil on the
	// anonymous tier.
	Principal *Principal
	// Anonymous marks the anonymous tier: only Tools, and only records
	// the grove marks public.
	Anonymous bool
	// Tools are the tools the anonymous tier may call; ignored otherwise.
	Tools []string
}

// Allows reports whether the request may call tool.
func (a *MCPAccess) Allows(tool string) bool {
	if !slices.Contains(MCPTools, tool) {
		return false
	}
	return !a.Anonymous || slices.Contains(a.Tools, tool)
}

type mcpAccessKey struct{}

// NewContextWithMCPAccess returns ctx carrying a.
func NewContextWithMCPAccess(ctx context.Context, a *MCPAccess) context.Context {
	return context.WithValue(ctx, mcpAccessKey{}, a)
}

// MCPAccessFromContext returns the access ctx carries, or nil.
func MCPAccessFromContext(ctx context.Context) *MCPAccess {
	a, _ := ctx.Value(mcpAccessKey{}).(*MCPAccess)
	return a
}
