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
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// credentialRoutes registers /connect, /validate-team-key, /org/credentials,
// /mcp/rotate and /tokens/cf-api.
func (s *Server) credentialRoutes(rt *httpjson.Router) {
	rt.Handle("POST /connect", s.guard(teamKeyOnly, s.handleConnect))
	rt.Handle("POST /mcp/rotate", s.guard(teamKeyOnly, s.handleRotateMCP))
	rt.Handle("GET /org/credentials", s.guard(teamKeyOnly, s.handleListCredentials))
	// Not guarded: it explains what is wrong with the presented key instead
	// of refusing it.
	rt.Handle("GET /validate-team-key", s.requireSchema(http.HandlerFunc(s.handleValidateTeamKey)))
	rt.Handle("POST /tokens/cf-api", s.guard(teamKeyOnly, s.handleSetProviderToken))
	rt.Handle("DELETE /tokens/cf-api", s.guard(teamKeyOnly, s.handleDeleteProviderToken))
}

// connectDaemon resolves the calling daemon's id (X-Daemon-ID, daemon_id,
// global_daemon_id, or global_daemon as a string) and whether the caller
// said it is a global daemon.
func connectDaemon(r *http.Request, body *wire.ConnectRequest) (id string, global bool, err error) {
	var flag bool
	var named string
	if v := bytes.TrimSpace(body.GlobalDaemon); len(v) > 0 && !bytes.Equal(v, []byte("null")) {
		if json.Unmarshal(v, &flag) != nil && json.Unmarshal(v, &named) != nil {
			return "", false, hypha.Errorf(hypha.EInvalid, "global_daemon must be true, false or the daemon's id")
		}
	}
	header := strings.TrimSpace(r.Header.Get(wire.HeaderDaemon))
	for _, c := range []string{body.DaemonID, body.GlobalDaemonID, strings.TrimSpace(named)} {
		switch {
		case c == "":
		case header != "" && c != header:
			return "", false, hypha.Errorf(hypha.EInvalid, "the body names daemon %q but %s is %q", c, wire.HeaderDaemon, header)
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
	var body wire.ConnectRequest
	if err := readJSON(r, &body, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	grove := groveOf(r)
	if g := strings.TrimSpace(body.GroveID); g != "" {
		if h := strings.TrimSpace(r.Header.Get(wire.HeaderGrove)); h != "" && h != g {
			s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "the body names grove %q but %s is %q; send one grove", g, wire.HeaderGrove, h))
			return
		}
		grove = g
	}
	daemon, global, err := connectDaemon(r, &body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principalOf(r)
	res, err := s.Credentials.Connect(r.Context(), app.ConnectRequest{
		GroveID: grove, MachineID: body.MachineID, DaemonID: daemon, PackageVersion: body.PackageVersion,
		SchemaVersion: body.SchemaVersion.Ptr(), SyncProtocolVersion: body.SyncProtocolVersion.Ptr(), TeamKeyID: p.ID,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Health != nil {
		// The node count on /health includes this machine from now on.
		_ = s.Health.Refresh(r.Context())
	}
	tok := res.Token
	writeJSON(w, http.StatusOK, wire.ConnectResponse{
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
		SharedToken:            res.Shared,
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

// handleRotateMCP revokes every MCP token of the grove (each daemon's own,
// the named ones and the shared one) and answers the grove's new shared
// token, as the worker answered {token}: Myco clients read it, and their
// daemons' /health hash changes so they reconnect.
func (s *Server) handleRotateMCP(w http.ResponseWriter, r *http.Request) {
	grove := groveOf(r)
	// The answer must carry the new shared token (Myco clients store what
	// they get), so a rotation that cannot mint one is refused before
	// anything is revoked.
	rot, err := s.Credentials.RotateGroveTokensWith(r.Context(), grove, app.RotateOptions{RequireShared: true})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RotateMCPResponse{
		Token: rot.Shared.Token, Rotated: rot.Revoked, GroveID: grove,
		Message: "revoked " + strconv.Itoa(rot.Revoked) + " MCP token(s) of grove " + grove + "; token is the grove's new shared token, and each daemon gets a new one of its own from POST /connect",
	})
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
			s.writeError(w, r, err)
			return
		}
	}
	list, err := s.Credentials.ListCredentials(r.Context(), grove)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]wire.Credential, 0, len(list))
	keys, tokens := 0, 0
	for _, c := range list {
		if c.Kind == hypha.CredentialTeamKey {
			keys++
		} else {
			tokens++
		}
		out = append(out, wire.Credential{ID: c.ID, Kind: c.Kind, Name: c.Name, GroveID: c.GroveID, DaemonID: c.DaemonID,
			TeamKeyID: c.TeamKeyID, Status: c.Status, CreatedAt: time.Unix(c.CreatedAt, 0).UTC().Format(time.RFC3339), ExpiresAt: rfc3339(c.ExpiresAt),
			RevokedAt: rfc3339(c.RevokedAt)})
	}
	writeJSON(w, http.StatusOK, wire.CredentialsResponse{Credentials: out, TeamKeys: keys, MCPTokens: tokens})
}

// handleSetProviderToken stores the API key the server calls its
// embeddings provider with, sealed under the server key; it is never
// answered back or logged.
func (s *Server) handleSetProviderToken(w http.ResponseWriter, r *http.Request) {
	var body wire.ProviderTokenRequest
	if err := readJSON(r, &body, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Secrets == nil {
		s.writeError(w, r, errNoSecrets)
		return
	}
	if err := s.Secrets.SetProviderToken(r.Context(), body.Token, body.AccountID); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ProviderTokenResponse{Configured: true})
}

// handleDeleteProviderToken removes the stored provider key.
func (s *Server) handleDeleteProviderToken(w http.ResponseWriter, r *http.Request) {
	if s.Secrets == nil {
		s.writeError(w, r, errNoSecrets)
		return
	}
	if err := s.Secrets.DeleteProviderToken(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ProviderTokenResponse{Cleared: true})
}

// errNoSecrets answers the provider-token routes of a server wired without
// a secret store.
var errNoSecrets = hypha.Errorf(hypha.EUnavailable, "this server keeps no secrets (no server key is configured)")
