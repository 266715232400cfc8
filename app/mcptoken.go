package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hyphateam/hypha"
)

// NamedDaemonPrefix marks the daemon id of a named token: a token for an MCP
// client without a daemon, from `hypha token create-mcp --name N`.
const NamedDaemonPrefix = "named:"

// MintedToken is a freshly minted grove MCP Access Token: the only moment
// its plaintext exists.
type MintedToken struct {
	Token  string // the secret, shown once
	Record *hypha.MCPToken
}

// ExpiresAt returns the token's expiry as a time.
func (m *MintedToken) ExpiresAt() time.Time { return time.Unix(m.Record.ExpiresAt, 0).UTC() }

// cachedToken is what the in-memory fingerprint table keeps of a token:
// its KV metadata (everything but the digest).
type cachedToken struct {
	ID        string `json:"id"`
	TokenHash string `json:"token_hash"`
	Name      string `json:"name"`
	GroveID   string `json:"grove_id"`
	DaemonID  string `json:"daemon_id"`
	TeamKeyID string `json:"team_key_id,omitempty"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt int64  `json:"expires_at"`
	RevokedAt int64  `json:"revoked_at,omitempty"`
}

func tokenMeta(t *hypha.MCPToken) cachedToken {
	return cachedToken{ID: t.ID, TokenHash: t.TokenHash, Name: t.Name, GroveID: t.GroveID, DaemonID: t.DaemonID,
		TeamKeyID: t.TeamKeyID, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

// digestRefs remembers the digest index entries of tokens seen valid, at
// most maxDigestRefs (then it starts over).
type digestRefs struct {
	mu sync.Mutex
	m  map[string]digestRef
}

const maxDigestRefs = 10_000

func (r *digestRefs) get(digest string) (digestRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref, ok := r.m[digest]
	return ref, ok
}

func (r *digestRefs) forget(digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, digest)
}

func (r *digestRefs) put(digest string, ref digestRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || len(r.m) >= maxDigestRefs {
		r.m = map[string]digestRef{}
	}
	r.m[digest] = ref
}

// digestRef is the value of a digest index entry.
type digestRef struct {
	GroveID  string `json:"grove_id"`
	DaemonID string `json:"daemon_id"`
}

// TokenHash is the rotation fingerprint of a token: hex SHA-256 of
// "grove_id:global_daemon_id:token", as the seed's daemon computes it.
func TokenHash(groveID, daemonID, token string) string {
	d := sha256.Sum256([]byte(groveID + ":" + daemonID + ":" + token))
	return hex.EncodeToString(d[:])
}

// maxDaemonIDLen bounds a daemon id, in bytes.
const maxDaemonIDLen = 160

// ValidateDaemonID checks a daemon id: 1 to 160 bytes of UTF-8, no spaces
// or control characters, and not SharedDaemonID, which names each grove's
// shared token. It accepts the ids Hypha derives itself ("machine:…",
// "named:…"); an id a client sent is checked with ValidateClientDaemonID.
func ValidateDaemonID(id string) error {
	if id == "" || len(id) > maxDaemonIDLen {
		return hypha.Errorf(hypha.EInvalid, "a daemon id must have 1 to %d bytes", maxDaemonIDLen)
	}
	if err := hypha.ValidateKeyText("daemon id", id); err != nil {
		return err
	}
	if id == SharedDaemonID {
		return hypha.Errorf(hypha.EInvalid, "the daemon id %q is reserved for the grove's shared MCP token: give the daemon another id", id)
	}
	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return hypha.Errorf(hypha.EInvalid, "a daemon id must not contain spaces or control characters")
		}
	}
	return nil
}

// ValidateClientDaemonID checks a daemon id that came from a client
// (X-Daemon-ID, /connect's body): ValidateDaemonID, and none of the ids
// Hypha gives its own tokens, in any letter case: "shared" (the grove's
// shared token), "machine:…" (a client that names no daemon, by machine)
// and "named:…" (`hypha token create-mcp --name`). A client claiming one
// would take that token's place: /connect retires the previous token of
// the daemon id it mints for.
func ValidateClientDaemonID(id string) error {
	if err := ValidateDaemonID(id); err != nil {
		return err
	}
	if strings.EqualFold(id, SharedDaemonID) {
		return hypha.Errorf(hypha.EInvalid, "the daemon id %q is reserved for the grove's shared MCP token: give the daemon another id", id)
	}
	for _, p := range []string{MachineDaemonPrefix, NamedDaemonPrefix} {
		if len(id) >= len(p) && strings.EqualFold(id[:len(p)], p) {
			return hypha.Errorf(hypha.EInvalid, "the daemon id %q is reserved: ids starting with %q name the tokens Hypha mints itself (%s); give the daemon another id",
				truncateID(id), p, reservedWhat[p])
		}
	}
	return nil
}

// reservedWhat says what each reserved daemon id prefix names.
var reservedWhat = map[string]string{
	MachineDaemonPrefix: "the token of a client that sends no daemon id, by its machine",
	NamedDaemonPrefix:   "named tokens, from `hypha token create-mcp --name`",
}

func hashKey(groveID, daemonID string) string { return groveID + ":" + daemonID }

// MintMCPToken mints a fresh token for one daemon in one grove and retires
// that daemon's previous token. ttl 0 means the configured default. The
// grove must exist.
func (c *Credentials) MintMCPToken(ctx context.Context, groveID, daemonID, name string, ttl time.Duration) (*MintedToken, error) {
	var minted *MintedToken
	err := c.store.InTx(ctx, func(tx hypha.Queries) error {
		if _, err := tx.FindGroveByID(ctx, groveID); err != nil {
			return err
		}
		var err error
		minted, err = c.mint(ctx, tx, groveID, daemonID, name, "", ttl)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.cacheToken(minted.Record)
	return minted, nil
}

// CreateNamedMCPToken mints a token for an MCP client without a daemon,
// stored under the daemon id "named:<name>"; creating the same name again
// replaces the previous token. The grove is created if missing.
func (c *Credentials) CreateNamedMCPToken(ctx context.Context, groveID, name string, ttl time.Duration) (*MintedToken, error) {
	if err := hypha.ValidateGroveID(groveID); err != nil {
		return nil, err
	}
	var minted *MintedToken
	err := c.store.InTx(ctx, func(tx hypha.Queries) error {
		if _, err := tx.EnsureGrove(ctx, &hypha.Grove{ID: groveID, Name: groveID}); err != nil {
			return err
		}
		var err error
		minted, err = c.mint(ctx, tx, groveID, NamedDaemonPrefix+name, name, "", ttl)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.cacheToken(minted.Record)
	return minted, nil
}

// mint writes a new token for (grove, daemon) in tx, retiring the previous
// one: its digest index entry goes, so it no longer authenticates.
func (c *Credentials) mint(ctx context.Context, tx hypha.Queries, groveID, daemonID, name, teamKeyID string, ttl time.Duration) (*MintedToken, error) {
	if err := hypha.ValidateGroveID(groveID); err != nil {
		return nil, err
	}
	if err := ValidateDaemonID(daemonID); err != nil {
		return nil, err
	}
	if name = strings.TrimSpace(name); name == "" {
		name = daemonID
	}
	if err := validateName(name); err != nil {
		return nil, err
	}
	if ttl < 0 {
		return nil, hypha.Errorf(hypha.EInvalid, "a token's lifetime must be positive")
	}
	return c.writeToken(ctx, tx, tokenSpec{grove: groveID, daemon: daemonID, name: name, teamKeyID: teamKeyID, ttl: ttl,
		hash: func(token string) string { return TokenHash(groveID, daemonID, token) }})
}

// tokenSpec is what writeToken mints.
type tokenSpec struct {
	grove, daemon, name, teamKeyID string
	ttl                            time.Duration // 0: the configured default
	hash                           func(token string) string
	// cas makes the write a compare-and-set against the record read
	// first, so two processes minting at once cannot both think they won
	// (the loser gets *hypha.ConflictError): for a token handed to several
	// callers.
	cas bool
}

// writeToken writes a fresh token as spec says, retiring the previous
// token of (grove, daemon): its digest index entry goes, so it no longer
// authenticates. It validates nothing.
func (c *Credentials) writeToken(ctx context.Context, tx hypha.Queries, spec tokenSpec) (*MintedToken, error) {
	ttl := spec.ttl
	if ttl == 0 {
		ttl = c.opts.MCPTokenTTL
	}
	ttl = (ttl + time.Second - 1).Truncate(time.Second)
	key := hypha.MCPTokenKey(spec.grove, spec.daemon)
	var ifVersion *int64
	if spec.cas {
		ifVersion = new(int64)
	}
	if prev, version, err := getToken(ctx, tx, key); err == nil {
		if err := tx.KVDelete(ctx, hypha.MCPTokenDigestPrefix+prev.Digest); err != nil {
			return nil, err
		}
		if ifVersion != nil {
			*ifVersion = version
		}
	} else if hypha.ErrorCode(err) != hypha.ENotFound {
		return nil, err
	}
	token, err := newSecret(MCPTokenPrefix)
	if err != nil {
		return nil, err
	}
	id, err := newID("mt_")
	if err != nil {
		return nil, err
	}
	now := c.now()
	rec := &hypha.MCPToken{ID: id, Digest: Digest(token), TokenHash: spec.hash(token), Name: spec.name,
		GroveID: spec.grove, DaemonID: spec.daemon, TeamKeyID: spec.teamKeyID, CreatedAt: now, ExpiresAt: now + int64(ttl/time.Second)}
	if err := putToken(ctx, tx, key, rec, ifVersion, ttl); err != nil {
		return nil, err
	}
	ref, _ := json.Marshal(digestRef{GroveID: spec.grove, DaemonID: spec.daemon})
	if _, err := tx.KVPut(ctx, hypha.MCPTokenDigestPrefix+rec.Digest, ref, hypha.KVPutOptions{TTL: ttl}); err != nil {
		return nil, fmt.Errorf("store token digest: %w", err)
	}
	return &MintedToken{Token: token, Record: rec}, nil
}

// getToken reads and decodes the token stored at key, with its KV version.
func getToken(ctx context.Context, q hypha.Queries, key string) (*hypha.MCPToken, int64, error) {
	e, err := q.KVGet(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	t := &hypha.MCPToken{}
	if err := json.Unmarshal(e.Value, t); err != nil {
		return nil, 0, fmt.Errorf("decode token %s: %w", key, err)
	}
	return t, e.Version, nil
}

// putToken writes a token record with its metadata (everything but the
// digest, so listings never carry it).
func putToken(ctx context.Context, q hypha.Queries, key string, t *hypha.MCPToken, ifVersion *int64, ttl time.Duration) error {
	val, err := json.Marshal(t)
	if err != nil {
		return err
	}
	meta, err := json.Marshal(tokenMeta(t))
	if err != nil {
		return err
	}
	if _, err := q.KVPut(ctx, key, val, hypha.KVPutOptions{Metadata: meta, TTL: ttl, IfVersion: ifVersion}); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	return nil
}

// cacheToken records a committed token in the fingerprint table; a revoked
// one leaves it.
func (c *Credentials) cacheToken(t *hypha.MCPToken) {
	meta := tokenMeta(t)
	c.hashes.update(func(m map[string]cachedToken) {
		if t.RevokedAt != 0 {
			delete(m, hashKey(t.GroveID, t.DaemonID))
			return
		}
		m[hashKey(t.GroveID, t.DaemonID)] = meta
	})
}

// authenticateMCP resolves a token digest through the digest index to
// the token record, whose own digest and status decide. The index entry of
// a digest names the (grove, daemon) the token was minted for and never
// changes, so the entries of tokens found valid are remembered (refs) and a
// known token costs one read, of its record, every time: a rotation or
// revocation made anywhere takes effect at the next request. A remembered
// token that is no longer valid is forgotten and looked up as an unknown
// one, so the answer is the same whether or not this process saw it.
func (c *Credentials) authenticateMCP(ctx context.Context, d []byte) (*hypha.Principal, error) {
	digest := hex.EncodeToString(d)
	if ref, ok := c.refs.get(digest); ok {
		p, err := c.checkMCPToken(ctx, d, ref)
		if err == nil || hypha.ErrorCode(err) == hypha.EUnavailable {
			return p, err
		}
		c.refs.forget(digest)
	}
	idx, err := c.store.KVGet(ctx, hypha.MCPTokenDigestPrefix+digest)
	if hypha.ErrorCode(err) == hypha.ENotFound {
		return nil, errInvalidMCPToken()
	}
	if err != nil {
		return nil, err
	}
	var ref digestRef
	if err := json.Unmarshal(idx.Value, &ref); err != nil {
		return nil, fmt.Errorf("decode token digest entry: %w", err)
	}
	p, err := c.checkMCPToken(ctx, d, ref)
	if err == nil {
		// Only digests of valid tokens are remembered: unknown secrets
		// cannot fill the map.
		c.refs.put(digest, ref)
	}
	return p, err
}

func errInvalidMCPToken() error {
	return hypha.Errorf(hypha.EUnauthorized, "Invalid MCP access token: it is unknown, was rotated or revoked, or has expired; call POST /connect (or ask the operator for a new named token) and retry")
}

// checkMCPToken reads the token record ref names and checks that it holds
// digest d and is active.
func (c *Credentials) checkMCPToken(ctx context.Context, d []byte, ref digestRef) (*hypha.Principal, error) {
	t, _, err := getToken(ctx, c.store, hypha.MCPTokenKey(ref.GroveID, ref.DaemonID))
	if hypha.ErrorCode(err) == hypha.ENotFound {
		return nil, errInvalidMCPToken()
	}
	if err != nil {
		return nil, err
	}
	// The index may be stale (two mints racing); the record's own digest
	// decides, compared in constant time.
	stored, _ := hex.DecodeString(t.Digest)
	if !c.equal(d, stored) {
		return nil, errInvalidMCPToken()
	}
	switch t.EffectiveStatus(c.now()) {
	case hypha.StatusRevoked:
		return nil, hypha.Errorf(hypha.ETokenRevoked, "this MCP access token was revoked; call POST /connect for a new one")
	case hypha.StatusExpired:
		return nil, hypha.Errorf(hypha.ETokenExpired, "this MCP access token expired %s; call POST /connect for a new one", Ago(c.now()-t.ExpiresAt))
	}
	return &hypha.Principal{Kind: hypha.CredentialMCPToken, ID: t.ID, GroveID: t.GroveID, DaemonID: t.DaemonID, Name: t.Name}, nil
}

// TokenHash returns the current fingerprint of the token of one daemon in
// one grove, or "" when it has none, or it was revoked or expired. It reads
// memory only, except for the very first call when Start has not run.
func (c *Credentials) TokenHash(ctx context.Context, groveID, daemonID string) string {
	if err := c.hashes.ensure(c.maxAge(), func() (map[string]cachedToken, error) { return c.loadTokens(ctx) }, c.store.Now); err != nil {
		return ""
	}
	t, ok := c.hashes.get(hashKey(groveID, daemonID))
	if !ok || t.RevokedAt != 0 || t.ExpiresAt <= c.now() {
		return ""
	}
	return t.TokenHash
}

// listTokens calls fn with the metadata of every live token record whose
// key starts with prefix.
func listTokens(ctx context.Context, q hypha.Queries, prefix string, fn func(key string, version int64, t cachedToken) error) error {
	opts := hypha.KVListOptions{Prefix: prefix}
	for {
		page, err := q.KVList(ctx, opts)
		if err != nil {
			return err
		}
		for _, k := range page.Keys {
			var t cachedToken
			if err := json.Unmarshal(k.Metadata, &t); err != nil {
				continue // not a token record
			}
			if err := fn(k.Name, k.Version, t); err != nil {
				return err
			}
		}
		if page.Cursor == "" {
			return nil
		}
		opts.Cursor = page.Cursor
	}
}

func (c *Credentials) loadTokens(ctx context.Context) (map[string]cachedToken, error) {
	m := map[string]cachedToken{}
	err := listTokens(ctx, c.store, hypha.MCPTokenPrefix, func(_ string, _ int64, t cachedToken) error {
		if t.RevokedAt == 0 {
			m[hashKey(t.GroveID, t.DaemonID)] = t
		}
		return nil
	})
	return m, err
}

// CredentialInfo describes a credential without its secret or digest.
type CredentialInfo struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"` // team_key or mcp_token
	Name      string `json:"name"`
	GroveID   string `json:"grove_id,omitempty"`
	DaemonID  string `json:"daemon_id,omitempty"`
	TeamKeyID string `json:"team_key_id,omitempty"`
	Status    string `json:"status"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt int64  `json:"expires_at,omitempty"`
	RevokedAt int64  `json:"revoked_at,omitempty"`
}

// ListCredentials lists the Team Keys, then the MCP tokens by grove and
// daemon, read from storage. groveID, when set, keeps the tokens of that
// grove only. Expired tokens are gone from the KV store and not listed.
func (c *Credentials) ListCredentials(ctx context.Context, groveID string) ([]CredentialInfo, error) {
	keys, err := c.store.ListTeamKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	out := make([]CredentialInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, CredentialInfo{ID: k.ID, Kind: hypha.CredentialTeamKey, Name: k.Name, Status: k.EffectiveStatus(now),
			CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt})
	}
	prefix := hypha.MCPTokenPrefix
	if groveID != "" {
		prefix = hypha.MCPTokenKey(groveID, "")
	}
	err = listTokens(ctx, c.store, prefix, func(_ string, _ int64, t cachedToken) error {
		rec := hypha.MCPToken{RevokedAt: t.RevokedAt, ExpiresAt: t.ExpiresAt}
		out = append(out, CredentialInfo{ID: t.ID, Kind: hypha.CredentialMCPToken, Name: t.Name, GroveID: t.GroveID, DaemonID: t.DaemonID,
			TeamKeyID: t.TeamKeyID, Status: rec.EffectiveStatus(now), CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt})
		return nil
	})
	return out, err
}
