package api

import (
	"encoding/json"
	"net/http"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// reindexRoutes registers POST /vectors/reindex.
func (s *Server) reindexRoutes(rt *httpjson.Router) {
	rt.Handle("POST /vectors/reindex", s.guard(teamKeyOnly, s.handleReindex))
}

// handleReindex queues one embed job per embeddable row of the request's
// grove. The body is optional: {"table": <embeddable table>}; a missing or
// unparsable body, or no table, means every embeddable table, as upstream.
func (s *Server) handleReindex(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := readJSON(r, &body, true); err != nil {
		if hypha.ErrorCode(err) == hypha.ETooLarge {
			s.writeError(w, r, err)
			return
		}
		body = nil // invalid JSON counts as {}
	}
	table := ""
	if raw, ok := body["table"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &table); err != nil {
			// Not a string: as unknown as any other name.
			s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "Unknown table: %s", hypha.Clip(string(raw))))
			return
		}
	}
	res, err := s.Sync.ReindexVectors(r.Context(), groveOf(r), table)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := wire.ReindexResponse{Enqueued: res.Enqueued, ByTable: res.ByTable, SyncProtocolVersion: hypha.SyncProtocolVersion,
		Processed: res.Enqueued, Reindexed: res.Enqueued}
	if len(res.Tables) > 0 {
		out.Table = &res.Tables[0]
	}
	writeJSON(w, http.StatusOK, out)
}
