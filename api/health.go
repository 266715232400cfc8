package api

import (
	"net/http"
	"time"

	"github.com/hyphateam/hypha"
)

// healthBody is the public /health answer. It reads no storage: the schema
// state comes from the watcher's last check.
type healthBody struct {
	Status                 string `json:"status"`
	Code                   string `json:"code,omitempty"`
	Message                string `json:"message,omitempty"`
	SyncProtocolVersion    int    `json:"sync_protocol_version"`
	MinCompatClientVersion int    `json:"min_compat_client_version"`
	PackageVersion         string `json:"package_version"`
	SchemaVersion          *int   `json:"schema_version"`
	Engine                 string `json:"engine"`
	Timestamp              string `json:"timestamp"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	st := s.Schema.State()
	body := healthBody{
		Status:                 "ok",
		SyncProtocolVersion:    hypha.SyncProtocolVersion,
		MinCompatClientVersion: hypha.MinSyncProtocolVersion,
		PackageVersion:         s.PackageVersion,
		Engine:                 s.Store.Engine(),
		Timestamp:              time.Now().UTC().Format(time.RFC3339),
	}
	if st.Report != nil {
		v := st.Report.Current
		body.SchemaVersion = &v
	}
	status := http.StatusOK
	if !st.OK {
		body.Status, body.Code, body.Message = "unavailable", st.Code, st.Problem
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, body)
}
