package wire

import (
	"encoding/json"

	"github.com/hyphateam/hypha"
)

// SearchResponse is GET /search: Myco's CloudSearchResults, best first,
// and the machines they come from (distinct, in order of first
// appearance), the top-level array the worker's clients declare. The
// domain type, as myco_search answers the same.
type SearchResponse = hypha.SearchResponse

// MCPCallRequest is the body of POST /mcp/call: a tool name with its
// arguments as params, "tools/call" with {name, arguments}, or
// "tools/list".
type MCPCallRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}
