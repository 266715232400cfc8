package daemon

import "database/sql"

// DBForTest exposes the store's connection to tests (triggers, tampering).
func (s *Store) DBForTest() *sql.DB { return s.db }
