package wire

import "github.com/hyphateam/hypha"

// HealthResponse is GET /health. Without a credential it names no grove
// but the one the caller sent; the grove metrics and the search index
// state come only to a caller authenticated for the grove.
type HealthResponse struct {
	Status                 string `json:"status"`
	Code                   string `json:"code,omitempty"`
	Message                string `json:"message,omitempty"`
	Nodes                  int    `json:"nodes"`
	NodeCount              int    `json:"node_count"` // same value, as on the Myco worker
	SyncProtocolVersion    int    `json:"sync_protocol_version"`
	MinCompatClientVersion int    `json:"min_compat_client_version"`
	PackageVersion         string `json:"package_version"`
	SchemaVersion          *int   `json:"schema_version"`
	// MCPTokenHash is, with X-Daemon-ID, the fingerprint of that daemon's
	// token in the X-Grove-ID grove (the default grove without one); without
	// X-Daemon-ID, the worker's 8-hex hash of the grove's shared token. Null
	// when there is none, or it was revoked or expired.
	MCPTokenHash *string `json:"mcp_token_hash"`
	// GroveScope echoes the X-Grove-ID the caller sent (null without one).
	GroveScope *string `json:"grove_scope"`
	// TeamKeyStatus is the status of the presented Bearer Team Key: active,
	// expired, revoked or invalid; missing without Authorization; unknown
	// while the schema is not usable.
	TeamKeyStatus string       `json:"team_key_status"`
	Engine        string       `json:"engine"`
	Timestamp     string       `json:"timestamp"`
	Embedder      *Embedder    `json:"embedder,omitempty"`
	VectorIndex   *VectorIndex `json:"vector_index,omitempty"`
	*GroveMetrics
}

// Embedder is the "embedder" object of /health. Lexical is true for the
// built-in one, whose vectors capture shared words, not meaning.
// ProviderTokenSet says a provider key was stored with POST /tokens/cf-api.
type Embedder struct {
	Provider         string `json:"provider"`
	Model            string `json:"model"`
	Dims             int    `json:"dims"`
	Lexical          bool   `json:"lexical"`
	ProviderTokenSet bool   `json:"provider_token_set"`
}

// VectorIndex is the "vector_index" object of an authenticated /health:
// whether the in-memory indexes are built, the grove's vectors and keyword
// documents in them, and the search change sequence they caught up to.
type VectorIndex struct {
	Ready          bool  `json:"ready"`
	GroveVectors   int   `json:"grove_vectors"`
	KeywordReady   bool  `json:"keyword_ready"`
	GroveDocuments int   `json:"grove_documents"`
	Seq            int64 `json:"seq"`
}

// GroveMetrics are the seed's grove visibility metrics, the domain type.
type GroveMetrics = hypha.GroveMetrics
