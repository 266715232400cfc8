package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/wire"
)

// handleHealth answers the public /health. It reads no storage: the schema
// state comes from the watcher's last check, the node count from
// app.Health's background refresh, Team Keys and token fingerprints from
// app.Credentials' in-memory copies.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	st := s.Schema.State()
	body := wire.HealthResponse{
		Status:                 "ok",
		SyncProtocolVersion:    hypha.SyncProtocolVersion,
		MinCompatClientVersion: hypha.MinSyncProtocolVersion,
		PackageVersion:         s.PackageVersion,
		Engine:                 s.Store.Engine(),
		Timestamp:              time.Now().UTC().Format(time.RFC3339),
		TeamKeyStatus:          "unknown",
	}
	if e := s.Embedder; e != nil {
		body.Embedder = &wire.Embedder{Provider: e.Provider, Model: e.Model, Dims: e.Dims, Lexical: e.Lexical,
			ProviderTokenSet: s.Secrets != nil && s.Secrets.ProviderTokenSet()}
	}
	if s.Health != nil {
		body.Nodes = s.Health.NodeCount()
		body.NodeCount = body.Nodes
	}
	if st.Report != nil {
		v := st.Report.Current
		body.SchemaVersion = &v
	}
	grove := strings.TrimSpace(r.Header.Get(wire.HeaderGrove))
	if grove != "" && hypha.ValidateGroveID(grove) == nil {
		body.GroveScope = &grove
	} else {
		grove = ""
	}
	if st.OK && s.Credentials != nil {
		body.TeamKeyStatus = "missing"
		if secret, present := bearer(r); present {
			body.TeamKeyStatus = s.Credentials.TeamKeyStatus(r.Context(), secret)
		}
		g := grove
		if g == "" {
			g = hypha.DefaultGroveID
		}
		var h string
		if daemon := strings.TrimSpace(r.Header.Get(wire.HeaderDaemon)); daemon == "" {
			// A Myco client: the worker's 8-hex hash of the grove's shared
			// token, the one /connect hands to callers naming no daemon.
			h = s.Credentials.SharedTokenHash(r.Context(), g)
		} else if app.ValidateDaemonID(daemon) == nil {
			h = s.Credentials.TokenHash(r.Context(), g, daemon)
		}
		if h != "" {
			body.MCPTokenHash = &h
		}
		body.GroveMetrics = s.groveMetricsFor(r, grove)
		if body.GroveMetrics != nil && s.Search != nil && s.Search.Index != nil {
			vi := &wire.VectorIndex{Seq: s.Search.Index.Seq()}
			if idx := s.Search.Index.Vectors(); idx != nil {
				vi.Ready, vi.GroveVectors = true, idx.GroveLen(body.GroveMetrics.GroveID)
			}
			if idx := s.Search.Index.Text(); idx != nil {
				vi.KeywordReady, vi.GroveDocuments = true, idx.GroveLen(body.GroveMetrics.GroveID)
			}
			body.VectorIndex = vi
		}
	}
	status := http.StatusOK
	if !st.OK {
		body.Status, body.Code, body.Message = "unavailable", st.Code, st.Problem
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, body)
}

// groveMetricsFor returns the seed's grove visibility metrics when the
// caller is authenticated for the grove: a Team Key naming it with
// X-Grove-ID, or that grove's MCP token. Anyone else gets nil, so
// unauthenticated /health names no grove or project.
func (s *Server) groveMetricsFor(r *http.Request, grove string) *hypha.GroveMetrics {
	secret, present := bearer(r)
	if !present || secret == "" || s.Health == nil || s.Auth == nil {
		return nil
	}
	p, err := s.Auth.Authenticate(r.Context(), secret)
	if err != nil {
		return nil
	}
	switch {
	case p.Kind == hypha.CredentialTeamKey && grove != "":
	case p.Kind != hypha.CredentialTeamKey && (grove == "" || grove == p.GroveID):
		grove = p.GroveID
	default:
		return nil
	}
	m, err := s.Health.GroveMetrics(r.Context(), grove)
	if err != nil {
		s.Logger.Warn("grove metrics", "grove", grove, "err", err)
		return nil
	}
	return m
}
