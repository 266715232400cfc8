package mcp

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SkillsInput is the input of myco_skills.
type SkillsInput struct {
	Op        string `json:"op,omitempty" jsonschema:"list (the default) or get"`
	ID        string `json:"id,omitempty" jsonschema:"skill id or name, required for get"`
	MachineID string `json:"machine_id,omitempty" jsonschema:"owning machine (get: picks among machines; list: filters)"`
	GroveID   string `json:"grove_id,omitempty" jsonschema:"get: the grove a shared skill belongs to, as a search result names it"`
	Status    string `json:"status,omitempty" jsonschema:"list: only skills with this status"`
	Limit     int    `json:"limit,omitempty" jsonschema:"list: how many skills, 1 to 100"`
}

// SkillSummary is one skill of a myco_skills list.
type SkillSummary struct {
	ID          string  `json:"id"`
	MachineID   string  `json:"machine_id"`
	GroveID     string  `json:"grove_id"`
	Name        *string `json:"name"`
	DisplayName *string `json:"display_name"`
	Description *string `json:"description"`
	Status      *string `json:"status"`
	Generation  *int64  `json:"generation"`
	UsageCount  *int64  `json:"usage_count"`
	LastUsedAt  *int64  `json:"last_used_at"`
	CreatedAt   *int64  `json:"created_at"`
	UpdatedAt   *int64  `json:"updated_at"`
}

// SkillsOutput is the answer of myco_skills: {"skills": […]} for list, the
// full skill row for get.
type SkillsOutput struct {
	Skills []SkillSummary `json:"skills"`
	// Skill is the full row of op get; it is the whole answer then.
	Skill map[string]any `json:"-"`
}

// MarshalJSON answers the row for get and the list otherwise.
func (o SkillsOutput) MarshalJSON() ([]byte, error) {
	if o.Skill != nil {
		return json.Marshal(o.Skill)
	}
	type list SkillsOutput
	return json.Marshal(list(o))
}

func (s *Server) skillsTool() tool {
	def := &mcp.Tool{
		Name:        hypha.ToolSkills,
		Title:       "Skills",
		Description: "List or get synced skills. list: most used first. get: one skill in full by id or by name (and machine_id).",
		Annotations: readOnly(),
		InputSchema: inputSchema[SkillsInput](func(p props) {
			p.enum("op", opList, opList, opGet)
			p.intRange("limit", 1, maxListLimit, 50)
			p.maxLen(maxIDLength, "id", "machine_id", "grove_id")
			p.maxLen(maxFilterLen, "status")
		}),
		OutputSchema: outputSchema[SkillsOutput](true),
	}
	table := hypha.LookupTable("skill_records")
	return newTool(s, def, func(ctx context.Context, sc *scope, in SkillsInput) (SkillsOutput, error) {
		if err := requireID(in.Op, in.ID); err != nil {
			return SkillsOutput{}, err
		}
		if in.Op == opGet {
			r, err := s.getSkill(ctx, sc, table, in)
			if err != nil {
				return SkillsOutput{}, err
			}
			return SkillsOutput{Skill: fullRow(r)}, nil
		}
		rows, err := s.list(ctx, sc, hypha.RecordFilter{Table: table, MachineID: in.MachineID,
			Equals: equals("status", in.Status), OrderBy: newestFirst("usage_count", "created_at"), Limit: in.Limit})
		if err != nil {
			return SkillsOutput{}, err
		}
		out := SkillsOutput{Skills: make([]SkillSummary, 0, len(rows))}
		for _, r := range rows {
			out.Skills = append(out.Skills, SkillSummary{ID: r.ID, MachineID: r.MachineID, GroveID: r.GroveID,
				Name: str(r, "name"), DisplayName: str(r, "display_name"), Description: str(r, "description"),
				Status: str(r, "status"), Generation: num(r, "generation"), UsageCount: num(r, "usage_count"),
				LastUsedAt: num(r, "last_used_at"), CreatedAt: num(r, "created_at"), UpdatedAt: num(r, "updated_at")})
		}
		return out, nil
	})
}

// getSkill looks a skill up by id and, failing that, by name (reference
// §7): the first skill with that name, the caller's grove first.
func (s *Server) getSkill(ctx context.Context, sc *scope, table *hypha.Table, in SkillsInput) (*hypha.Record, error) {
	const notFound = "Skill not found"
	r, err := s.getRow(ctx, sc, table, in.ID, in.MachineID, in.GroveID, notFound)
	if hypha.ErrorCode(err) != hypha.ENotFound {
		return r, err
	}
	if in.GroveID != "" && in.GroveID != sc.grove && !slices.Contains(sc.shared, in.GroveID) {
		return nil, err
	}
	rows, err := s.list(ctx, sc, hypha.RecordFilter{Table: table, MachineID: in.MachineID,
		Equals:  []hypha.ColumnValue{{Column: "name", Value: in.ID}},
		OrderBy: []hypha.OrderBy{{Column: hypha.ColMachine}, {Column: hypha.ColID}}, Limit: maxGetRows})
	if err != nil {
		return nil, err
	}
	return pickRow(rows, sc.grove, in.GroveID, notFound)
}
