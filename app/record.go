package app

import (
	"encoding/json"

	"github.com/hyphateam/hypha"
)

// RecordJSON renders a stored record as the full row the Myco worker
// returns: every declared column, the key and project, synced_at, and the
// undeclared fields the client sent (which never shadow a declared column).
func RecordJSON(r *hypha.Record) map[string]any {
	out := make(map[string]any, len(r.Table.Columns)+6)
	if len(r.Extra) > 0 {
		var extra map[string]any
		if json.Unmarshal(r.Extra, &extra) == nil {
			for k, v := range extra {
				out[k] = v
			}
		}
	}
	for i, c := range r.Table.Columns {
		out[c.Name] = r.Values[i]
	}
	out[hypha.ColID] = r.ID
	out[hypha.ColMachine] = r.MachineID
	out[hypha.ColGrove] = r.GroveID
	if r.Table.Scope == hypha.ScopeProject {
		out[hypha.ColProject] = nullable(r.ProjectID)
	}
	if r.SyncedAt != nil {
		out[hypha.ColSyncedAt] = *r.SyncedAt
	} else {
		out[hypha.ColSyncedAt] = nil
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
