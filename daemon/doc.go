// Package daemon is the machine side of team sync: the global daemon that
// serves every grove installed on a machine.
//
// A grove lives in $HYPHA_HOME/groves/<grove_id>/ (HYPHA_HOME defaults to
// ~/.hypha): its settings (grove.toml), the Team Key (team_key, 0600), the
// grove's MCP token from its last /connect (mcp_token.json, 0600) and a local
// SQLite store (local.db) holding the synced tables and the outbox. A local
// write updates its table and the outbox in one transaction (writes arriving
// together share one, each in its own savepoint: group commit); the daemon's
// flusher sends the outbox to the team server's /enqueue in batches of at most
// 100 and deletes a row only after a 200 that accepted it. A rotation watcher
// polls /health with X-Grove-ID and X-Daemon-ID and calls /connect when the
// grove's token fingerprint or scope changed, at most once a minute.
//
// One daemon runs per machine (per HYPHA_HOME), holding a lock file, and is
// controlled over HTTP/JSON on a Unix socket with 0600 permissions
// ($HYPHA_HOME/daemon/daemon.sock); Client speaks to it. The local stores are
// migrated with the migrate engine from their own embedded steps, tracked in
// their own table; the daemon does not sync a grove whose local schema is
// behind and says why.
package daemon
