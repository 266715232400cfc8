package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
)

// Headers of the team server's grove extensions.
const (
	headerGrove    = "X-Grove-ID"
	headerDaemon   = "X-Daemon-ID"
	headerProtocol = "X-Sync-Protocol-Version"
)

// Timeouts of the calls to the team server (those of Myco's daemon).
const (
	healthTimeout  = 5 * time.Second
	connectTimeout = 15 * time.Second
	enqueueTimeout = 30 * time.Second
	readTimeout    = 15 * time.Second
)

// remote calls one team server for one grove.
type remote struct {
	base     string
	grove    string
	daemonID string
	version  string
	http     *http.Client
}

// RemoteError is a non-200 answer of the team server.
type RemoteError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // from Retry-After; 0 when absent
	// ServerProtocol and ServerMinProtocol come with a 409 protocol error.
	ServerProtocol, ServerMinProtocol int
}

func (e *RemoteError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, msg)
	}
	return fmt.Sprintf("%d: %s", e.Status, msg)
}

// protocolMismatch reports whether the answer is the server refusing this
// daemon's protocol version (409 protocol_version_unsupported or
// protocol_too_old_for_embed).
func (e *RemoteError) protocolMismatch() bool {
	return e.Status == http.StatusConflict && strings.HasPrefix(e.Code, "protocol_")
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// do sends one request and decodes a 200 answer into out; any other answer
// is a *RemoteError, a failure to reach the server a plain error.
func (r *remote) do(ctx context.Context, method, path, bearer string, timeout time.Duration, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set(headerGrove, r.grove)
	req.Header.Set(headerDaemon, r.daemonID)
	req.Header.Set("User-Agent", "hypha-daemon/"+r.version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, r.base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, r.base+path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return remoteError(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the expected JSON: %v", method, r.base+path, err)
		}
	}
	return nil
}

func remoteError(resp *http.Response, data []byte) *RemoteError {
	e := &RemoteError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var body struct {
		Error                  string `json:"error"`
		Code                   string `json:"code"`
		Message                string `json:"message"`
		SyncProtocolVersion    int    `json:"sync_protocol_version"`
		MinCompatClientVersion int    `json:"min_compat_client_version"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message = body.Code, body.Message
		if e.Message == "" {
			e.Message = body.Error
		}
		if e.Code == "" && strings.HasPrefix(body.Error, "protocol_") {
			e.Code = body.Error // the Myco worker's typed 409 has no code
		}
		e.ServerProtocol, e.ServerMinProtocol = body.SyncProtocolVersion, body.MinCompatClientVersion
	} else {
		e.Message = truncateText(strings.TrimSpace(string(data)), 200)
	}
	return e
}

// healthInfo is what the daemon reads from /health.
type healthInfo struct {
	Status                 string  `json:"status"`
	Code                   string  `json:"code"`
	Message                string  `json:"message"`
	SyncProtocolVersion    int     `json:"sync_protocol_version"`
	MinCompatClientVersion int     `json:"min_compat_client_version"`
	PackageVersion         string  `json:"package_version"`
	MCPTokenHash           *string `json:"mcp_token_hash"`
	GroveScope             *string `json:"grove_scope"`
	TeamKeyStatus          string  `json:"team_key_status"`
}

// health polls /health with the grove, the daemon id and the Team Key (so
// team_key_status describes it). A 503 (the server's schema not ready) is
// returned as a *RemoteError.
func (r *remote) health(ctx context.Context, teamKey string) (*healthInfo, error) {
	var h healthInfo
	if err := r.do(ctx, http.MethodGet, "/health", teamKey, healthTimeout, nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// connectAnswer is what the daemon keeps of /connect.
type connectAnswer struct {
	Status         string `json:"status"`
	MCPAccessToken string `json:"mcp_access_token"`
	MCPToken       string `json:"mcp_token"`
	MCPTokenHash   string `json:"mcp_token_hash"`
	MCPServerURL   string `json:"mcp_server_url"`
	TeamKeyStatus  string `json:"team_key_status"`
	GroveID        string `json:"grove_id"`
	DaemonID       string `json:"daemon_id"`
	ExpiresAt      string `json:"expires_at"`
}

// connect registers this machine in the grove and gets the daemon a fresh
// MCP token (the seed's Procedure E, step 1).
func (r *remote) connect(ctx context.Context, teamKey, machineID string, schemaVersion int) (*connectAnswer, error) {
	body := map[string]any{
		"grove_id": r.grove, "machine_id": machineID, "global_daemon": true, "daemon_id": r.daemonID,
		"package_version": r.version, "schema_version": schemaVersion, "sync_protocol_version": hypha.SyncProtocolVersion,
	}
	var a connectAnswer
	if err := r.do(ctx, http.MethodPost, "/connect", teamKey, connectTimeout, body, &a); err != nil {
		return nil, err
	}
	if a.MCPAccessToken == "" {
		a.MCPAccessToken = a.MCPToken
	}
	if a.MCPAccessToken == "" {
		return nil, errors.New("POST /connect answered without an MCP token")
	}
	return &a, nil
}

// enqueueAnswer is /enqueue's answer.
type enqueueAnswer struct {
	Accepted int `json:"accepted"`
	Rejected []struct {
		ID    string `json:"id"`
		Table string `json:"table"`
		Error string `json:"error"`
	} `json:"rejected"`
}

// enqueue sends one batch of SyncRecords.
func (r *remote) enqueue(ctx context.Context, teamKey, machineID string, records []json.RawMessage) (*enqueueAnswer, error) {
	body := map[string]any{"sync_protocol_version": hypha.SyncProtocolVersion, "machine_id": machineID, "records": records}
	var a enqueueAnswer
	if err := r.do(ctx, http.MethodPost, "/enqueue", teamKey, enqueueTimeout, body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// get reads a route with the grove's MCP token and returns the answer as it
// came (any status), for the control socket's remote reads.
func (r *remote) get(ctx context.Context, token, pathAndQuery string) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+pathAndQuery, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set(headerGrove, r.grove)
	req.Header.Set(headerDaemon, r.daemonID)
	req.Header.Set("User-Agent", "hypha-daemon/"+r.version)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("GET %s: %w", r.base+pathAndQuery, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, resp.Header, data, err
}
