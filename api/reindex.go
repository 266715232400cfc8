package api

import (
	"encoding/json"
	"net/http"

	"github.com/hyphateam/hypha"
)

// reindexRoutes registers POST /vectors/reindex.
func (s *Server) reindexRoutes(mux *http.ServeMux) {
	mux.Handle("/vectors/reindex", s.methods(map[string]http.Handler{"POST": s.guard(teamKeyOnly, s.handleReindex)}))
}

// reindexBody is the answer of /vectors/reindex: the queue-driven fields,
// plus the cursor-era fields v1 daemons still read (reference §12.14).
type reindexBody struct {
	Enqueued            int64            `json:"enqueued"`
	ByTable             map[string]int64 `json:"by_table"`
	SyncProtocolVersion int              `json:"sync_protocol_version"`
	Table               *string          `json:"table"`
	Processed           int64            `json:"processed"`
	Reindexed           int64            `json:"reindexed"`
	Deleted             int64            `json:"deleted"`
	NextCursor          *string          `json:"next_cursor"`
}

// handleReindex queues one embed job per embeddable row of the request's
// grove. The body is optional: {"table": <embeddable table>}; a missing or
// unparsable body, or no table, means every embeddable table, as upstream.
func (s *Server) handleReindex(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := readJSON(r, &body, true); err != nil {
		if hypha.ErrorCode(err) == hypha.ETooLarge {
			writeError(w, r, s.Logger, err)
			return
		}
		body = nil // invalid JSON counts as {}
	}
	table := ""
	if raw, ok := body["table"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &table); err != nil {
			// Not a string: as unknown as any other name.
			writeError(w, r, s.Logger, hypha.Errorf(hypha.EInvalid, "Unknown table: %s", truncateJSON(raw)))
			return
		}
	}
	res, err := s.Sync.ReindexVectors(r.Context(), groveOf(r), table)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	out := reindexBody{Enqueued: res.Enqueued, ByTable: res.ByTable, SyncProtocolVersion: hypha.SyncProtocolVersion,
		Processed: res.Enqueued, Reindexed: res.Enqueued}
	if len(res.Tables) > 0 {
		out.Table = &res.Tables[0]
	}
	writeJSON(w, http.StatusOK, out)
}
