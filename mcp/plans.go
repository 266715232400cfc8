package mcp

import (
	"context"
	"encoding/json"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// PlansInput is the input of myco_plans.
type PlansInput struct {
	Op        string `json:"op,omitempty" jsonschema:"list (the default) or get"`
	ID        string `json:"id,omitempty" jsonschema:"plan id, required for get"`
	MachineID string `json:"machine_id,omitempty" jsonschema:"owning machine (get: picks among machines; list: filters)"`
	GroveID   string `json:"grove_id,omitempty" jsonschema:"get: the grove a shared plan belongs to, as a search result names it"`
	Status    string `json:"status,omitempty" jsonschema:"list: only plans with this status"`
	Session   string `json:"session,omitempty" jsonschema:"list: only plans of this session id"`
	Limit     int    `json:"limit,omitempty" jsonschema:"list: how many plans, 1 to 100"`
}

// PlanSummary is one plan of a myco_plans list.
type PlanSummary struct {
	ID            string  `json:"id"`
	MachineID     string  `json:"machine_id"`
	GroveID       string  `json:"grove_id"`
	LogicalKey    *string `json:"logical_key"`
	Status        *string `json:"status"`
	Author        *string `json:"author"`
	Title         *string `json:"title"`
	Preview       *string `json:"preview" jsonschema:"the first 500 characters of the content"`
	SourcePath    *string `json:"source_path"`
	Tags          *string `json:"tags"`
	SessionID     *string `json:"session_id"`
	PromptBatchID *int64  `json:"prompt_batch_id"`
	CreatedAt     *int64  `json:"created_at"`
	UpdatedAt     *int64  `json:"updated_at"`
}

// PlansOutput is the answer of myco_plans: {"plans": […]} for list, the
// full plan row for get.
type PlansOutput struct {
	Plans []PlanSummary `json:"plans"`
	// Plan is the full row of op get; it is the whole answer then.
	Plan map[string]any `json:"-"`
}

// MarshalJSON answers the row for get and the list otherwise.
func (o PlansOutput) MarshalJSON() ([]byte, error) {
	if o.Plan != nil {
		return json.Marshal(o.Plan)
	}
	type list PlansOutput
	return json.Marshal(list(o))
}

func (s *Server) plansTool() tool {
	def := &mcp.Tool{
		Name:        hypha.ToolPlans,
		Title:       "Plans",
		Description: "List or get synced plans. list: newest first (by updated_at, then created_at), filtered by status or session. get: one plan in full by id (and machine_id).",
		Annotations: readOnly(),
		InputSchema: inputSchema[PlansInput](func(p props) {
			p.enum("op", opList, opList, opGet)
			p.intRange("limit", 1, maxListLimit, 20)
			p.maxLen(maxIDLength, "id", "machine_id", "grove_id", "session")
			p.maxLen(maxFilterLen, "status")
		}),
		OutputSchema: outputSchema[PlansOutput](true),
	}
	table := hypha.LookupTable("plans")
	return newTool(s, def, func(ctx context.Context, sc *scope, in PlansInput) (PlansOutput, error) {
		if err := requireID(in.Op, in.ID); err != nil {
			return PlansOutput{}, err
		}
		if in.Op == opGet {
			r, err := s.getRow(ctx, sc, table, in.ID, in.MachineID, in.GroveID, "Plan not found")
			if err != nil {
				return PlansOutput{}, err
			}
			return PlansOutput{Plan: fullRow(r)}, nil
		}
		rows, err := s.list(ctx, sc, hypha.RecordFilter{Table: table, MachineID: in.MachineID,
			Equals:  equals("status", in.Status, "session_id", in.Session),
			OrderBy: newestFirst("updated_at", "created_at"), Limit: in.Limit})
		if err != nil {
			return PlansOutput{}, err
		}
		out := PlansOutput{Plans: make([]PlanSummary, 0, len(rows))}
		for _, r := range rows {
			out.Plans = append(out.Plans, PlanSummary{ID: r.ID, MachineID: r.MachineID, GroveID: r.GroveID,
				LogicalKey: str(r, "logical_key"), Status: str(r, "status"), Author: str(r, "author"), Title: str(r, "title"),
				Preview: prefix(r, "content", 500), SourcePath: str(r, "source_path"), Tags: str(r, "tags"),
				SessionID: str(r, "session_id"), PromptBatchID: num(r, "prompt_batch_id"),
				CreatedAt: num(r, "created_at"), UpdatedAt: num(r, "updated_at")})
		}
		return out, nil
	})
}

// readOnly marks a tool as reading only, from a closed world of records.
func readOnly() *mcp.ToolAnnotations {
	f := false
	return &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: &f}
}
