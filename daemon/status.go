package daemon

import (
	"context"
	"time"

	"github.com/hyphateam/hypha/migrate"
)

// Status is what `hypha daemon status` shows: the daemon and every grove.
type Status struct {
	Daemon DaemonInfo    `json:"daemon"`
	Groves []GroveStatus `json:"groves"`
}

// DaemonInfo describes the daemon process.
type DaemonInfo struct {
	Running   bool   `json:"running"`
	DaemonID  string `json:"daemon_id"`
	MachineID string `json:"machine_id"`
	PID       int    `json:"pid,omitempty"`
	StartedAt string `json:"started_at,omitempty"`
	Version   string `json:"version,omitempty"`
	Home      string `json:"home"`
	Socket    string `json:"socket"`
}

// GroveStatus is the seed's grove coordination view of one grove.
type GroveStatus struct {
	GroveID       string           `json:"grove_id"`
	ServerURL     string           `json:"server_url"`
	MachineID     string           `json:"machine_id"`
	Connection    ConnectionStatus `json:"connection"`
	Outbox        *OutboxStats     `json:"outbox"`
	Token         TokenStatus      `json:"token"`
	TeamKeyStatus string           `json:"team_key_status"` // from /health: active, expired, revoked, invalid, missing; "" before the first poll
	LocalSchema   SchemaStatus     `json:"local_schema"`
}

// ConnectionStatus is the grove's link to its team server.
type ConnectionStatus struct {
	State               string `json:"state"`
	Reason              string `json:"reason,omitempty"`
	LastHealthAt        string `json:"last_health_at,omitempty"`
	HealthPolls         int64  `json:"health_polls"`
	ServerProtocol      int    `json:"server_protocol,omitempty"`
	ServerMinProtocol   int    `json:"server_min_protocol,omitempty"`
	ServerVersion       string `json:"server_version,omitempty"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	NextAttemptAt       string `json:"next_attempt_at,omitempty"`
}

// TokenStatus describes the grove's MCP token.
type TokenStatus struct {
	// Status is valid, stale (the server shows another fingerprint or
	// scope, or refused it: a /connect is due), expired, missing, or stored
	// (read without a running daemon, so not checked).
	Status        string         `json:"status"`
	Reason        string         `json:"reason,omitempty"`
	ExpiresAt     string         `json:"expires_at,omitempty"`
	HashPrefix    string         `json:"hash_prefix,omitempty"` // the fingerprint's first 12 hex digits (not a secret)
	Hash          string         `json:"hash,omitempty"`
	ConnectedAt   string         `json:"connected_at,omitempty"`
	NextConnectAt string         `json:"next_connect_at,omitempty"`
	Connects      int            `json:"connects"`
	Rotations     int            `json:"rotations"`
	LastRotation  *RotationEvent `json:"last_rotation,omitempty"`
}

// SchemaStatus is the grove's local schema.
type SchemaStatus struct {
	Version int    `json:"version"`
	Target  int    `json:"target"`
	State   string `json:"state"`
	Problem string `json:"problem,omitempty"`
}

func schemaStatus(grove string, r *migrate.Report, problem string) SchemaStatus {
	if r == nil {
		return SchemaStatus{State: "unknown", Problem: problem}
	}
	return SchemaStatus{Version: r.Current, Target: r.Target, State: string(r.State), Problem: SchemaProblem(grove, r)}
}

func tokenStatus(t *TokenState, stale string, checked bool) TokenStatus {
	if t == nil {
		return TokenStatus{Status: "missing", Reason: "no /connect has succeeded yet"}
	}
	ts := TokenStatus{Status: "valid", ExpiresAt: t.ExpiresAt, Hash: t.Hash, ConnectedAt: t.ConnectedAt}
	if len(t.Hash) >= 12 {
		ts.HashPrefix = t.Hash[:12]
	}
	exp, err := time.Parse(time.RFC3339, t.ExpiresAt)
	switch {
	case stale != "":
		ts.Status, ts.Reason = "stale", stale
	case err == nil && !exp.After(time.Now()):
		ts.Status, ts.Reason = "expired", "expired at "+t.ExpiresAt
	case !checked:
		ts.Status = "stored"
	}
	return ts
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// status builds the grove's status from its state and its store.
func (g *grove) status(ctx context.Context) GroveStatus {
	stats, err := g.store.Stats(ctx)
	if err != nil {
		stats = &OutboxStats{LastFailure: "cannot read the local store: " + err.Error()}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gs := GroveStatus{GroveID: g.id, ServerURL: g.cfg.ServerURL, MachineID: g.store.MachineID(), Outbox: stats,
		TeamKeyStatus: g.teamKeyStatus, LocalSchema: schemaStatus(g.id, g.schema, g.schemaProblem)}
	c := &gs.Connection
	c.LastHealthAt, c.HealthPolls = fmtTime(g.lastHealthAt), g.polls
	c.ServerProtocol, c.ServerMinProtocol, c.ServerVersion = g.serverProto, g.serverMin, g.serverVersion
	c.ConsecutiveFailures = g.failures
	if time.Until(g.nextAttempt) > 0 {
		c.NextAttemptAt = fmtTime(g.nextAttempt)
	}
	switch {
	case g.cfg.ServerURL == "":
		c.State, c.Reason = StateNotConfigured, "no team server: run `hypha init --grove --grove-id "+g.id+" --server URL --team-key-file F`"
	case g.teamKey == "":
		c.State, c.Reason = StateNotConfigured, "no Team Key: run `hypha init --grove --grove-id "+g.id+" --team-key-file F`"
	case g.schema == nil || !g.schema.OK():
		c.State, c.Reason = StateLocalSchemaBehind, g.schemaProblem
	case !g.protoPausedAt.IsZero():
		c.State, c.Reason = StateProtocolPaused, g.protoReason
	case g.authErr != nil:
		c.State, c.Reason = StateAuthFailed, g.authErr.msg
	case g.flushErr != nil:
		c.State, c.Reason = g.flushErr.state, g.flushErr.msg
	case g.healthErr != nil:
		c.State, c.Reason = g.healthErr.state, g.healthErr.msg
	case g.lastHealthAt.IsZero():
		c.State = StateConnecting
	default:
		c.State = StateConnected
	}
	gs.Token = tokenStatus(g.token, g.tokenStale, true)
	gs.Token.Connects, gs.Token.Rotations, gs.Token.LastRotation = g.connects, g.rotations, g.lastRotation
	if time.Until(g.nextConnect) > 0 && gs.Token.Status != "valid" {
		gs.Token.NextConnectAt = fmtTime(g.nextConnect)
	}
	return gs
}

// OfflineStatus reads the status of every grove from its files, for when
// no daemon runs: the outbox, the last sync, failures and the stored token.
func OfflineStatus(ctx context.Context, home Home) (*Status, error) {
	ids, err := ListGroves(home)
	if err != nil {
		return nil, err
	}
	id, err := EnsureIdentity(home, "")
	if err != nil {
		return nil, err
	}
	st := &Status{Daemon: DaemonInfo{DaemonID: id.DaemonID, MachineID: id.MachineID, Home: home.Dir, Socket: home.SocketPath()}}
	for _, g := range ids {
		st.Groves = append(st.Groves, offlineGroveStatus(ctx, home, g, id))
	}
	return st, nil
}

func offlineGroveStatus(ctx context.Context, home Home, grove string, id Identity) GroveStatus {
	gs := GroveStatus{GroveID: grove, MachineID: id.MachineID,
		Connection: ConnectionStatus{State: StateDaemonNotRunning, Reason: "no daemon runs for " + home.Dir + ": start it with `hypha daemon start`"}}
	cfg, err := LoadGroveConfig(home, grove)
	if err != nil {
		gs.Connection.Reason = err.Error()
		return gs
	}
	gs.ServerURL = cfg.ServerURL
	tok, _ := ReadToken(home, grove)
	gs.Token = tokenStatus(tok, "", false)
	if tok != nil {
		gs.TeamKeyStatus = tok.TeamKeyStatus
	}
	st, err := OpenGroveStore(ctx, home, grove)
	if err != nil {
		gs.LocalSchema = SchemaStatus{State: "unknown", Problem: err.Error()}
		return gs
	}
	defer st.Close()
	r, err := st.SchemaStatus(ctx)
	problem := ""
	if err != nil {
		problem = err.Error()
	}
	gs.LocalSchema = schemaStatus(grove, r, problem)
	if gs.Outbox, err = st.Stats(ctx); err != nil {
		gs.Outbox = &OutboxStats{LastFailure: "cannot read the local store: " + err.Error()}
	}
	return gs
}
