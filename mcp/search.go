package mcp

import (
	"context"
	"math"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SearchInput is the input of myco_search.
type SearchInput struct {
	Query             string   `json:"query" jsonschema:"what to look for"`
	Types             []string `json:"types,omitempty" jsonschema:"record tables to search: sessions, spores, plans, artifacts, skill_records (all when empty)"`
	Limit             int      `json:"limit,omitempty" jsonschema:"how many results, 1 to 50"`
	Mode              string   `json:"mode,omitempty" jsonschema:"hybrid (the default: semantic and keyword scores combined), semantic or keyword"`
	Status            string   `json:"status,omitempty" jsonschema:"only records with this status"`
	ObservationType   string   `json:"observation_type,omitempty" jsonschema:"only spores of this observation type"`
	SessionID         string   `json:"session_id,omitempty" jsonschema:"only records of this session"`
	SourcePath        string   `json:"source_path,omitempty" jsonschema:"only plans or artifacts from this source path"`
	Name              string   `json:"name,omitempty" jsonschema:"only skills with this name"`
	ProjectID         string   `json:"project_id,omitempty" jsonschema:"only records of this project (proj_…)"`
	Since             float64  `json:"since,omitempty" jsonschema:"only records created at or after this time (epoch seconds)"`
	Until             float64  `json:"until,omitempty" jsonschema:"only records created at or before this time (epoch seconds)"`
	ReleaseState      string   `json:"release_state,omitempty" jsonschema:"only records whose release state is this"`
	ReleaseConfidence string   `json:"release_confidence,omitempty" jsonschema:"only records whose release confidence is this"`
}

// SearchOutput is the answer of myco_search: Myco's CloudSearchResult
// list (reference §6.5), each with a retrieve hint where one applies.
type SearchOutput struct {
	Results []hypha.SearchResult `json:"results"`
}

// maxQueryLength bounds the query (the embedder reads the first 8,000
// UTF-16 units of it anyway).
const maxQueryLength = 8000

func (s *Server) searchTool() tool {
	def := &mcp.Tool{
		Name:        hypha.ToolSearch,
		Title:       "Search team knowledge",
		Description: "Search the team's synced spores, sessions, plans, artifacts and skills by meaning and by keyword. Results carry stable ids (id, machine_id) and a retrieve hint: call the named tool with its input to read the record in full.",
		Annotations: readOnly(),
		InputSchema: inputSchema[SearchInput](func(p props) {
			p.intRange("limit", 1, hypha.MaxSearchLimit, hypha.DefaultSearchLimit)
			p.enum("mode", "", hypha.SearchHybrid, hypha.SearchSemantic, hypha.SearchKeyword)
			p.maxLen(maxQueryLength, "query")
			p.prop("query").MinLength = ptr(1)
			p.maxLen(maxIDLength, "types", "session_id", "project_id", "name")
			p.maxItems("types", 16)
			p.maxLen(maxFilterLen, "status", "observation_type", "source_path", "release_state", "release_confidence")
			p.min("since", 0)
			p.min("until", 0)
		}),
		OutputSchema: outputSchema[SearchOutput](false),
	}
	return newTool(s, def, func(ctx context.Context, sc *scope, in SearchInput) (SearchOutput, error) {
		if s.opts.Search == nil {
			return SearchOutput{}, hypha.Errorf(hypha.EUnavailable, "search is not available on this server")
		}
		if strings.TrimSpace(in.Query) == "" {
			return SearchOutput{}, hypha.Errorf(hypha.EInvalid, "query is required")
		}
		q := hypha.SearchQuery{Text: in.Query, Mode: in.Mode, Limit: in.Limit, Types: in.Types,
			ProjectID: in.ProjectID, Status: in.Status, ObservationType: in.ObservationType, SessionID: in.SessionID,
			SourcePath: in.SourcePath, Name: in.Name, Since: epoch(in.Since), Until: epoch(in.Until),
			ReleaseState: in.ReleaseState, ReleaseConfidence: in.ReleaseConfidence, PublicOnly: sc.public}
		results, err := s.opts.Search.SearchWith(ctx, sc.grove, sc.shared, q)
		if err != nil {
			return SearchOutput{}, err
		}
		if results == nil {
			results = []hypha.SearchResult{}
		}
		return SearchOutput{Results: results}, nil
	})
}

// epoch reads a time in epoch seconds; fractions are dropped, as the
// stored created_at values are whole seconds.
func epoch(v float64) int64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return int64(v)
}

func ptr[T any](v T) *T { return &v }
