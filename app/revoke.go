package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
)

// GroveRotation is what RotateGroveTokens did.
type GroveRotation struct {
	GroveID string
	// Revoked counts the tokens revoked: every daemon, machine and named
	// token of the grove, and its previous shared token.
	Revoked int
	// Shared is the grove's new shared MCP token, the one POST /mcp/rotate
	// answers as {"token": …}. It is nil only when the grove had no shared
	// token and there is no server key to mint one: SharedErr says so.
	Shared *MintedToken
	// SharedErr says why Shared is nil (code unavailable).
	SharedErr error
}

// RotateOptions adjusts RotateGroveTokensWith.
type RotateOptions struct {
	// RequireShared refuses the rotation, before revoking anything, when
	// it could not mint a shared token even though the grove has none:
	// for a caller that expects the new shared token, such as Myco's
	// clients on POST /mcp/rotate.
	RequireShared bool
	// AcceptNewKey lets the rotation replace a shared token sealed under
	// another server key than this one: the way out when that key is lost
	// (its servers could not hand out the new token). Without it such a
	// rotation is refused.
	AcceptNewKey bool
}

// RotateGroveTokens is RotateGroveTokensWith without options.
func (c *Credentials) RotateGroveTokens(ctx context.Context, groveID string) (*GroveRotation, error) {
	return c.RotateGroveTokensWith(ctx, groveID, RotateOptions{})
}

// RotateGroveTokensWith revokes every MCP token of a grove (daemon,
// machine and named tokens and the shared token) and mints the grove a new
// shared token, in one transaction. Each daemon that names itself sees its
// fingerprint on /health become null and calls /connect for a new token;
// legacy clients see the shared token's fingerprint change and call
// /connect, which hands them the new shared token. The grove is created if
// missing, as POST /connect would.
//
// Legacy clients notice a changed fingerprint but never a missing one, so
// a rotation that cannot mint the new shared token must not revoke the old
// one. It is refused, unavailable and before anything is revoked, when
// the grove has an active shared token and this process has no server key
// (the message says how to give it one), or its key is not the one the
// token was sealed under (unless opts.AcceptNewKey). A grove without a
// shared token, on a process without a key, has its tokens revoked and
// gets none (GroveRotation.SharedErr), unless opts.RequireShared.
func (c *Credentials) RotateGroveTokensWith(ctx context.Context, groveID string, opts RotateOptions) (*GroveRotation, error) {
	if err := hypha.ValidateGroveID(groveID); err != nil {
		return nil, err
	}
	var revoked []*hypha.MCPToken
	res := &GroveRotation{GroveID: groveID}
	refuse := func(err error) error {
		if hypha.ErrorCode(err) != hypha.EUnavailable {
			return err
		}
		return hypha.Errorf(hypha.EUnavailable, "cannot rotate grove %q's MCP tokens, so none was revoked: %s", groveID, hypha.ErrorMessage(err))
	}
	err := c.retryConflicts(ctx, func(tx hypha.Queries) error {
		revoked, res.Shared, res.SharedErr = nil, nil, nil
		// Read first: a refusal must come before any revocation.
		err := c.canReplaceShared(ctx, tx, groveID, opts.AcceptNewKey)
		if err == nil && c.opts.ServerKey == nil {
			res.SharedErr = errNoSharedToMint(groveID)
			if opts.RequireShared {
				err = res.SharedErr
			}
		}
		if err != nil {
			return refuse(err)
		}
		err = listTokens(ctx, tx, hypha.MCPTokenKey(groveID, ""), func(key string, version int64, m cachedToken) error {
			if m.DaemonID == SharedDaemonID && m.RevokedAt == 0 {
				// Minted by another server since the check above?
				if err := c.canReplaceShared(ctx, tx, groveID, opts.AcceptNewKey); err != nil {
					return refuse(err)
				}
			}
			t, err := c.revokeToken(ctx, tx, key, version)
			if t != nil {
				revoked = append(revoked, t)
			}
			return err
		})
		if err != nil || c.opts.ServerKey == nil {
			return err
		}
		if _, err := tx.EnsureGrove(ctx, &hypha.Grove{ID: groveID, Name: groveID}); err != nil {
			return err
		}
		res.Shared, err = c.mintShared(ctx, tx, groveID)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, t := range revoked {
		c.cacheToken(t)
	}
	if res.Shared != nil {
		c.cacheToken(res.Shared.Record)
	}
	res.Revoked = len(revoked)
	return res, nil
}

// revokeToken marks the token at key revoked and drops its digest entry.
// It returns nil, nil when the token is revoked already, or was replaced by
// a new mint since version was read (that mint retired it).
func (c *Credentials) revokeToken(ctx context.Context, tx hypha.Queries, key string, version int64) (*hypha.MCPToken, error) {
	t, cur, err := getToken(ctx, tx, key)
	if hypha.ErrorCode(err) == hypha.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := c.now()
	if t.RevokedAt != 0 || cur != version || t.ExpiresAt <= now {
		return nil, nil
	}
	t.RevokedAt = now
	// The record stays, marked, until its expiry so listings show it.
	err = putToken(ctx, tx, key, t, &version, time.Duration(t.ExpiresAt-now)*time.Second)
	var ce *hypha.ConflictError
	if errors.As(err, &ce) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := tx.KVDelete(ctx, hypha.MCPTokenDigestPrefix+t.Digest); err != nil {
		return nil, err
	}
	return t, nil
}

// revokeTokens revokes, in tx, every live token for which match is true.
func (c *Credentials) revokeTokens(ctx context.Context, tx hypha.Queries, match func(t cachedToken) bool) ([]*hypha.MCPToken, error) {
	var revoked []*hypha.MCPToken
	err := listTokens(ctx, tx, hypha.MCPTokenPrefix, func(key string, version int64, t cachedToken) error {
		if t.RevokedAt != 0 || !match(t) {
			return nil
		}
		r, err := c.revokeToken(ctx, tx, key, version)
		if r != nil {
			revoked = append(revoked, r)
		}
		return err
	})
	return revoked, err
}

// RevokeTeamKey revokes one Team Key and, in the same transaction, every
// MCP token minted through it by /connect (MCPToken.TeamKeyID), so whoever
// held the key loses the grove access it got with it at once. The groves'
// shared tokens are not tied to a key and stay: rotate a grove's tokens to
// replace its shared token. Revoking a revoked key again revokes what is
// left. It returns the key and how many tokens it revoked.
func (c *Credentials) RevokeTeamKey(ctx context.Context, id string) (*hypha.TeamKey, int, error) {
	var k *hypha.TeamKey
	var revoked []*hypha.MCPToken
	err := c.store.InTx(ctx, func(tx hypha.Queries) error {
		if err := tx.RevokeTeamKey(ctx, id, c.now()); err != nil {
			return err
		}
		var err error
		if k, err = tx.FindTeamKeyByID(ctx, id); err != nil {
			return err
		}
		revoked, err = c.revokeTokens(ctx, tx, func(t cachedToken) bool { return t.TeamKeyID == id })
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	c.cacheTeamKey(k)
	for _, t := range revoked {
		c.cacheToken(t)
	}
	return k, len(revoked), nil
}

// revokeTokenByID revokes the token with this id, wherever it is.
func (c *Credentials) revokeTokenByID(ctx context.Context, id string) (*hypha.MCPToken, error) {
	var revoked *hypha.MCPToken
	found := false
	err := c.store.InTx(ctx, func(tx hypha.Queries) error {
		errStop := errors.New("stop")
		err := listTokens(ctx, tx, hypha.MCPTokenPrefix, func(key string, version int64, t cachedToken) error {
			if t.ID != id {
				return nil
			}
			found = true
			var err error
			if revoked, err = c.revokeToken(ctx, tx, key, version); err != nil {
				return err
			}
			return errStop
		})
		if errors.Is(err, errStop) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, hypha.Errorf(hypha.ENotFound, "no credential %q (a live Team Key or MCP token)", id)
	}
	if revoked != nil {
		c.cacheToken(revoked)
	}
	return revoked, nil
}

// RevokeCredential revokes a Team Key (id tk_…, with the MCP tokens minted
// through it: see RevokeTeamKey) or an MCP token (id mt_…) and returns its
// kind. Revoking twice is not an error.
func (c *Credentials) RevokeCredential(ctx context.Context, id string) (string, error) {
	switch {
	case strings.HasPrefix(id, "tk_"):
		_, _, err := c.RevokeTeamKey(ctx, id)
		return hypha.CredentialTeamKey, err
	case strings.HasPrefix(id, "mt_"):
		_, err := c.revokeTokenByID(ctx, id)
		return hypha.CredentialMCPToken, err
	}
	return "", hypha.Errorf(hypha.ENotFound, "no credential %q: Team Key ids start with tk_, MCP token ids with mt_", id)
}
