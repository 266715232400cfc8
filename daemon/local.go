package daemon

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hyphateam/hypha"
)

// LocalWrite applies writes to an installed grove's store directly, for
// when no daemon runs (the records wait in the outbox for the next start).
// It refuses while the grove's local schema is not usable.
func LocalWrite(ctx context.Context, home Home, grove string, writes []Write, force bool) ([]WriteResult, error) {
	st, err := OpenGroveStore(ctx, home, grove)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	r, err := st.SchemaStatus(ctx)
	if err != nil {
		return nil, err
	}
	if !r.OK() {
		return nil, hypha.Errorf(ESchemaBehind, "%s", SchemaProblem(grove, r))
	}
	return st.PutBatch(ctx, writes, force)
}

// ConnectOptions configures Connect.
type ConnectOptions struct {
	Version    string
	HTTPClient *http.Client
	// Interval is the least time between two /connect calls of the grove
	// (default 1 minute); a call inside it keeps the stored token.
	Interval time.Duration
}

// Connect calls /connect for an installed grove and stores its MCP token
// (0600), unless the grove connected to the same server less than
// Interval ago. It returns the stored token and whether it called.
func Connect(ctx context.Context, home Home, grove string, opts ConnectOptions) (*TokenState, bool, error) {
	cfg, err := LoadGroveConfig(home, grove)
	if err != nil {
		return nil, false, err
	}
	key, err := ReadTeamKey(home, grove)
	if err != nil {
		return nil, false, err
	}
	if cfg.ServerURL == "" || key == "" {
		return nil, false, hypha.Errorf(ENotConfigured, "grove %s needs a team server and a Team Key: run `hypha init --grove --grove-id %s --server URL --team-key-file F`", grove, grove)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultConnectInterval
	}
	tok, _ := ReadToken(home, grove)
	if tok != nil && tok.ServerURL == cfg.ServerURL && time.Since(tok.connectedAt()) < opts.Interval {
		return tok, false, nil
	}
	id, err := EnsureIdentity(home, "")
	if err != nil {
		return nil, false, err
	}
	schema := 0
	if st, err := OpenGroveStore(ctx, home, grove); err == nil {
		if r, err := st.SchemaStatus(ctx); err == nil {
			schema = r.Current
		}
		st.Close()
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	rm := newRemote(cfg.ServerURL, grove, id.DaemonID, opts.Version, hc)
	ans, err := rm.connect(ctx, key, id.MachineID, schema)
	if err != nil {
		return nil, true, fmt.Errorf("POST %s/connect: %w", cfg.ServerURL, err)
	}
	tok = &TokenState{Token: ans.MCPAccessToken, Hash: ans.MCPTokenHash, GroveScope: ans.GroveID, ExpiresAt: ans.ExpiresAt,
		ConnectedAt: time.Now().UTC().Format(time.RFC3339Nano), DaemonID: id.DaemonID, ServerURL: cfg.ServerURL,
		MCPServerURL: ans.MCPServerURL, TeamKeyStatus: ans.TeamKeyStatus}
	return tok, true, writeToken(home, grove, tok)
}
