package daemon

import (
	"context"
	"database/sql"
)

// DBForTest exposes the store's connection to tests (triggers, tampering).
func (s *Store) DBForTest() *sql.DB { return s.db }

// SetStoreOpenerForTest makes d open the grove stores with open; call it
// before Start.
func SetStoreOpenerForTest(d *Daemon, open func(ctx context.Context, path, machineID string) (*Store, error)) {
	d.openStore = open
}

// GroveStoresForTest returns the store of every grove d runs, by grove.
func GroveStoresForTest(d *Daemon) map[string]*Store {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]*Store, len(d.groves))
	for id, g := range d.groves {
		out[id] = g.store
	}
	return out
}
