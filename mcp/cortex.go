package mcp

import (
	"context"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// CortexInput is the input of myco_cortex.
type CortexInput struct {
	Op   string `json:"op,omitempty" jsonschema:"digest (the only operation on the team server)"`
	Tier int    `json:"tier,omitempty" jsonschema:"digest size tier: 1500, 5000 (the default) or 10000"`
}

// CortexOutput is the answer of myco_cortex (reference §7).
type CortexOutput struct {
	Content  string `json:"content"`
	Tier     int64  `json:"tier"`
	Fallback bool   `json:"fallback"`
	// GeneratedAt and the digest's key are set when a digest was found.
	GeneratedAt *int64 `json:"generated_at,omitempty"`
	ID          string `json:"id,omitempty"`
	MachineID   string `json:"machine_id,omitempty"`
	GroveID     string `json:"grove_id,omitempty"`
	ProjectID   string `json:"project_id,omitempty"`
}

// noDigest is the Myco worker's answer while no digest exists.
const noDigest = "Digest context is not yet available. The first digest cycle has not completed."

// maxTier bounds the requested tier (the largest Myco writes is 10000).
const maxTier = 1_000_000

func (s *Server) cortexTool() tool {
	def := &mcp.Tool{
		Name:        hypha.ToolCortex,
		Title:       "Project digest",
		Description: "The team's latest project digest at a size tier (1500, 5000 or 10000 tokens): a synthesized overview of what the team knows. Only op \"digest\" is served by the team server.",
		Annotations: readOnly(),
		InputSchema: inputSchema[CortexInput](func(p props) {
			p.enum("op", "digest", "digest")
			p.intRange("tier", 1, maxTier, 5000)
		}),
		OutputSchema: outputSchema[CortexOutput](false),
	}
	table := hypha.LookupTable("digest_extracts")
	return newTool(s, def, func(ctx context.Context, sc *scope, in CortexInput) (CortexOutput, error) {
		tier := int64(in.Tier)
		if tier <= 0 {
			tier = 5000
		}
		rows, err := s.list(ctx, sc, hypha.RecordFilter{Table: table,
			Equals:  []hypha.ColumnValue{{Column: "tier", Value: tier}},
			OrderBy: newestFirst("generated_at"), Limit: 1})
		if err != nil {
			return CortexOutput{}, err
		}
		if len(rows) == 0 {
			return CortexOutput{Content: noDigest, Tier: tier}, nil
		}
		r := rows[0]
		out := CortexOutput{Tier: tier, GeneratedAt: num(r, "generated_at"), ID: r.ID, MachineID: r.MachineID,
			GroveID: r.GroveID, ProjectID: r.ProjectID}
		if c := str(r, "content"); c != nil {
			out.Content = *c
		}
		if t := num(r, "tier"); t != nil {
			out.Tier = *t
		}
		return out, nil
	})
}
