package mcp

import (
	"context"
	"encoding/json"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SporesInput is the input of myco_spores.
type SporesInput struct {
	Op              string `json:"op,omitempty" jsonschema:"list (the default) or get"`
	ID              string `json:"id,omitempty" jsonschema:"spore id, required for get"`
	MachineID       string `json:"machine_id,omitempty" jsonschema:"owning machine (get: picks among machines; list: filters)"`
	GroveID         string `json:"grove_id,omitempty" jsonschema:"get: the grove a shared spore belongs to, as a search result names it"`
	Status          string `json:"status,omitempty" jsonschema:"list: only spores with this status (active, superseded, …)"`
	ObservationType string `json:"observation_type,omitempty" jsonschema:"list: only spores of this observation type"`
	AgentID         string `json:"agent_id,omitempty" jsonschema:"list: only spores of this agent"`
	Search          string `json:"search,omitempty" jsonschema:"list: only spores whose content contains this text (ASCII letters in any case)"`
	Limit           int    `json:"limit,omitempty" jsonschema:"list: how many spores, 1 to 100"`
	Offset          int    `json:"offset,omitempty" jsonschema:"list: how many spores to skip"`
}

// SporeSummary is one spore of a myco_spores list.
type SporeSummary struct {
	ID              string  `json:"id"`
	MachineID       string  `json:"machine_id"`
	GroveID         string  `json:"grove_id"`
	AgentID         *string `json:"agent_id"`
	SessionID       *string `json:"session_id"`
	PromptBatchID   *int64  `json:"prompt_batch_id"`
	ObservationType *string `json:"observation_type"`
	Status          *string `json:"status"`
	Content         *string `json:"content"`
	Context         *string `json:"context"`
	Importance      *int64  `json:"importance"`
	FilePath        *string `json:"file_path"`
	Tags            *string `json:"tags"`
	CreatedAt       *int64  `json:"created_at"`
	UpdatedAt       *int64  `json:"updated_at"`
}

// SporesOutput is the answer of myco_spores: {"spores": […], "offset",
// "limit"} for list, the full spore row for get.
type SporesOutput struct {
	Spores []SporeSummary `json:"spores"`
	Offset int            `json:"offset"`
	Limit  int            `json:"limit"`
	// Spore is the full row of op get; it is the whole answer then.
	Spore map[string]any `json:"-"`
}

// MarshalJSON answers the row for get and the list otherwise.
func (o SporesOutput) MarshalJSON() ([]byte, error) {
	if o.Spore != nil {
		return json.Marshal(o.Spore)
	}
	type list SporesOutput
	return json.Marshal(list(o))
}

// maxOffset bounds myco_spores' offset: deeper pages cost a scan each.
const maxOffset = 100_000

func (s *Server) sporesTool() tool {
	def := &mcp.Tool{
		Name:        hypha.ToolSpores,
		Title:       "Spores",
		Description: "List or get spores (observations). list: newest first, filtered by status, observation type, agent or a text the content contains, paged with limit and offset. get: one spore in full by id (and machine_id).",
		Annotations: readOnly(),
		InputSchema: inputSchema[SporesInput](func(p props) {
			p.enum("op", opList, opList, opGet)
			p.intRange("limit", 1, maxListLimit, 20)
			p.intRange("offset", 0, maxOffset, 0)
			p.maxLen(maxIDLength, "id", "machine_id", "grove_id", "agent_id")
			p.maxLen(maxFilterLen, "status", "observation_type", "search")
		}),
		OutputSchema: outputSchema[SporesOutput](true),
	}
	table := hypha.LookupTable("spores")
	return newTool(s, def, func(ctx context.Context, sc *scope, in SporesInput) (SporesOutput, error) {
		if err := requireID(in.Op, in.ID); err != nil {
			return SporesOutput{}, err
		}
		if in.Op == opGet {
			r, err := s.getRow(ctx, sc, table, in.ID, in.MachineID, in.GroveID, "Spore not found")
			if err != nil {
				return SporesOutput{}, err
			}
			return SporesOutput{Spore: fullRow(r)}, nil
		}
		limit := max(1, min(in.Limit, maxListLimit))
		offset := max(0, min(in.Offset, maxOffset))
		f := hypha.RecordFilter{Table: table, MachineID: in.MachineID,
			Equals:  equals("status", in.Status, "observation_type", in.ObservationType, "agent_id", in.AgentID),
			OrderBy: newestFirst("created_at"), Limit: limit, Offset: offset}
		if in.Search != "" {
			f.Contains = []hypha.ColumnValue{{Column: "content", Value: in.Search}}
		}
		rows, err := s.list(ctx, sc, f)
		if err != nil {
			return SporesOutput{}, err
		}
		out := SporesOutput{Spores: make([]SporeSummary, 0, len(rows)), Offset: offset, Limit: limit}
		for _, r := range rows {
			out.Spores = append(out.Spores, SporeSummary{ID: r.ID, MachineID: r.MachineID, GroveID: r.GroveID,
				AgentID: str(r, "agent_id"), SessionID: str(r, "session_id"), PromptBatchID: num(r, "prompt_batch_id"),
				ObservationType: str(r, "observation_type"), Status: str(r, "status"), Content: str(r, "content"),
				Context: str(r, "context"), Importance: num(r, "importance"), FilePath: str(r, "file_path"),
				Tags: str(r, "tags"), CreatedAt: num(r, "created_at"), UpdatedAt: num(r, "updated_at")})
		}
		return out, nil
	})
}
