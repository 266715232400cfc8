package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/hyphateam/hypha"
)

// ConnectRequest is a daemon registering with a grove (POST /connect).
type ConnectRequest struct {
	GroveID   string
	MachineID string
	// DaemonID is the global daemon's id, as the client sent it (checked
	// with ValidateClientDaemonID). "" is a client that names no daemon
	// (Myco's daemon today): it gets the grove's shared token, or a token
	// of its machine on a server without a server key.
	DaemonID            string
	PackageVersion      string
	SchemaVersion       *int64
	SyncProtocolVersion *int64
	TeamKeyID           string // the Team Key the request authenticated with
}

// Bounds of what Connect stores about a node, in bytes.
const (
	maxMachineIDLen      = 128
	maxPackageVersionLen = 128
)

// MachineDaemonPrefix marks the daemon id Connect gives a client that
// names no daemon: "machine:" and its machine id (see machineDaemonID). It
// names the client's node and its /connect rate limit, and, on a server
// without a server key, its MCP token.
const MachineDaemonPrefix = "machine:"

// ConnectResult is what /connect answers besides the protocol window.
type ConnectResult struct {
	GroveID string
	// DaemonID is the daemon the token belongs to: the caller's,
	// SharedDaemonID for the shared token, or "machine:<machine_id>" for
	// a machine's token (a caller naming no daemon, on a server without a
	// server key).
	DaemonID string
	// Token is the MCP token handed out. Token.Record.TokenHash is what
	// /health shows as mcp_token_hash for it: the hex SHA-256 fingerprint
	// of a daemon's or a machine's own token, Myco's 8-hex LegacyTokenHash
	// of the shared token.
	Token *MintedToken
	// Shared says Token is the grove's shared token (the caller named no
	// daemon): every such caller gets the same one until it is rotated or
	// expires.
	Shared bool
	Config map[string]string
}

// Connect registers a daemon's machine in a grove and hands it an MCP
// token.
//
//   - A daemon that names itself gets a fresh token of its own; its
//     previous one is retired at once (a daemon connecting again has
//     restarted, and the old process is gone).
//   - A client that names no daemon gets the grove's shared token, minted
//     the first time (and after a rotation, revocation or expiry) and the
//     same for every such client meanwhile. Its node is registered under
//     the daemon id "machine:<machine_id>".
//   - On a server without a server key, which cannot keep the shared
//     token, a client that names no daemon gets a fresh token of its
//     machine instead, under the daemon id "machine:<machine_id>", as
//     before there was a shared token: it can join and sync, but /health
//     shows it no fingerprint (that is the shared token's), so it cannot
//     notice a rotation. The first such call logs a warning.
//
// A daemon calls /connect at most once a minute per grove, but a restart
// calls it again at once and must not be left without a token: so up to
// ConnectLimit calls per ConnectInterval per (grove, daemon) succeed, and
// only calls beyond are rate_limited (with the seconds until the window
// ends). Rejected calls write nothing.
func (c *Credentials) Connect(ctx context.Context, req ConnectRequest) (*ConnectResult, error) {
	req.MachineID = strings.TrimSpace(req.MachineID)
	if req.GroveID == "" {
		req.GroveID = hypha.DefaultGroveID
	}
	if err := validateConnect(req); err != nil {
		return nil, err
	}
	if v := req.SyncProtocolVersion; v != nil {
		if *v < hypha.MinSyncProtocolVersion || *v > hypha.SyncProtocolVersion {
			return nil, CheckProtocol(int(max(min(*v, 1<<31-1), -1<<31)))
		}
	}
	res := &ConnectResult{GroveID: req.GroveID, DaemonID: req.DaemonID}
	// nodeDaemon names the caller in the node table and the rate limit.
	nodeDaemon := req.DaemonID
	if req.DaemonID == "" {
		nodeDaemon = machineDaemonID(req.MachineID)
		res.Shared = c.opts.ServerKey != nil
		res.DaemonID = nodeDaemon
		if res.Shared {
			res.DaemonID = SharedDaemonID
		}
	}
	err := c.retryConflicts(ctx, func(tx hypha.Queries) error {
		if err := c.takeConnectSlot(ctx, tx, req.GroveID, nodeDaemon); err != nil {
			return err
		}
		// The key was checked in memory; check it again here, so a key
		// revoked (with its tokens) on another server a moment ago cannot
		// mint a token the revocation missed.
		if req.TeamKeyID != "" {
			k, err := tx.FindTeamKeyByID(ctx, req.TeamKeyID)
			if hypha.ErrorCode(err) == hypha.ENotFound {
				return hypha.Errorf(hypha.EUnauthorized, "Invalid Team key")
			}
			if err != nil {
				return err
			}
			if err := c.teamKeyUsable(k); err != nil {
				return err
			}
		}
		if _, err := tx.EnsureGrove(ctx, &hypha.Grove{ID: req.GroveID, Name: req.GroveID}); err != nil {
			return err
		}
		if err := tx.UpsertNode(ctx, &hypha.Node{GroveID: req.GroveID, MachineID: req.MachineID, DaemonID: nodeDaemon,
			PackageVersion: req.PackageVersion, SchemaVersion: req.SchemaVersion, SyncProtocolVersion: req.SyncProtocolVersion,
			LastSeen: c.now()}); err != nil {
			return err
		}
		var err error
		if res.Shared {
			res.Token, err = c.sharedToken(ctx, tx, req.GroveID)
		} else {
			res.Token, err = c.mint(ctx, tx, req.GroveID, res.DaemonID, "", req.TeamKeyID, 0)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c.cacheToken(res.Token.Record)
	if req.DaemonID == "" && !res.Shared {
		c.noKeyWarning.Do(func() {
			c.opts.Logger.Warn("a client that sends no X-Daemon-ID (Myco's daemon) connected, and got an MCP token of its machine: this server has no server key to keep the grove's shared token, so such clients cannot notice a token rotation until a server key is configured (HYPHA_SERVER_KEY or server_key_file; see docs/OPERATIONS.md, Server key)",
				"grove_id", req.GroveID, "daemon_id", res.DaemonID)
		})
	}
	if res.Config, err = TeamConfig(ctx, c.store); err != nil {
		return nil, err
	}
	return res, nil
}

// validateConnect checks what a /connect would store, so every engine
// answers the same: PostgreSQL refuses text with a NUL byte or invalid
// UTF-8, which SQLite would store.
func validateConnect(req ConnectRequest) error {
	if req.MachineID == "" {
		return hypha.Errorf(hypha.EInvalid, "machine_id is required")
	}
	if err := hypha.ValidateKeyText("machine_id", req.MachineID); err != nil {
		return err
	}
	if len(req.MachineID) > maxMachineIDLen {
		return hypha.Errorf(hypha.EInvalid, "machine_id is longer than %d bytes", maxMachineIDLen)
	}
	if err := hypha.ValidateGroveID(req.GroveID); err != nil {
		return err
	}
	if req.DaemonID != "" {
		if err := ValidateClientDaemonID(req.DaemonID); err != nil {
			return err
		}
	}
	if err := hypha.ValidateKeyText("package_version", req.PackageVersion); err != nil {
		return err
	}
	if len(req.PackageVersion) > maxPackageVersionLen {
		return hypha.Errorf(hypha.EInvalid, "package_version is longer than %d bytes", maxPackageVersionLen)
	}
	return nil
}

// machineDaemonID is the daemon id of a client that names no daemon:
// "machine:" and its machine id, which must be valid UTF-8. It is
// injective, so two machines never share one: a machine id that a daemon
// id can hold as it is (no space, control character or '%') is kept
// unchanged; in any other, those characters are percent-encoded byte by
// byte (a space is %20, '%' is %25); and one that would then be longer
// than a daemon id may be is replaced by "%~" and the hex SHA-256 of the
// machine id. Only the second form holds '%' followed by a hex digit, only
// the third "%~".
func machineDaemonID(machineID string) string {
	escape := func(r rune) bool { return r == '%' || unicode.IsSpace(r) || unicode.IsControl(r) }
	if strings.IndexFunc(machineID, escape) < 0 {
		return MachineDaemonPrefix + machineID
	}
	var b strings.Builder
	b.WriteString(MachineDaemonPrefix)
	for _, r := range machineID {
		if !escape(r) {
			b.WriteRune(r)
			continue
		}
		for _, c := range []byte(string(r)) {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() <= maxDaemonIDLen {
		return b.String()
	}
	sum := sha256.Sum256([]byte(machineID))
	return MachineDaemonPrefix + "%~" + hex.EncodeToString(sum[:])
}

// retryConflicts runs fn in a transaction, again (up to three times in
// all) when it fails on a compare-and-set another process won: the next
// run reads what that process wrote.
func (c *Credentials) retryConflicts(ctx context.Context, fn func(tx hypha.Queries) error) error {
	var err error
	for range 3 {
		err = c.store.InTx(ctx, fn)
		var ce *hypha.ConflictError
		if !errors.As(err, &ce) {
			return err
		}
	}
	return err
}

// connectCount is the rate-limit entry of (grove, daemon): the calls made
// in the window that started with the first of them.
type connectCount struct {
	N     int   `json:"n"`
	Since int64 `json:"since"`
}

// takeConnectSlot counts one /connect of (grove, daemon) in the current
// window (ConnectInterval from the first call, the entry's TTL) and
// refuses the call, rate_limited, when the window already holds
// ConnectLimit calls. A concurrent call of the same daemon makes the
// count's compare-and-set fail with *hypha.ConflictError; Connect runs
// again.
func (c *Credentials) takeConnectSlot(ctx context.Context, tx hypha.Queries, groveID, daemonID string) error {
	key := hypha.ConnectLimitPrefix + groveID + ":" + daemonID
	now := c.now()
	e, err := tx.KVGet(ctx, key)
	if hypha.ErrorCode(err) == hypha.ENotFound {
		val, _ := json.Marshal(connectCount{N: 1, Since: now})
		zero := int64(0)
		_, err := tx.KVPut(ctx, key, val, hypha.KVPutOptions{TTL: c.opts.ConnectInterval, IfVersion: &zero})
		return err
	}
	if err != nil {
		return err
	}
	var cnt connectCount
	if json.Unmarshal(e.Value, &cnt) != nil || cnt.N < 1 {
		cnt.N = 1 // an entry of an older version: one call
	}
	window := int64((c.opts.ConnectInterval + time.Second - 1) / time.Second)
	left := max(e.ExpiresAt-now, 1)
	if e.ExpiresAt == 0 {
		left = window
	}
	if cnt.N >= c.opts.ConnectLimit {
		return hypha.RateLimitedf(int(left), "daemon %q called /connect for grove %q %d times in %d s; retry in %d s (at most %d calls per grove and daemon every %d s; a daemon needs one a minute)",
			daemonID, groveID, cnt.N, window, left, c.opts.ConnectLimit, window)
	}
	cnt.N++
	val, _ := json.Marshal(cnt)
	_, err = tx.KVPut(ctx, key, val, hypha.KVPutOptions{TTL: time.Duration(left) * time.Second, IfVersion: &e.Version})
	return err
}
