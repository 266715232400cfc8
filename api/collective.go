package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// collectiveRoutes registers the collective routes Myco clients call. No
// collective is attached to a Hypha server yet: the status says so in the
// worker's shape (so a client's status page works instead of throwing on
// a 404), the settings are empty, and a query is refused with a stable
// code.
func (s *Server) collectiveRoutes(rt *httpjson.Router) {
	rt.Handle("GET /collective/status", s.guard(teamKeyOnly, s.handleCollectiveStatus))
	rt.Handle("GET /collective/settings", s.guard(teamKeyOnly, s.handleCollectiveSettings))
	rt.Handle("POST /collective/query", s.guard(teamKeyOnly, s.handleCollectiveQuery))
}

func (s *Server) handleCollectiveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.CollectiveStatus{Capabilities: []string{}})
}

func (s *Server) handleCollectiveSettings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, wire.CollectiveSettings{})
}

func (s *Server) handleCollectiveQuery(w http.ResponseWriter, r *http.Request) {
	var q wire.CollectiveQuery
	if err := readJSON(r, &q, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !slices.Contains(wire.CollectiveTools, q.Tool) {
		s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "unsupported collective tool %q: one of %s", hypha.Clip(q.Tool), strings.Join(wire.CollectiveTools, ", ")))
		return
	}
	s.writeError(w, r, hypha.Errorf(hypha.ENotConfigured, "no collective is attached to this team server: %s is not available", q.Tool))
}
