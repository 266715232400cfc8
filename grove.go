package hypha

import "regexp"

// DefaultGroveID is the grove a request acts in when it names none, such as
// a Myco daemon that predates groves.
const DefaultGroveID = "default"

// GroveIDPattern is the accepted shape of a grove id (e.g. user_primary).
var GroveIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Grove is a scope of knowledge owned by one member: the unit of isolation.
type Grove struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	IsDefault bool   `json:"is_default"`
	CreatedAt int64  `json:"created_at"`
}

// ValidateGroveID reports whether id can name a grove.
func ValidateGroveID(id string) error {
	if !GroveIDPattern.MatchString(id) {
		return Errorf(EInvalid, "invalid grove id %q: expected 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit", truncate(id, 80))
	}
	return nil
}

// Project is a Myco project (proj_<32 hex>); it belongs to exactly one grove.
type Project struct {
	ID         string `json:"id"`
	GroveID    string `json:"grove_id"`
	Name       string `json:"name,omitempty"`
	CreatedAt  int64  `json:"created_at"`
	LastSyncAt int64  `json:"last_sync_at,omitempty"`
}

// Node is a machine that syncs a grove through its daemon.
type Node struct {
	GroveID             string `json:"grove_id"`
	MachineID           string `json:"machine_id"`
	DaemonID            string `json:"daemon_id,omitempty"`
	PackageVersion      string `json:"package_version,omitempty"`
	SchemaVersion       *int64 `json:"schema_version"`
	SyncProtocolVersion *int64 `json:"sync_protocol_version"`
	LastSeen            int64  `json:"last_seen"`
	RegisteredAt        int64  `json:"registered_at"`
}

// GroveMetrics are the seed's grove visibility metrics (Procedure A),
// computed from the grove's data. They are shown only to a caller
// authenticated for the grove.
type GroveMetrics struct {
	GroveID           string           `json:"grove_id"`
	SyncStatus        string           `json:"sync_status"` // active, idle, degraded or never_synced
	LastSyncAt        *string          `json:"last_sync_at"`
	PendingOperations int64            `json:"pending_operations"`
	GroveProjects     []string         `json:"grove_projects"`
	SyncMetrics       GroveSyncMetrics `json:"sync_metrics"`
}

// GroveSyncMetrics is the sync_metrics object of a grove.
type GroveSyncMetrics struct {
	// OutboxQueueDepth is the server's queue of work for the grove
	// (embedding jobs waiting or running); a daemon's own outbox is in
	// `hypha daemon status`.
	OutboxQueueDepth    int64                    `json:"outbox_queue_depth"`
	LastSuccessfulSync  *string                  `json:"last_successful_sync"`
	SyncFailuresLast24h int64                    `json:"sync_failures_last_24h"`
	GroveDataVolumeMB   float64                  `json:"grove_data_volume_mb"`
	ProjectSyncStatus   map[string]ProjectStatus `json:"project_sync_status"`
	DeadLetters         int64                    `json:"dead_letters"`
}

// ProjectStatus is one project's line of project_sync_status.
type ProjectStatus struct {
	Status   string  `json:"status"` // active (synced in the last 24 h) or idle
	LastSync *string `json:"last_sync"`
}
