package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

// healthBody is the public /health answer. It reads no storage: the schema
// state comes from the watcher's last check, the node count from
// app.Health's background refresh, Team Keys and token fingerprints from
// app.Credentials' in-memory copies.
type healthBody struct {
	Status                 string `json:"status"`
	Code                   string `json:"code,omitempty"`
	Message                string `json:"message,omitempty"`
	Nodes                  int    `json:"nodes"`
	NodeCount              int    `json:"node_count"` // same value, as on the Myco worker
	SyncProtocolVersion    int    `json:"sync_protocol_version"`
	MinCompatClientVersion int    `json:"min_compat_client_version"`
	PackageVersion         string `json:"package_version"`
	SchemaVersion          *int   `json:"schema_version"`
	// MCPTokenHash is the fingerprint of the token of the daemon named by
	// X-Daemon-ID in the grove named by X-Grove-ID (the default grove when
	// only X-Daemon-ID is sent); null when it has none, or it was revoked
	// or expired, and always null without X-Daemon-ID.
	MCPTokenHash *string `json:"mcp_token_hash"`
	// GroveScope echoes the X-Grove-ID the caller sent (null without one):
	// unauthenticated /health never names any other grove.
	GroveScope *string `json:"grove_scope"`
	// TeamKeyStatus is the status of the presented Bearer Team Key: active,
	// expired, revoked or invalid; missing without Authorization; unknown
	// while the schema is not usable.
	TeamKeyStatus string `json:"team_key_status"`
	Engine        string `json:"engine"`
	Timestamp     string `json:"timestamp"`
	// Embedder is the embedder in use; lexical is true for the built-in
	// one, whose vectors capture shared words, not meaning.
	Embedder *embedderBody `json:"embedder,omitempty"`
	// VectorIndex is this server's in-memory search indexes (vector and
	// keyword) as the grove sees them, only for a caller authenticated for
	// the grove.
	VectorIndex *vectorIndexBody `json:"vector_index,omitempty"`
	// The grove visibility metrics, only for a caller authenticated for the
	// grove (see groveMetricsFor).
	*app.GroveMetrics
}

// vectorIndexBody is the "vector_index" object of an authenticated /health:
// whether the in-memory indexes are built, the grove's vectors and keyword
// documents in them, and the search change sequence number they have
// caught up to.
type vectorIndexBody struct {
	Ready          bool  `json:"ready"`
	GroveVectors   int   `json:"grove_vectors"`
	KeywordReady   bool  `json:"keyword_ready"`
	GroveDocuments int   `json:"grove_documents"`
	Seq            int64 `json:"seq"`
}

// embedderBody is the "embedder" object of /health.
type embedderBody struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Dims     int    `json:"dims"`
	Lexical  bool   `json:"lexical"`
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
		TeamKeyStatus:          "unknown",
	}
	if e := s.Embedder; e != nil {
		body.Embedder = &embedderBody{Provider: e.Provider, Model: e.Model, Dims: e.Dims, Lexical: e.Lexical}
	}
	if s.Health != nil {
		body.Nodes = s.Health.NodeCount()
		body.NodeCount = body.Nodes
	}
	if st.Report != nil {
		v := st.Report.Current
		body.SchemaVersion = &v
	}
	grove := strings.TrimSpace(r.Header.Get(HeaderGrove))
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
		daemon := strings.TrimSpace(r.Header.Get(HeaderDaemon))
		if daemon != "" && app.ValidateDaemonID(daemon) == nil {
			g := grove
			if g == "" {
				g = hypha.DefaultGroveID
			}
			if h := s.Credentials.TokenHash(r.Context(), g, daemon); h != "" {
				body.MCPTokenHash = &h
			}
		}
		body.GroveMetrics = s.groveMetricsFor(r, grove)
		if body.GroveMetrics != nil && s.Search != nil && s.Search.Index != nil {
			vi := &vectorIndexBody{Seq: s.Search.Index.Seq()}
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
func (s *Server) groveMetricsFor(r *http.Request, grove string) *app.GroveMetrics {
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
