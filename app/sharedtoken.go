package app

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/seal"
)

// SharedDaemonID is the daemon id of each grove's shared MCP token: the one
// token Myco's worker had per team, which /connect hands to every client
// that names no daemon (no X-Daemon-ID), and POST /mcp/rotate returns.
// ValidateDaemonID refuses it, so no daemon can claim it.
const SharedDaemonID = "shared"

// sharedTokenName is the display name of a shared token.
const sharedTokenName = "shared token (clients without a daemon id)"

// LegacyTokenHash is Myco's fingerprint of an MCP token, which its clients
// compare with /health's mcp_token_hash to notice a new token: Java's
// String.hashCode over the token's UTF-16 code units (h = 31·h + c in
// 32-bit two's complement), its absolute value, in lower-case hex padded
// with zeros to 8 digits and cut to 8.
//
// The absolute value of -2^31 is the one case to get right. Myco's client
// takes it with JavaScript's Math.abs, on a double, giving 2^31, which is
// "80000000"; Java's Math.abs would leave -2^31, but Integer.toHexString
// prints that same bit pattern as "80000000" too. Taking the magnitude as
// an unsigned 32-bit number gives that answer.
func LegacyTokenHash(token string) string {
	var h int32
	for _, c := range utf16.Encode([]rune(token)) {
		h = 31*h + int32(c) // wraps as Java's int does
	}
	u := uint32(h)
	if h < 0 {
		u = -u // two's complement negation: |-2^31| = 2^31 as unsigned
	}
	return fmt.Sprintf("%08x", u)[:8]
}

// sharedSealedKey is the KV key of a grove's sealed shared-token
// plaintext; it is also the purpose the plaintext is sealed for, so a
// sealed value copied to another grove's key does not open.
func sharedSealedKey(groveID string) string { return hypha.SharedTokenSealedPrefix + groveID }

// giveKey says how to give a process the server key.
const giveKey = "give it the server key the servers use: HYPHA_SERVER_KEY=<key> in the environment or --server-key-file <file> (server_key_file); see docs/OPERATIONS.md, Server key"

func errNoServerKey(groveID string) error {
	return hypha.Errorf(hypha.EUnavailable, "this server has no server key, so it cannot hand out or rotate grove %q's shared MCP token (the token of clients that send no X-Daemon-ID): the operator must set server_key_file or HYPHA_SERVER_KEY (see docs/OPERATIONS.md, Server key)", groveID)
}

// errNoSharedToMint is why a rotation without a server key mints no
// shared token for a grove that has none.
func errNoSharedToMint(groveID string) error {
	return hypha.Errorf(hypha.EUnavailable, "grove %q has no shared MCP token (the token of clients that send no X-Daemon-ID), and without the server key none can be minted: %s", groveID, giveKey)
}

// canReplaceShared returns nil when a rotation may replace the grove's
// shared token: it has none that is active, or this process's server key
// is the one it was sealed under (or acceptNewKey). Otherwise the token's
// holders would be left without a shared token they can get: no key
// mints none, and another key's token the servers cannot open.
func (c *Credentials) canReplaceShared(ctx context.Context, tx hypha.Queries, groveID string, acceptNewKey bool) error {
	rec, _, err := getToken(ctx, tx, hypha.MCPTokenKey(groveID, SharedDaemonID))
	if hypha.ErrorCode(err) == hypha.ENotFound || (err == nil && rec.EffectiveStatus(c.now()) != hypha.StatusActive) {
		return nil
	}
	if err != nil {
		return err
	}
	key := c.opts.ServerKey
	if key == nil {
		return hypha.Errorf(hypha.EUnavailable, "grove %q has a shared MCP token (clients that send no X-Daemon-ID, such as Myco's daemon, hold it), and without the server key no new one can be minted, so they would be left without one; %s", groveID, giveKey)
	}
	if acceptNewKey {
		return nil
	}
	e, err := tx.KVGet(ctx, sharedSealedKey(groveID))
	if hypha.ErrorCode(err) == hypha.ENotFound {
		return nil // no server can hand it out: replacing it strands no one
	}
	if err != nil {
		return err
	}
	if id := seal.KeyIDOf(string(e.Value)); id != "" && id != key.ID() {
		return hypha.Errorf(hypha.EUnavailable, "grove %q's shared MCP token is sealed under server key %s, but this key is %s, and the servers holding key %s could not hand out a new token sealed under it; %s. If key %s is lost, replace the token with this key: `hypha token rotate-mcp --grove %s --accept-new-key`",
			groveID, id, key.ID(), id, giveKey, id, groveID)
	}
	return nil
}

// SharedTokenHash is what /health shows as mcp_token_hash to a caller that
// names no daemon: LegacyTokenHash of the grove's shared token, or "" when
// it has none, or it was revoked or expired. It reads memory only, as
// TokenHash does.
func (c *Credentials) SharedTokenHash(ctx context.Context, groveID string) string {
	return c.TokenHash(ctx, groveID, SharedDaemonID)
}

// sharedToken returns the grove's shared token in tx: the current one
// while it is active and its sealed plaintext opens, else a new one. The
// grove must exist.
func (c *Credentials) sharedToken(ctx context.Context, tx hypha.Queries, groveID string) (*MintedToken, error) {
	key := c.opts.ServerKey
	if key == nil {
		return nil, errNoServerKey(groveID)
	}
	rec, _, err := getToken(ctx, tx, hypha.MCPTokenKey(groveID, SharedDaemonID))
	if hypha.ErrorCode(err) == hypha.ENotFound || (err == nil && rec.EffectiveStatus(c.now()) != hypha.StatusActive) {
		return c.mintShared(ctx, tx, groveID)
	}
	if err != nil {
		return nil, err
	}
	e, err := tx.KVGet(ctx, sharedSealedKey(groveID))
	if hypha.ErrorCode(err) == hypha.ENotFound {
		// The record outlived its sealed copy (their expiries are a
		// second apart at most): the token cannot be handed out again.
		return c.mintShared(ctx, tx, groveID)
	}
	if err != nil {
		return nil, err
	}
	plain, err := key.Open(sharedSealedKey(groveID), string(e.Value))
	if err != nil {
		return nil, errCannotOpen(groveID, err)
	}
	if Digest(string(plain)) != rec.Digest {
		// A sealed copy that is not the recorded token's (only a
		// hand-edited database gets here): replace both.
		return c.mintShared(ctx, tx, groveID)
	}
	return &MintedToken{Token: string(plain), Record: rec}, nil
}

// errCannotOpen explains a shared token sealed under another server key
// (a restored backup, a server started with another key) or corrupted.
func errCannotOpen(groveID string, err error) error {
	why := "it is corrupt"
	if errors.Is(err, seal.ErrWrongKey) {
		why = hypha.ErrorMessage(err)
	}
	return hypha.WrapError(hypha.EUnavailable, fmt.Sprintf("cannot open grove %q's shared MCP token: %s; start the server with the server key it was sealed under, or, if that key is lost, replace the token with this server's key: `hypha token rotate-mcp --grove %s --accept-new-key`", groveID, why, groveID), err)
}

// mintShared mints a new shared token for the grove in tx, retiring the
// previous one, and stores its plaintext sealed under the server key with
// the same expiry. The record is written by compare-and-set, so of two
// servers minting at once one fails with *hypha.ConflictError and, run
// again, hands out the other's token.
func (c *Credentials) mintShared(ctx context.Context, tx hypha.Queries, groveID string) (*MintedToken, error) {
	key := c.opts.ServerKey
	if key == nil {
		return nil, errNoServerKey(groveID)
	}
	m, err := c.writeToken(ctx, tx, tokenSpec{grove: groveID, daemon: SharedDaemonID, name: sharedTokenName, ttl: c.opts.MCPTokenTTL,
		hash: LegacyTokenHash, cas: true})
	if err != nil {
		return nil, err
	}
	sealed, err := key.Seal(sharedSealedKey(groveID), []byte(m.Token))
	if err != nil {
		return nil, err
	}
	meta := fmt.Appendf(nil, `{"key_id":%q,"token_id":%q}`, key.ID(), m.Record.ID)
	ttl := time.Duration(m.Record.ExpiresAt-m.Record.CreatedAt) * time.Second
	if _, err := tx.KVPut(ctx, sharedSealedKey(groveID), []byte(sealed), hypha.KVPutOptions{Metadata: meta, TTL: ttl}); err != nil {
		return nil, fmt.Errorf("store sealed shared token: %w", err)
	}
	return m, nil
}

// renewSharedTokens replaces every grove's shared token that has less
// than a tenth of its lifetime left. Clients without a daemon id notice a
// new token only when /health shows a different fingerprint, never when it
// shows none: renewed before it expires, the token moves them on to the
// next; let expire, it would leave them without one until they restart. It
// runs in Start's loop; of several servers, one renews each token.
func (c *Credentials) renewSharedTokens(ctx context.Context) error {
	if c.opts.ServerKey == nil {
		return nil
	}
	now := c.now()
	window := int64(c.opts.MCPTokenTTL/time.Second) / 10
	due := map[string]string{} // grove → token id
	c.hashes.each(func(_ string, t cachedToken) {
		if t.DaemonID == SharedDaemonID && t.RevokedAt == 0 && t.ExpiresAt > now && t.ExpiresAt-now < window {
			due[t.GroveID] = t.ID
		}
	})
	var errs []error
	for grove, id := range due {
		var renewed *MintedToken
		err := c.store.InTx(ctx, func(tx hypha.Queries) error {
			rec, _, err := getToken(ctx, tx, hypha.MCPTokenKey(grove, SharedDaemonID))
			if err != nil || rec.ID != id {
				return err // renewed or rotated elsewhere meanwhile
			}
			// Never replace a token sealed under another key: the
			// servers holding that key renew it.
			if err := c.canReplaceShared(ctx, tx, grove, false); err != nil {
				return err
			}
			renewed, err = c.mintShared(ctx, tx, grove)
			return err
		})
		var ce *hypha.ConflictError
		switch {
		case errors.As(err, &ce), hypha.ErrorCode(err) == hypha.ENotFound:
			// Another server renewed it, or it is gone.
		case err != nil:
			errs = append(errs, fmt.Errorf("renew grove %q's shared MCP token: %w", grove, err))
		case renewed != nil:
			c.cacheToken(renewed.Record)
		}
	}
	return errors.Join(errs...)
}
