package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// Timeouts of the calls to the team server (those of Myco's daemon).
const (
	healthTimeout  = 5 * time.Second
	connectTimeout = 15 * time.Second
	enqueueTimeout = 30 * time.Second
	readTimeout    = 15 * time.Second
)

// RemoteError is a non-2xx answer of the team server.
type RemoteError = wire.Error

// remote calls one team server for one grove through the wire client,
// naming the grove and this daemon on every call.
type remote struct {
	c wire.Client
}

func newRemote(base, grove, daemonID, version string, hc *http.Client) *remote {
	return &remote{c: wire.Client{BaseURL: base, HTTP: hc, GroveID: grove, DaemonID: daemonID, UserAgent: "hypha-daemon/" + version}}
}

// health polls /health with the grove, the daemon id and the Team Key (so
// team_key_status describes it). A 503 (the server's schema not ready) is
// returned as a *RemoteError.
func (r *remote) health(ctx context.Context, teamKey string) (*wire.HealthResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	return r.c.WithToken(teamKey).Health(ctx)
}

// connect registers this machine in the grove and gets the daemon a fresh
// MCP token (the seed's Procedure E, step 1).
func (r *remote) connect(ctx context.Context, teamKey, machineID string, schemaVersion int) (*wire.ConnectResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	a, err := r.c.WithToken(teamKey).Connect(ctx, wire.ConnectRequest{
		GroveID: r.c.GroveID, MachineID: machineID, GlobalDaemon: []byte("true"), DaemonID: r.c.DaemonID,
		PackageVersion: strings.TrimPrefix(r.c.UserAgent, "hypha-daemon/"), SchemaVersion: wire.NewMaybeInt(int64(schemaVersion)),
		SyncProtocolVersion: wire.NewMaybeInt(hypha.SyncProtocolVersion),
	})
	if err != nil {
		return nil, err
	}
	if a.MCPAccessToken == "" {
		a.MCPAccessToken = a.MCPToken
	}
	if a.MCPAccessToken == "" {
		return nil, errors.New("POST /connect answered without an MCP token")
	}
	return a, nil
}

// enqueue sends one batch of SyncRecords.
func (r *remote) enqueue(ctx context.Context, teamKey, machineID string, records []json.RawMessage) (*wire.EnqueueResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	return r.c.WithToken(teamKey).Enqueue(ctx, wire.EnqueueRequest{
		SyncProtocolVersion: wire.NewInt(hypha.SyncProtocolVersion), MachineID: machineID, Records: records})
}

// get reads a route with the grove's MCP token and returns the answer as it
// came (any status), for the control socket's remote reads.
func (r *remote) get(ctx context.Context, token, pathAndQuery string) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	resp, err := r.c.WithToken(token).Send(ctx, http.MethodGet, pathAndQuery, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxAnswerBytes))
	return resp.StatusCode, resp.Header, data, err
}
