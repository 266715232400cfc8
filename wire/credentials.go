package wire

import "encoding/json"

// ConnectRequest is the body of POST /connect. GlobalDaemon is true, false
// or the daemon's id; the versions are checked only when they are whole
// numbers, as on the worker. A caller that names no daemon (no
// X-Daemon-ID, daemon_id, global_daemon_id or string global_daemon) is a
// Myco client and gets its grove's shared MCP token.
type ConnectRequest struct {
	GroveID             string          `json:"grove_id,omitempty"`
	MachineID           string          `json:"machine_id"`
	GlobalDaemon        json.RawMessage `json:"global_daemon,omitempty"`
	DaemonID            string          `json:"daemon_id,omitempty"`
	GlobalDaemonID      string          `json:"global_daemon_id,omitempty"`
	PackageVersion      string          `json:"package_version,omitempty"`
	SchemaVersion       MaybeInt        `json:"schema_version"`
	SyncProtocolVersion MaybeInt        `json:"sync_protocol_version"`
}

// ConnectResponse is /connect's answer: the worker's fields, then the
// seed's grove extensions.
type ConnectResponse struct {
	Status                 string            `json:"status"`
	SyncProtocolVersion    int               `json:"sync_protocol_version"`
	MinCompatClientVersion int               `json:"min_compat_client_version"`
	Config                 map[string]string `json:"config"`
	MCPToken               string            `json:"mcp_token"`
	MCPEndpoint            string            `json:"mcp_endpoint"`
	MCPServerURL           string            `json:"mcp_server_url"`
	MCPAccessToken         string            `json:"mcp_access_token"`
	// MCPTokenHash is the token's fingerprint as /health shows it: hex
	// SHA-256 of "grove:daemon:token" for a daemon's own token, the
	// worker's 8-hex hash for a grove's shared token.
	MCPTokenHash      string `json:"mcp_token_hash"`
	TeamKeyStatus     string `json:"team_key_status"`
	GroveID           string `json:"grove_id"`
	DaemonID          string `json:"daemon_id"`
	ExpiresAt         string `json:"expires_at"`
	GlobalDaemonScope bool   `json:"global_daemon_scope"`
	// SharedToken says MCPToken is the grove's shared token (a caller that
	// named no daemon), handed to every such caller until it is rotated.
	SharedToken bool `json:"shared_token"`
}

// RotateMCPResponse is POST /mcp/rotate's answer: Token is the grove's new
// shared token, as the worker answered {token}; every daemon's own token
// is revoked and it reconnects.
type RotateMCPResponse struct {
	Token   string `json:"token"`
	Rotated int    `json:"rotated"`
	GroveID string `json:"grove_id"`
	Message string `json:"message"`
}

// Credential is one credential in GET /org/credentials (never its secret),
// times in RFC 3339.
type Credential struct {
	ID        string  `json:"id"`
	Kind      string  `json:"kind"`
	Name      string  `json:"name"`
	GroveID   string  `json:"grove_id,omitempty"`
	DaemonID  string  `json:"daemon_id,omitempty"`
	TeamKeyID string  `json:"team_key_id,omitempty"`
	Status    string  `json:"status"`
	CreatedAt string  `json:"created_at"`
	ExpiresAt *string `json:"expires_at"`
	RevokedAt *string `json:"revoked_at,omitempty"`
}

// CredentialsResponse is GET /org/credentials.
type CredentialsResponse struct {
	Credentials []Credential `json:"credentials"`
	TeamKeys    int          `json:"team_keys"`
	MCPTokens   int          `json:"mcp_tokens"`
}

// CredentialActions is the "actions" object of /validate-team-key.
type CredentialActions struct {
	RenewURL          *string `json:"renew_url"`
	RenewCommand      string  `json:"renew_command"`
	SupportDocs       string  `json:"support_docs"`
	EstimatedDowntime string  `json:"estimated_downtime"`
}

// ValidateTeamKeyResponse is GET /validate-team-key, the seed's
// "Credential UX" answer (200 for an active key, 401/403 otherwise, with
// this same body).
type ValidateTeamKeyResponse struct {
	Valid         bool              `json:"valid"`
	ErrorType     string            `json:"error_type,omitempty"`
	Error         string            `json:"error,omitempty"`
	Code          string            `json:"code,omitempty"`
	Message       string            `json:"message"`
	TeamKeyStatus string            `json:"team_key_status"`
	KeyID         string            `json:"key_id,omitempty"`
	Name          string            `json:"name,omitempty"`
	ExpiresAt     *string           `json:"expires_at,omitempty"`
	Actions       CredentialActions `json:"actions"`
	GroveImpact   []string          `json:"grove_impact"`
}

// ProviderTokenRequest is the body of POST /tokens/cf-api: the API key the
// server uses for its model calls (Hypha: the embeddings provider's key).
type ProviderTokenRequest struct {
	Token     string `json:"token"`
	AccountID string `json:"account_id,omitempty"`
}

// ProviderTokenResponse answers POST (configured) and DELETE (cleared)
// /tokens/cf-api. The token itself is never returned.
type ProviderTokenResponse struct {
	Configured bool `json:"configured"`
	Cleared    bool `json:"cleared,omitempty"`
}
