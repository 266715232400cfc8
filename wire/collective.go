package wire

import "encoding/json"

// CollectiveStatus is GET /collective/status in the worker's shape. A
// server attached to no collective says connected:false with nulls.
type CollectiveStatus struct {
	Connected        bool     `json:"connected"`
	CollectiveURL    *string  `json:"collective_url"`
	ProjectID        *string  `json:"project_id"`
	LastSettingsSync *string  `json:"last_settings_sync"`
	LastHeartbeat    *string  `json:"last_heartbeat"`
	Capabilities     []string `json:"capabilities"`
	Settings         Settings `json:"settings"`
}

// CollectiveSettings is GET /collective/settings in the worker's shape.
type CollectiveSettings struct {
	CollectiveEnabled bool     `json:"collective_enabled"`
	Settings          Settings `json:"settings"`
	LastSync          *string  `json:"last_sync"`
}

// CollectiveQuery is the body of POST /collective/query: one of the
// collective tools with its arguments.
type CollectiveQuery struct {
	Tool string         `json:"tool"`
	Args map[string]any `json:"args"`
}

// CollectiveTools are the tools POST /collective/query proxies.
var CollectiveTools = []string{"collective_search", "collective_projects", "collective_project", "collective_settings"}

// Settings are the collective's setting overrides by key; none is the
// empty object (the worker's clients read it as a map, never null).
type Settings map[string]any

// MarshalJSON writes {} for no settings.
func (s Settings) MarshalJSON() ([]byte, error) {
	if len(s) == 0 {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]any(s))
}
