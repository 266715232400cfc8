package mcp

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SessionsInput is the input of myco_sessions.
type SessionsInput struct {
	Op        string `json:"op,omitempty" jsonschema:"list (the default) or get"`
	ID        string `json:"id,omitempty" jsonschema:"session id, required for get"`
	MachineID string `json:"machine_id,omitempty" jsonschema:"owning machine (get: picks among machines; list: filters)"`
	GroveID   string `json:"grove_id,omitempty" jsonschema:"get: the grove a shared session belongs to, as a search result names it"`
	Limit     int    `json:"limit,omitempty" jsonschema:"list: how many sessions, 1 to 100"`
	Status    string `json:"status,omitempty" jsonschema:"list: only sessions with this status"`
	Agent     string `json:"agent,omitempty" jsonschema:"list: only sessions of this agent"`
	Branch    string `json:"branch,omitempty" jsonschema:"list: only sessions on this branch"`
	Since     string `json:"since,omitempty" jsonschema:"list: only sessions started at or after this ISO 8601 date or time (2026-05-01, 2026-05-01T09:30:00Z)"`
}

// SessionSummary is one session of a myco_sessions list.
type SessionSummary struct {
	ID          string  `json:"id"`
	MachineID   string  `json:"machine_id"`
	GroveID     string  `json:"grove_id"`
	Agent       *string `json:"agent"`
	User        *string `json:"user"`
	Branch      *string `json:"branch"`
	Status      *string `json:"status"`
	Title       *string `json:"title"`
	Summary     *string `json:"summary" jsonschema:"the first 300 characters of the summary"`
	PromptCount *int64  `json:"prompt_count"`
	ToolCount   *int64  `json:"tool_count"`
	StartedAt   *int64  `json:"started_at"`
	EndedAt     *int64  `json:"ended_at"`
}

// SessionsOutput is the answer of myco_sessions: {"sessions": […]} for
// list, the full session row for get.
type SessionsOutput struct {
	Sessions []SessionSummary `json:"sessions"`
	// Session is the full row of op get; it is the whole answer then.
	Session map[string]any `json:"-"`
}

// MarshalJSON answers the row for get and the list otherwise.
func (o SessionsOutput) MarshalJSON() ([]byte, error) {
	if o.Session != nil {
		return json.Marshal(o.Session)
	}
	type list SessionsOutput
	return json.Marshal(list(o))
}

func (s *Server) sessionsTool() tool {
	def := &mcp.Tool{
		Name:        hypha.ToolSessions,
		Title:       "Sessions",
		Description: "List or get synced sessions: recent activity, by branch, agent or status. list: most recently started first. get: one session in full by id (and machine_id).",
		Annotations: readOnly(),
		InputSchema: inputSchema[SessionsInput](func(p props) {
			p.enum("op", opList, opList, opGet)
			p.intRange("limit", 1, maxListLimit, 20)
			p.maxLen(maxIDLength, "id", "machine_id", "grove_id")
			p.maxLen(maxFilterLen, "status", "agent", "branch")
			p.maxLen(64, "since")
		}),
		OutputSchema: outputSchema[SessionsOutput](true),
	}
	table := hypha.LookupTable("sessions")
	return newTool(s, def, func(ctx context.Context, sc *scope, in SessionsInput) (SessionsOutput, error) {
		if err := requireID(in.Op, in.ID); err != nil {
			return SessionsOutput{}, err
		}
		if in.Op == opGet {
			r, err := s.getRow(ctx, sc, table, in.ID, in.MachineID, in.GroveID, "Session not found")
			if err != nil {
				return SessionsOutput{}, err
			}
			return SessionsOutput{Session: fullRow(r)}, nil
		}
		f := hypha.RecordFilter{Table: table, MachineID: in.MachineID,
			Equals:  equals("status", in.Status, "agent", in.Agent, "branch", in.Branch),
			OrderBy: newestFirst("started_at"), Limit: in.Limit}
		if in.Since != "" {
			since, err := parseSince(in.Since)
			if err != nil {
				return SessionsOutput{}, err
			}
			f.AtLeast = []hypha.ColumnValue{{Column: "started_at", Value: since}}
		}
		rows, err := s.list(ctx, sc, f)
		if err != nil {
			return SessionsOutput{}, err
		}
		out := SessionsOutput{Sessions: make([]SessionSummary, 0, len(rows))}
		for _, r := range rows {
			out.Sessions = append(out.Sessions, SessionSummary{ID: r.ID, MachineID: r.MachineID, GroveID: r.GroveID,
				Agent: str(r, "agent"), User: str(r, "user"), Branch: str(r, "branch"), Status: str(r, "status"),
				Title: str(r, "title"), Summary: prefix(r, "summary", 300), PromptCount: num(r, "prompt_count"),
				ToolCount: num(r, "tool_count"), StartedAt: num(r, "started_at"), EndedAt: num(r, "ended_at")})
		}
		return out, nil
	})
}

// sinceLayouts are the ISO 8601 shapes "since" accepts, as JavaScript's
// Date parses them on the Myco worker; a date alone is midnight UTC.
var sinceLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// parseSince reads an ISO date or time as epoch seconds. The Myco worker
// answered an unreadable date with no rows; a tool error says what is
// wrong instead.
func parseSince(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, layout := range sinceLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, hypha.Errorf(hypha.EInvalid, "since %q is not an ISO 8601 date or time (for example 2026-05-01 or 2026-05-01T09:30:00Z)", s)
}
