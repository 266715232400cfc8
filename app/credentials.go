package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/seal"
)

// Secret formats. The prefixes say what a secret is without revealing
// anything about it, so a log scanner can spot leaked ones and the
// authenticator looks each kind up only where it can be.
const (
	TeamKeyPrefix  = "hyk_" // + 43 characters of base64url (32 random bytes)
	MCPTokenPrefix = "hym_" // likewise
)

// Defaults of CredentialsOptions.
const (
	DefaultMCPTokenTTL     = 30 * 24 * time.Hour
	DefaultRefreshInterval = 2 * time.Second
	DefaultConnectInterval = time.Minute
	DefaultConnectLimit    = 10
	// missRefreshAfter bounds how often an unknown Team-Key-shaped secret
	// makes the cache reload, so a key just created by another process
	// (`hypha token create-team-key`, another instance) works at once
	// without letting wrong keys hammer storage.
	missRefreshAfter = 250 * time.Millisecond
	firstTeamKeyID   = "tk_first"
)

// CredentialsOptions configures NewCredentials.
type CredentialsOptions struct {
	// MCPTokenTTL is the lifetime of a grove MCP Access Token minted by
	// /connect, and the default of named tokens (default 30 days).
	MCPTokenTTL time.Duration
	// RefreshInterval is how often Start's loop reloads the Team Keys and
	// token fingerprints from storage (default 2 s): the delay before a
	// change made by another instance or by the CLI is seen here.
	RefreshInterval time.Duration
	// ConnectInterval is the /connect rate-limit window per (grove,
	// daemon) (default 1 minute), and ConnectLimit how many calls it
	// allows (default 10): a daemon restarting calls /connect again within
	// the minute and must get a token; only a caller far over the daemons'
	// one-a-minute rule is refused.
	ConnectInterval time.Duration
	ConnectLimit    int
	// ServerKey seals what must be handed out again: each grove's shared
	// MCP token. nil (no key configured): /connect gives a client without
	// a daemon id a token of its machine instead (see Connect), and a
	// rotation refuses to revoke a grove's shared token it cannot replace
	// (see RotateGroveTokens).
	ServerKey *seal.Key
	Logger    *slog.Logger
}

// Credentials manages Team Keys and grove MCP Access Tokens: creation,
// authentication, rotation and revocation. Secrets are random, shown once,
// stored only as SHA-256 digests and compared in constant time.
//
// Authentication and /health read in-memory copies of the Team Keys and of
// the token fingerprints. This process's own writes update them at once;
// writes made elsewhere (another `hypha serve` on the same PostgreSQL, the
// `hypha token` commands) are picked up by Start's loop within
// RefreshInterval, except that a new Team Key is found at once because an
// unknown key makes the cache reload (at most every 250 ms).
type Credentials struct {
	store hypha.Store
	opts  CredentialsOptions
	// equal compares two digests in constant time; a field so a white-box
	// test can check every comparison goes through it.
	equal func(a, b []byte) bool

	teamKeys refreshedMap[cachedTeamKey] // by key id
	hashes   refreshedMap[cachedToken]   // by grove_id + ":" + daemon_id
	refs     digestRefs                  // token digest → its (grove, daemon), from the digest index

	reloads  failureLog // the background reloads
	renewals failureLog // the renewals of shared tokens
	loop     periodic
	// noKeyWarning logs, once per process, that clients without a daemon
	// id get machine tokens for want of a server key (see Connect).
	noKeyWarning sync.Once
}

// cachedTeamKey is a Team Key with its raw digest.
type cachedTeamKey struct {
	key    *hypha.TeamKey
	digest []byte
}

// NewCredentials returns the credential service over store.
func NewCredentials(store hypha.Store, opts CredentialsOptions) *Credentials {
	if opts.MCPTokenTTL <= 0 {
		opts.MCPTokenTTL = DefaultMCPTokenTTL
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.ConnectInterval <= 0 {
		opts.ConnectInterval = DefaultConnectInterval
	}
	if opts.ConnectLimit <= 0 {
		opts.ConnectLimit = DefaultConnectLimit
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Credentials{store: store, opts: opts, equal: constantTimeEqual}
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// Start loads the caches once, then reloads them every RefreshInterval
// until Stop. A failed load is logged and retried on the next tick.
func (c *Credentials) Start(ctx context.Context) {
	c.loop.start(ctx, c.opts.RefreshInterval, c.refreshAll)
}

// Stop ends Start's loop and waits for it.
func (c *Credentials) Stop() { c.loop.stop() }

func (c *Credentials) refreshAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := c.teamKeys.refresh(func() (map[string]cachedTeamKey, error) { return c.loadTeamKeys(ctx) }, c.store.Now)
	if err == nil {
		err = c.hashes.refresh(func() (map[string]cachedToken, error) { return c.loadTokens(ctx) }, c.store.Now)
	}
	if err == nil {
		if rerr := c.renewSharedTokens(ctx); ctx.Err() == nil {
			c.renewals.note(c.opts.Logger, rerr, "cannot renew a shared MCP token before it expires; retrying", "")
		}
	}
	if ctx.Err() != nil {
		return
	}
	c.reloads.note(c.opts.Logger, err, "cannot reload credentials; serving the last copy", "credentials reloaded again")
}

// maxAge is how old a cache may get before a reader reloads it itself: only
// when Start's loop is not running (tests, the CLI) or has stalled.
func (c *Credentials) maxAge() time.Duration { return 3 * c.opts.RefreshInterval }

func (c *Credentials) now() int64 { return c.store.Now().Unix() }

// newSecret returns prefix + 32 random bytes in base64url.
func newSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// newID returns prefix + 16 random hex digits.
func newID(prefix string) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// Digest returns the hex SHA-256 of a secret: what is stored in its place.
func Digest(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(d[:])
}

// validateName checks a credential's display name.
func validateName(name string) error {
	if name == "" || len(name) > 160 {
		return hypha.Errorf(hypha.EInvalid, "a credential name must have 1 to 160 characters")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return hypha.Errorf(hypha.EInvalid, "a credential name must not contain control characters")
		}
	}
	return nil
}

// CreateTeamKey creates an active Team Key and returns its secret, which is
// not stored and cannot be shown again. expiresIn 0 means it never expires.
func (c *Credentials) CreateTeamKey(ctx context.Context, name string, expiresIn time.Duration) (string, *hypha.TeamKey, error) {
	id, err := newID("tk_")
	if err != nil {
		return "", nil, err
	}
	secret, k, err := c.createTeamKey(ctx, c.store, id, name, expiresIn)
	if err != nil {
		return "", nil, err
	}
	c.cacheTeamKey(k)
	return secret, k, nil
}

func (c *Credentials) createTeamKey(ctx context.Context, q hypha.Queries, id, name string, expiresIn time.Duration) (string, *hypha.TeamKey, error) {
	name = strings.TrimSpace(name)
	if err := validateName(name); err != nil {
		return "", nil, err
	}
	if expiresIn < 0 {
		return "", nil, hypha.Errorf(hypha.EInvalid, "a Team Key's lifetime must be positive, or 0 for no expiry")
	}
	secret, err := newSecret(TeamKeyPrefix)
	if err != nil {
		return "", nil, err
	}
	now := c.now()
	k := &hypha.TeamKey{ID: id, Name: name, Status: hypha.StatusActive, CreatedAt: now}
	if expiresIn > 0 {
		k.ExpiresAt = now + int64((expiresIn+time.Second-1)/time.Second)
	}
	if err := q.CreateTeamKey(ctx, k, Digest(secret)); err != nil {
		return "", nil, fmt.Errorf("create team key: %w", err)
	}
	return secret, k, nil
}

// cacheTeamKey records a committed key in the in-memory copy.
func (c *Credentials) cacheTeamKey(k *hypha.TeamKey) {
	d, _ := hex.DecodeString(k.Digest)
	kk := *k
	c.teamKeys.update(func(m map[string]cachedTeamKey) { m[k.ID] = cachedTeamKey{key: &kk, digest: d} })
}

// EnsureFirstTeamKey creates a Team Key when none exists at all (first run)
// and returns its secret with created = true; otherwise it creates nothing.
// Two servers starting at once on one database create one key between
// them: the first key has a fixed id, so the second insert is a conflict.
func (c *Credentials) EnsureFirstTeamKey(ctx context.Context) (secret string, key *hypha.TeamKey, created bool, err error) {
	err = c.store.InTx(ctx, func(tx hypha.Queries) error {
		keys, err := tx.ListTeamKeys(ctx)
		if err != nil || len(keys) > 0 {
			return err
		}
		secret, key, err = c.createTeamKey(ctx, tx, firstTeamKeyID, "first run", 0)
		return err
	})
	if hypha.ErrorCode(err) == hypha.EConflict {
		return "", nil, false, nil
	}
	if err != nil || key == nil {
		return "", nil, false, err
	}
	c.cacheTeamKey(key)
	return secret, key, true, nil
}

// ListTeamKeys lists every Team Key, read from storage.
func (c *Credentials) ListTeamKeys(ctx context.Context) ([]*hypha.TeamKey, error) {
	return c.store.ListTeamKeys(ctx)
}

func (c *Credentials) loadTeamKeys(ctx context.Context) (map[string]cachedTeamKey, error) {
	keys, err := c.store.ListTeamKeys(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]cachedTeamKey, len(keys))
	for _, k := range keys {
		d, _ := hex.DecodeString(k.Digest)
		m[k.ID] = cachedTeamKey{key: k, digest: d}
	}
	return m, nil
}

// matchTeamKey returns the Team Key whose digest equals d, or nil. It
// compares d with every key, each in constant time, so the time taken does
// not depend on which key (if any) matches. An unknown Team-Key-shaped
// secret reloads the cache first when it is older than missRefreshAfter.
func (c *Credentials) matchTeamKey(ctx context.Context, d []byte, keyShaped bool) (*hypha.TeamKey, error) {
	load := func() (map[string]cachedTeamKey, error) { return c.loadTeamKeys(ctx) }
	if err := c.teamKeys.ensure(c.maxAge(), load, c.store.Now); err != nil {
		return nil, fmt.Errorf("load team keys: %w", err)
	}
	k := c.scanTeamKeys(d)
	if k == nil && keyShaped {
		if age, _ := c.teamKeys.age(c.store.Now()); age >= missRefreshAfter {
			if err := c.teamKeys.refresh(load, c.store.Now); err != nil {
				return nil, fmt.Errorf("load team keys: %w", err)
			}
			k = c.scanTeamKeys(d)
		}
	}
	return k, nil
}

func (c *Credentials) scanTeamKeys(d []byte) *hypha.TeamKey {
	var found *hypha.TeamKey
	c.teamKeys.each(func(_ string, k cachedTeamKey) {
		if c.equal(d, k.digest) {
			found = k.key
		}
	})
	return found
}

// Authenticate implements the server's authenticator: it resolves a bearer
// secret to the Team Key or grove MCP token it belongs to. Team Keys come
// from memory; an MCP token costs one KV read (two the first time).
func (c *Credentials) Authenticate(ctx context.Context, secret string) (*hypha.Principal, error) {
	sum := sha256.Sum256([]byte(secret))
	k, err := c.matchTeamKey(ctx, sum[:], strings.HasPrefix(secret, TeamKeyPrefix))
	if err != nil {
		return nil, err
	}
	if k != nil {
		if err := c.teamKeyUsable(k); err != nil {
			return nil, err
		}
		return &hypha.Principal{Kind: hypha.CredentialTeamKey, ID: k.ID, Name: k.Name}, nil
	}
	if strings.HasPrefix(secret, MCPTokenPrefix) {
		return c.authenticateMCP(ctx, sum[:])
	}
	// The Myco CLI's retry logic matches this exact text.
	return nil, hypha.Errorf(hypha.EUnauthorized, "Invalid Team key")
}

// teamKeyUsable returns the error for an expired or revoked key.
func (c *Credentials) teamKeyUsable(k *hypha.TeamKey) error {
	now := c.now()
	switch k.EffectiveStatus(now) {
	case hypha.StatusRevoked:
		return hypha.Errorf(hypha.ETokenRevoked, "Team Key %s was revoked %s; ask the operator for a new one (`hypha token create-team-key`)", k.ID, Ago(now-k.RevokedAt))
	case hypha.StatusExpired:
		return hypha.Errorf(hypha.ETokenExpired, "Team Key expired %s; create a new one with `hypha token create-team-key`", Ago(now-k.ExpiresAt))
	}
	return nil
}

// TeamKeyCheck is what a presented secret is, as a Team Key.
type TeamKeyCheck struct {
	Status string         // active, expired, revoked, invalid, or missing_permissions (a grove MCP token)
	Key    *hypha.TeamKey // the key, unless Status is invalid or missing_permissions
	Err    error          // the authentication error, unless Status is active
}

// CheckTeamKey reports what secret is as a Team Key. Like Authenticate it
// reads memory for Team Keys; only a token-shaped secret is looked up in
// storage, to tell a grove MCP token (missing_permissions) from garbage.
func (c *Credentials) CheckTeamKey(ctx context.Context, secret string) (*TeamKeyCheck, error) {
	sum := sha256.Sum256([]byte(secret))
	k, err := c.matchTeamKey(ctx, sum[:], strings.HasPrefix(secret, TeamKeyPrefix))
	if err != nil {
		return nil, err
	}
	if k != nil {
		err := c.teamKeyUsable(k)
		return &TeamKeyCheck{Status: k.EffectiveStatus(c.now()), Key: k, Err: err}, nil
	}
	if strings.HasPrefix(secret, MCPTokenPrefix) {
		if _, err := c.authenticateMCP(ctx, sum[:]); err == nil {
			return &TeamKeyCheck{Status: "missing_permissions",
				Err: hypha.Errorf(hypha.EForbidden, "this is a grove MCP Access Token, not a Team Key: it only reads its grove over MCP")}, nil
		}
	}
	return &TeamKeyCheck{Status: "invalid", Err: hypha.Errorf(hypha.EUnauthorized, "Invalid Team key")}, nil
}

// TeamKeyStatus is the status /health reports for a presented secret:
// active, expired, revoked or invalid (anything that is not a Team Key).
// It reads memory only.
func (c *Credentials) TeamKeyStatus(ctx context.Context, secret string) string {
	sum := sha256.Sum256([]byte(secret))
	k, err := c.matchTeamKey(ctx, sum[:], strings.HasPrefix(secret, TeamKeyPrefix))
	if err != nil || k == nil {
		return "invalid"
	}
	return k.EffectiveStatus(c.now())
}

// GrovesUsingTeamKey lists the groves holding an unrevoked, unexpired MCP
// token minted through /connect with the given Team Key: the groves whose
// daemons stop syncing if the key stops working.
func (c *Credentials) GrovesUsingTeamKey(ctx context.Context, keyID string) []string {
	if err := c.hashes.ensure(c.maxAge(), func() (map[string]cachedToken, error) { return c.loadTokens(ctx) }, c.store.Now); err != nil {
		return []string{}
	}
	now := c.now()
	seen := map[string]bool{}
	c.hashes.each(func(_ string, t cachedToken) {
		if t.TeamKeyID == keyID && t.ExpiresAt > now {
			seen[t.GroveID] = true
		}
	})
	out := make([]string, 0, len(seen))
	for g := range seen {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// Ago renders a number of seconds in the past in plain words.
func Ago(secs int64) string {
	d := time.Duration(max(secs, 0)) * time.Second
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < time.Minute:
		return "less than a minute ago"
	case d < time.Hour:
		return plural(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	}
	return plural(int64(d/(24*time.Hour)), "day")
}
