package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"

	"github.com/hyphateam/hypha"
)

// ConnectRequest is a daemon registering with a grove (POST /connect).
type ConnectRequest struct {
	GroveID   string
	MachineID string
	// DaemonID is the global daemon's id; "" derives "machine:<machine_id>"
	// (a Myco daemon that predates groves).
	DaemonID            string
	PackageVersion      string
	SchemaVersion       *int64
	SyncProtocolVersion *int64
	TeamKeyID           string // the Team Key the request authenticated with
}

// ConnectResult is what /connect answers besides the protocol window.
type ConnectResult struct {
	GroveID  string
	DaemonID string
	Token    *MintedToken
	Config   map[string]string
}

// Connect registers a daemon's machine in a grove and mints the daemon a
// fresh MCP token, retiring its previous one. One daemon may connect to
// one grove at most once per ConnectInterval; a second call inside it is
// rate_limited with the seconds left and changes nothing. Rejected calls
// write nothing.
func (c *Credentials) Connect(ctx context.Context, req ConnectRequest) (*ConnectResult, error) {
	req.MachineID = strings.TrimSpace(req.MachineID)
	if req.MachineID == "" {
		return nil, hypha.Errorf(hypha.EInvalid, "machine_id is required")
	}
	if len(req.MachineID) > 128 {
		return nil, hypha.Errorf(hypha.EInvalid, "machine_id is longer than 128 characters")
	}
	if req.GroveID == "" {
		req.GroveID = hypha.DefaultGroveID
	}
	if err := hypha.ValidateGroveID(req.GroveID); err != nil {
		return nil, err
	}
	if req.DaemonID == "" {
		// A daemon that names itself not (Myco's today) is known by its
		// machine; spaces would make an invalid daemon id.
		req.DaemonID = "machine:" + strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				return '_'
			}
			return r
		}, req.MachineID)
	}
	if err := ValidateDaemonID(req.DaemonID); err != nil {
		return nil, err
	}
	if v := req.SyncProtocolVersion; v != nil {
		if *v < hypha.MinSyncProtocolVersion || *v > hypha.SyncProtocolVersion {
			return nil, CheckProtocol(int(max(min(*v, 1<<31-1), -1<<31)))
		}
	}
	res := &ConnectResult{GroveID: req.GroveID, DaemonID: req.DaemonID}
	err := c.store.InTx(ctx, func(tx hypha.Queries) error {
		if err := c.takeConnectSlot(ctx, tx, req.GroveID, req.DaemonID); err != nil {
			return err
		}
		if _, err := tx.EnsureGrove(ctx, &hypha.Grove{ID: req.GroveID, Name: req.GroveID}); err != nil {
			return err
		}
		if err := tx.UpsertNode(ctx, &hypha.Node{GroveID: req.GroveID, MachineID: req.MachineID, DaemonID: req.DaemonID,
			PackageVersion: req.PackageVersion, SchemaVersion: req.SchemaVersion, SyncProtocolVersion: req.SyncProtocolVersion,
			LastSeen: c.now()}); err != nil {
			return err
		}
		var err error
		res.Token, err = c.mint(ctx, tx, req.GroveID, req.DaemonID, "", req.TeamKeyID, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.cacheToken(res.Token.Record)
	if res.Config, err = TeamConfig(ctx, c.store); err != nil {
		return nil, err
	}
	return res, nil
}

// takeConnectSlot creates the rate-limit entry of (grove, daemon), which
// lives ConnectInterval; an existing one is rate_limited.
func (c *Credentials) takeConnectSlot(ctx context.Context, tx hypha.Queries, groveID, daemonID string) error {
	key := hypha.ConnectLimitPrefix + groveID + ":" + daemonID
	val, _ := json.Marshal(map[string]int64{"at": c.now()})
	zero := int64(0)
	_, err := tx.KVPut(ctx, key, val, hypha.KVPutOptions{TTL: c.opts.ConnectInterval, IfVersion: &zero})
	var ce *hypha.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	wait := int64(c.opts.ConnectInterval / time.Second)
	if e, gerr := tx.KVGet(ctx, key); gerr == nil && e.ExpiresAt > 0 {
		wait = e.ExpiresAt - c.now()
	}
	return hypha.RateLimitedf(int(wait), "daemon %q connected to grove %q less than %d s ago; retry in %d s (one /connect per grove and daemon every %d s)",
		daemonID, groveID, int64(c.opts.ConnectInterval/time.Second), max(wait, 1), int64(c.opts.ConnectInterval/time.Second))
}
