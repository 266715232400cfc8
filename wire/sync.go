package wire

import "encoding/json"

// EnqueueRequest is the body of POST /enqueue and of the legacy POST /sync:
// the client's protocol version (a missing one counts as 1, as on the
// worker), its machine and up to 1,000 SyncRecords
// ({table, id, operation, data}) kept raw for per-record validation.
type EnqueueRequest struct {
	SyncProtocolVersion Int               `json:"sync_protocol_version"`
	MachineID           string            `json:"machine_id"`
	Records             []json.RawMessage `json:"records"`
}

// Rejection is one record the server refused, with why.
type Rejection struct {
	ID    string `json:"id"`
	Table string `json:"table"`
	Error string `json:"error"`
}

// EnqueueResponse is POST /enqueue's answer: the worker's {accepted,
// rejected} plus what the accepted records did.
type EnqueueResponse struct {
	Accepted  int         `json:"accepted"`
	Rejected  []Rejection `json:"rejected"`
	Written   int         `json:"written"`
	Unchanged int         `json:"unchanged"`
	Deleted   int         `json:"deleted"`
}

// SyncResponse is the legacy POST /sync answer Myco 0.12.x reads: a row
// counts as sent when synced or skipped is positive.
type SyncResponse struct {
	Synced   int         `json:"synced"`
	Skipped  int         `json:"skipped"`
	Errors   []Rejection `json:"errors"`
	Accepted int         `json:"accepted"`
}

// RecordResponse is GET /records/{type}/{id}: the row as stored, its
// declared columns and the extra fields the client sent.
type RecordResponse struct {
	Record map[string]any `json:"record"`
}

// ManifestItem is one row of a manifest page.
type ManifestItem struct {
	ID          string    `json:"id"`
	ProjectID   *string   `json:"project_id"`
	ContentHash OptString `json:"content_hash,omitzero"` // tables with a content hash only
}

// ManifestResponse is GET /manifest: one page of a table's ids for one
// machine (items are left out with summary=1).
type ManifestResponse struct {
	Table      string         `json:"table"`
	MachineID  string         `json:"machine_id"`
	ProjectID  string         `json:"project_id,omitempty"`
	Count      int64          `json:"count"`
	Items      []ManifestItem `json:"items,omitempty"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// ConfigResponse is GET /config.
type ConfigResponse struct {
	Config                 map[string]string `json:"config"`
	SyncProtocolVersion    int               `json:"sync_protocol_version"`
	MinCompatClientVersion int               `json:"min_compat_client_version"`
}

// ConfigUpdate is the body of PUT /config: keys and their values (strings,
// numbers or booleans, stored as text).
type ConfigUpdate map[string]any

// ConfigUpdateResponse is PUT /config's answer.
type ConfigUpdateResponse struct {
	Updated int `json:"updated"`
}

// SyncSummaryResponse is GET /sync-summary.
type SyncSummaryResponse struct {
	GeneratedAt         int64            `json:"generated_at"`
	GroveID             string           `json:"grove_id"`
	TotalRecords        int64            `json:"total_records"`
	Tables              map[string]int64 `json:"tables"`
	VectorCount         int64            `json:"vector_count"`
	VectorIndexHealthy  bool             `json:"vector_index_healthy"`
	VectorIndexError    *string          `json:"vector_index_error"`
	EmbeddableCount     int64            `json:"embeddable_count"`
	EmbeddableByTable   map[string]int64 `json:"embeddable_by_table"`
	PackageVersion      string           `json:"package_version"`
	SyncProtocolVersion int              `json:"sync_protocol_version"`
	SchemaVersion       int              `json:"schema_version"`
	MachineID           string           `json:"machine_id,omitempty"`
	MachineTables       map[string]int64 `json:"machine_tables,omitempty"`
}

// Member is one row of GET /members: a team_members record.
type Member struct {
	ID        string `json:"id"`
	MachineID string `json:"machine_id"`
	User      any    `json:"user"`
	Role      any    `json:"role"`
	Joined    any    `json:"joined"`
	Tags      any    `json:"tags"`
	SyncedAt  *int64 `json:"synced_at"`
}

// MembersResponse is GET /members.
type MembersResponse struct {
	Members []Member `json:"members"`
}

// RemoveMemberResponse is DELETE /members/{machine_id}.
type RemoveMemberResponse struct {
	Removed int64 `json:"removed"`
}

// RebuildRequest is the body of POST /rebuild.
type RebuildRequest struct {
	MachineID string `json:"machine_id"`
}

// RebuildResponse is POST /rebuild's answer.
type RebuildResponse struct {
	OK              bool   `json:"ok"`
	MachineID       string `json:"machine_id"`
	TruncatedTables int    `json:"truncated_tables"`
}
