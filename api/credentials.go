package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

// credentialRoutes registers /connect, /validate-team-key, /org/credentials
// and /mcp/rotate.
func (s *Server) credentialRoutes(mux *http.ServeMux) {
	mux.Handle("/connect", s.methods(map[string]http.Handler{"POST": s.guard(teamKeyOnly, s.handleConnect)}))
	mux.Handle("/mcp/rotate", s.methods(map[string]http.Handler{"POST": s.guard(teamKeyOnly, s.handleRotateMCP)}))
	mux.Handle("/org/credentials", s.methods(map[string]http.Handler{"GET": s.guard(teamKeyOnly, s.handleListCredentials)}))
	// Not guarded: it explains what is wrong with the presented key instead
	// of refusing it.
	mux.Handle("/validate-team-key", s.methods(map[string]http.Handler{"GET": s.requireSchema(http.HandlerFunc(s.handleValidateTeamKey))}))
}

// connectBody is the /connect request. global_daemon is true/false or the
// daemon's id; sync_protocol_version and schema_version are checked only
// when they are numbers, as on the Myco worker.
type connectBody struct {
	GroveID             string          `json:"grove_id"`
	MachineID           string          `json:"machine_id"`
	GlobalDaemon        json.RawMessage `json:"global_daemon"`
	DaemonID            string          `json:"daemon_id"`
	GlobalDaemonID      string          `json:"global_daemon_id"`
	PackageVersion      string          `json:"package_version"`
	SchemaVersion       json.RawMessage `json:"schema_version"`
	SyncProtocolVersion json.RawMessage `json:"sync_protocol_version"`
}

// connectAnswer is the /connect answer: the Myco worker's fields, then the
// seed's grove extensions.
type connectAnswer struct {
	Status                 string            `json:"status"`
	SyncProtocolVersion    int               `json:"sync_protocol_version"`
	MinCompatClientVersion int               `json:"min_compat_client_version"`
	Config                 map[string]string `json:"config"`
	MCPToken               string            `json:"mcp_token"`
	MCPEndpoint            string            `json:"mcp_endpoint"`
	MCPServerURL           string            `json:"mcp_server_url"`
	MCPAccessToken         string            `json:"mcp_access_token"`
	MCPTokenHash           string            `json:"mcp_token_hash"`
	TeamKeyStatus          string            `json:"team_key_status"`
	GroveID                string            `json:"grove_id"`
	DaemonID               string            `json:"daemon_id"`
	ExpiresAt              string            `json:"expires_at"`
	GlobalDaemonScope      bool              `json:"global_daemon_scope"`
}

// jsonInt returns the integer a JSON value holds, or nil when it is absent,
// null or not a whole number.
func jsonInt(v json.RawMessage) *int64 {
	var n json.Number
	if len(bytes.TrimSpace(v)) == 0 || json.Unmarshal(v, &n) != nil {
		return nil
	}
	i, err := n.Int64()
	if err != nil {
		return nil
	}
	return &i
}

// connectDaemon resolves the calling daemon's id (X-Daemon-ID, daemon_id,
// global_daemon_id, or global_daemon as a string) and whether the caller
// said it is a global daemon.
func connectDaemon(r *http.Request, body *connectBody) (id string, global bool, err error) {
	var flag bool
	var named string
	if v := bytes.TrimSpace(body.GlobalDaemon); len(v) > 0 && !bytes.Equal(v, []byte("null")) {
		if json.Unmarshal(v, &flag) != nil && json.Unmarshal(v, &named) != nil {
			return "", false, hypha.Errorf(hypha.EInvalid, "global_daemon must be true, false or the daemon's id")
		}
	}
	header := strings.TrimSpace(r.Header.Get(HeaderDaemon))
	for _, c := range []string{body.DaemonID, body.GlobalDaemonID, strings.TrimSpace(named)} {
		switch {
		case c == "":
		case header != "" && c != header:
			return "", false, hypha.Errorf(hypha.EInvalid, "the body names daemon %q but %s is %q", c, HeaderDaemon, header)
		case id != "" && c != id:
			return "", false, hypha.Errorf(hypha.EInvalid, "the body names two daemons, %q and %q", id, c)
		default:
			id = c
		}
	}
	if header != "" {
		id = header
	}
	return id, id != "" || flag, nil
}

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	var body connectBody
	if err := readJSON(r, &body, false); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	grove := groveOf(r)
	if g := strings.TrimSpace(body.GroveID); g != "" {
		if h := strings.TrimSpace(r.Header.Get(HeaderGrove)); h != "" && h != g {
			writeError(w, r, s.Logger, hypha.Errorf(hypha.EInvalid, "the body names grove %q but %s is %q; send one grove", g, HeaderGrove, h))
			return
		}
		grove = g
	}
	daemon, global, err := connectDaemon(r, &body)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	p := principalOf(r)
	res, err := s.Credentials.Connect(r.Context(), app.ConnectRequest{
		GroveID: grove, MachineID: body.MachineID, DaemonID: daemon, PackageVersion: body.PackageVersion,
		SchemaVersion: jsonInt(body.SchemaVersion), SyncProtocolVersion: jsonInt(body.SyncProtocolVersion), TeamKeyID: p.ID,
	})
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	if s.Health != nil {
		// The node count on /health includes this machine from now on.
		_ = s.Health.Refresh(r.Context())
	}
	tok := res.Token
	writeJSON(w, http.StatusOK, connectAnswer{
		Status:                 "connected",
		SyncProtocolVersion:    hypha.SyncProtocolVersion,
		MinCompatClientVersion: hypha.MinSyncProtocolVersion,
		Config:                 res.Config,
		MCPToken:               tok.Token,
		MCPEndpoint:            "/mcp",
		MCPServerURL:           baseURL(r) + "/mcp",
		MCPAccessToken:         tok.Token,
		MCPTokenHash:           tok.Record.TokenHash,
		TeamKeyStatus:          hypha.StatusActive,
		GroveID:                res.GroveID,
		DaemonID:               res.DaemonID,
		ExpiresAt:              tok.ExpiresAt().Format(time.RFC3339),
		GlobalDaemonScope:      global,
	})
}

// baseURL is this server's URL as the client reached it: the Host header,
// and https when the connection is TLS or a proxy says so.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) handleRotateMCP(w http.ResponseWriter, r *http.Request) {
	grove := groveOf(r)
	rot, err := s.Credentials.RotateGroveTokens(r.Context(), grove)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	n := rot.Revoked
	// Myco's worker answered {"token": "<new token>"}; Hypha's tokens are
	// per daemon, so there is no single new token: each daemon sees its
	// mcp_token_hash become null on /health and calls /connect again.
	writeJSON(w, http.StatusOK, map[string]any{
		"rotated":  n,
		"grove_id": grove,
		"token":    nil,
		"message":  "revoked " + strconv.Itoa(n) + " MCP token(s) of grove " + grove + "; each daemon gets a new one from POST /connect",
	})
}

// credentialView is one credential in /org/credentials, times in RFC 3339.
type credentialView struct {
	ID        string  `json:"id"`
	Kind      string  `json:"kind"`
	Name      string  `json:"name"`
	GroveID   string  `json:"grove_id,omitempty"`
	DaemonID  string  `json:"daemon_id,omitempty"`
	TeamKeyID string  `json:"team_key_id,omitempty"`
	Status    string  `json:"status"`
	CreatedAt string  `json:"created_at"`
	ExpiresAt *string `json:"expires_at"`
	RevokedAt *string `json:"revoked_at,omitempty"`
}

func rfc3339(epoch int64) *string {
	if epoch == 0 {
		return nil
	}
	s := time.Unix(epoch, 0).UTC().Format(time.RFC3339)
	return &s
}

func (s *Server) handleListCredentials(w http.ResponseWriter, r *http.Request) {
	grove := strings.TrimSpace(r.URL.Query().Get("grove_id"))
	if grove != "" {
		if err := hypha.ValidateGroveID(grove); err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
	}
	list, err := s.Credentials.ListCredentials(r.Context(), grove)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	out := make([]credentialView, 0, len(list))
	keys, tokens := 0, 0
	for _, c := range list {
		if c.Kind == hypha.CredentialTeamKey {
			keys++
		} else {
			tokens++
		}
		out = append(out, credentialView{ID: c.ID, Kind: c.Kind, Name: c.Name, GroveID: c.GroveID, DaemonID: c.DaemonID,
			TeamKeyID: c.TeamKeyID, Status: c.Status, CreatedAt: time.Unix(c.CreatedAt, 0).UTC().Format(time.RFC3339), ExpiresAt: rfc3339(c.ExpiresAt),
			RevokedAt: rfc3339(c.RevokedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": out, "team_keys": keys, "mcp_tokens": tokens})
}
