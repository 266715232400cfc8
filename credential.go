package hypha

import "context"

// Credential kinds a request can authenticate with.
const (
	CredentialTeamKey  = "team_key"  // org-level: valid for every grove
	CredentialMCPToken = "mcp_token" // grove-scoped: valid for one grove
)

// Statuses of a credential.
const (
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Principal is who a request authenticated as.
type Principal struct {
	Kind string // CredentialTeamKey or CredentialMCPToken
	ID   string // the credential's id (never its secret)
	// GroveID is the only grove a grove-scoped credential may act in; ""
	// for a Team Key, which is valid for every grove.
	GroveID  string
	DaemonID string // the global daemon an MCP token was minted for, if any
	Name     string // the credential's display name
}

// TeamKey is an org-level credential. Only a SHA-256 digest of its secret is
// stored; several may be active at once so a rotation can overlap.
type TeamKey struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"` // active or revoked as stored; see EffectiveStatus
	// Digest is the hex SHA-256 of the secret, filled by the store's reads;
	// never serialised.
	Digest    string `json:"-"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt int64  `json:"expires_at,omitempty"` // 0: never
	RevokedAt int64  `json:"revoked_at,omitempty"`
}

// EffectiveStatus is the key's status at time now (epoch seconds).
func (k *TeamKey) EffectiveStatus(now int64) string {
	switch {
	case k.Status == StatusRevoked || k.RevokedAt != 0:
		return StatusRevoked
	case k.ExpiresAt != 0 && now >= k.ExpiresAt:
		return StatusExpired
	}
	return StatusActive
}

// TeamKeyStore keeps Team Keys. Only the hex SHA-256 digest of a key's
// secret is stored, never the secret.
type TeamKeyStore interface {
	// CreateTeamKey stores k with the digest of its secret. k.ID is set by
	// the caller; k.CreatedAt defaults to the store's clock and k.Status to
	// active. An id or digest that exists already is a conflict.
	CreateTeamKey(ctx context.Context, k *TeamKey, digest string) error
	// FindTeamKeyByDigest returns the key whose secret has this digest,
	// whatever its status; a miss is not_found.
	FindTeamKeyByDigest(ctx context.Context, digest string) (*TeamKey, error)
	// FindTeamKeyByID returns one key, whatever its status; a miss is
	// not_found.
	FindTeamKeyByID(ctx context.Context, id string) (*TeamKey, error)
	// ListTeamKeys lists every key, oldest first, with their digests.
	ListTeamKeys(ctx context.Context) ([]*TeamKey, error)
	// RevokeTeamKey marks a key revoked at epoch second at. Revoking a
	// revoked key keeps its first revocation time; an unknown id is
	// not_found.
	RevokeTeamKey(ctx context.Context, id string, at int64) error
}

// MCPToken is a grove MCP Access Token as stored in the KV store under
// MCPTokenKey(grove, daemon): one per (grove, global daemon), one per name
// for clients without a daemon, and each grove's shared token (daemon id
// "shared") for clients that name no daemon. Only Digest, the hex SHA-256
// of the token, is kept here; TokenHash is the rotation fingerprint
// /health shows.
type MCPToken struct {
	ID        string `json:"id"`
	Digest    string `json:"digest"`     // hex SHA-256 of the token
	TokenHash string `json:"token_hash"` // hex SHA-256 of "grove_id:global_daemon_id:token"; Myco's 8-hex hash for the shared token
	Name      string `json:"name"`
	GroveID   string `json:"grove_id"`
	DaemonID  string `json:"daemon_id"`
	TeamKeyID string `json:"team_key_id,omitempty"` // the Team Key that minted it through /connect
	CreatedAt int64  `json:"created_at"`
	ExpiresAt int64  `json:"expires_at"`
	RevokedAt int64  `json:"revoked_at,omitempty"`
}

// EffectiveStatus is the token's status at time now (epoch seconds).
func (t *MCPToken) EffectiveStatus(now int64) string {
	switch {
	case t.RevokedAt != 0:
		return StatusRevoked
	case t.ExpiresAt != 0 && now >= t.ExpiresAt:
		return StatusExpired
	}
	return StatusActive
}

// KV key prefixes of the credential state.
const (
	MCPTokenPrefix       = "mcp_token:"        // + grove_id ":" daemon_id → MCPToken
	MCPTokenDigestPrefix = "mcp_token_digest:" // + digest → {grove_id, daemon_id}
	ConnectLimitPrefix   = "connect_rl:"       // + grove_id ":" daemon_id → the /connect rate-limit counter
	// SealedPrefix starts the key of every value sealed under the server
	// key, so one listing tells whether a database holds any (and a new
	// key must not be made for it).
	SealedPrefix = "sealed:"
	// SharedTokenSealedPrefix + grove_id → the plaintext of the grove's
	// shared MCP token, sealed.
	SharedTokenSealedPrefix = SealedPrefix + "mcp_shared_token:"
	// ProviderTokenKey → the provider API token of POST /tokens/cf-api
	// with its account id, sealed.
	ProviderTokenKey = SealedPrefix + "provider_token"
)

// MCPTokenKey is the KV key of the token of one daemon in one grove. Grove
// ids never contain ':', so the key splits unambiguously.
func MCPTokenKey(groveID, daemonID string) string {
	return MCPTokenPrefix + groveID + ":" + daemonID
}
