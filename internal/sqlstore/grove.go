package sqlstore

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hyphateam/hypha"
)

// CreateGrove inserts a grove; an existing id is a conflict.
func (q *queries) CreateGrove(ctx context.Context, g *hypha.Grove) error {
	if g.CreatedAt == 0 {
		g.CreatedAt = q.now()
	}
	res, err := q.exec(ctx, `INSERT INTO groves (id, name, is_default, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		g.ID, g.Name, boolInt(g.IsDefault), g.CreatedAt)
	if err != nil {
		return q.db.wrap(err, "create grove")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hypha.Errorf(hypha.EConflict, "grove %q already exists", g.ID)
	}
	return nil
}

// EnsureGrove returns the grove, creating it if absent.
func (q *queries) EnsureGrove(ctx context.Context, g *hypha.Grove) (*hypha.Grove, error) {
	if g.CreatedAt == 0 {
		g.CreatedAt = q.now()
	}
	if _, err := q.exec(ctx, `INSERT INTO groves (id, name, is_default, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		g.ID, g.Name, boolInt(g.IsDefault), g.CreatedAt); err != nil {
		return nil, q.db.wrap(err, "ensure grove")
	}
	return q.FindGroveByID(ctx, g.ID)
}

// FindGroveByID returns one grove.
func (q *queries) FindGroveByID(ctx context.Context, id string) (*hypha.Grove, error) {
	g := &hypha.Grove{}
	var def int64
	err := q.queryRow(ctx, `SELECT id, name, is_default, created_at FROM groves WHERE id = ?`, id).Scan(&g.ID, &g.Name, &def, &g.CreatedAt)
	if err == sql.ErrNoRows {
		return nil, hypha.Errorf(hypha.ENotFound, "no grove %q", id)
	}
	if err != nil {
		return nil, q.db.wrap(err, "find grove")
	}
	g.IsDefault = def != 0
	return g, nil
}

// ListGroves lists groves by id.
func (q *queries) ListGroves(ctx context.Context) ([]*hypha.Grove, error) {
	rows, err := q.query(ctx, `SELECT id, name, is_default, created_at FROM groves ORDER BY id`)
	if err != nil {
		return nil, q.db.wrap(err, "list groves")
	}
	defer rows.Close()
	var out []*hypha.Grove
	for rows.Next() {
		g := &hypha.Grove{}
		var def int64
		if err := rows.Scan(&g.ID, &g.Name, &def, &g.CreatedAt); err != nil {
			return nil, q.db.wrap(err, "list groves")
		}
		g.IsDefault = def != 0
		out = append(out, g)
	}
	return out, q.db.wrap(rows.Err(), "list groves")
}

// ClaimProjects registers unknown projects in groveID and returns owners.
func (q *queries) ClaimProjects(ctx context.Context, groveID string, ids []string) (map[string]string, error) {
	ps := make([]*hypha.Project, len(ids))
	for i, id := range ids {
		ps[i] = &hypha.Project{ID: id}
	}
	return q.RegisterProjects(ctx, groveID, ps)
}

// RegisterProjects registers unknown projects in groveID, with their
// names, and returns the owners of all of them.
func (q *queries) RegisterProjects(ctx context.Context, groveID string, projects []*hypha.Project) (map[string]string, error) {
	owners := make(map[string]string, len(projects))
	names := make(map[string]string, len(projects))
	ids := make([]string, 0, len(projects))
	for _, p := range projects {
		if _, seen := names[p.ID]; !seen || names[p.ID] == "" {
			names[p.ID] = p.Name
		}
		ids = append(ids, p.ID)
	}
	// Sorted, so concurrent claims of shared ids lock them in the same order.
	uniq := dedupe(ids)
	sort.Strings(uniq)
	now := q.now()
	err := chunks(len(uniq), 500, func(lo, hi int) error {
		args := make([]any, 0, 4*(hi-lo))
		rows := make([]string, 0, hi-lo)
		for _, id := range uniq[lo:hi] {
			rows = append(rows, "(?, ?, ?, ?)")
			args = append(args, id, groveID, nullString(names[id]), now)
		}
		if _, err := q.exec(ctx, `INSERT INTO projects (id, grove_id, name, created_at) VALUES `+strings.Join(rows, ", ")+` ON CONFLICT (id) DO NOTHING`, args...); err != nil {
			return q.db.wrap(err, "claim projects")
		}
		sel := make([]any, 0, hi-lo)
		for _, id := range uniq[lo:hi] {
			sel = append(sel, id)
		}
		r, err := q.query(ctx, `SELECT id, grove_id FROM projects WHERE id IN `+placeholders(hi-lo), sel...)
		if err != nil {
			return q.db.wrap(err, "claim projects")
		}
		defer r.Close()
		for r.Next() {
			var id, g string
			if err := r.Scan(&id, &g); err != nil {
				return q.db.wrap(err, "claim projects")
			}
			owners[id] = g
		}
		return q.db.wrap(r.Err(), "claim projects")
	})
	return owners, err
}

// ListProjects lists the projects of a grove.
func (q *queries) ListProjects(ctx context.Context, groveID string) ([]*hypha.Project, error) {
	rows, err := q.query(ctx, `SELECT id, grove_id, name, created_at, last_sync_at FROM projects WHERE grove_id = ? ORDER BY id`, groveID)
	if err != nil {
		return nil, q.db.wrap(err, "list projects")
	}
	defer rows.Close()
	var out []*hypha.Project
	for rows.Next() {
		p := &hypha.Project{}
		var name sql.NullString
		var last sql.NullInt64
		if err := rows.Scan(&p.ID, &p.GroveID, &name, &p.CreatedAt, &last); err != nil {
			return nil, q.db.wrap(err, "list projects")
		}
		p.Name, p.LastSyncAt = name.String, last.Int64
		out = append(out, p)
	}
	return out, q.db.wrap(rows.Err(), "list projects")
}

// UpsertNode registers or refreshes a node.
func (q *queries) UpsertNode(ctx context.Context, n *hypha.Node) error {
	if n.LastSeen == 0 {
		n.LastSeen = q.now()
	}
	if n.RegisteredAt == 0 {
		n.RegisteredAt = n.LastSeen
	}
	_, err := q.exec(ctx, `INSERT INTO nodes (grove_id, machine_id, daemon_id, package_version, schema_version, sync_protocol_version, last_seen, registered_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (grove_id, machine_id) DO UPDATE SET daemon_id = excluded.daemon_id, package_version = excluded.package_version,
			schema_version = excluded.schema_version, sync_protocol_version = excluded.sync_protocol_version, last_seen = excluded.last_seen`,
		n.GroveID, n.MachineID, nullString(n.DaemonID), nullString(n.PackageVersion), ptrInt(n.SchemaVersion), ptrInt(n.SyncProtocolVersion), n.LastSeen, n.RegisteredAt)
	return q.db.wrap(err, "upsert node")
}

// TouchNode moves last_seen of an existing node.
func (q *queries) TouchNode(ctx context.Context, groveID, machineID string, at int64) error {
	_, err := q.exec(ctx, `UPDATE nodes SET last_seen = ? WHERE grove_id = ? AND machine_id = ? AND last_seen < ?`, at, groveID, machineID, at)
	return q.db.wrap(err, "touch node")
}

// ListNodes lists the nodes of a grove.
func (q *queries) ListNodes(ctx context.Context, groveID string) ([]*hypha.Node, error) {
	rows, err := q.query(ctx, `SELECT grove_id, machine_id, daemon_id, package_version, schema_version, sync_protocol_version, last_seen, registered_at
		FROM nodes WHERE grove_id = ? ORDER BY machine_id`, groveID)
	if err != nil {
		return nil, q.db.wrap(err, "list nodes")
	}
	defer rows.Close()
	var out []*hypha.Node
	for rows.Next() {
		n := &hypha.Node{}
		var daemon, pkg sql.NullString
		var schema, proto sql.NullInt64
		if err := rows.Scan(&n.GroveID, &n.MachineID, &daemon, &pkg, &schema, &proto, &n.LastSeen, &n.RegisteredAt); err != nil {
			return nil, q.db.wrap(err, "list nodes")
		}
		n.DaemonID, n.PackageVersion = daemon.String, pkg.String
		if schema.Valid {
			n.SchemaVersion = &schema.Int64
		}
		if proto.Valid {
			n.SyncProtocolVersion = &proto.Int64
		}
		out = append(out, n)
	}
	return out, q.db.wrap(rows.Err(), "list nodes")
}

// CountNodes counts distinct machines.
func (q *queries) CountNodes(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(DISTINCT machine_id) FROM nodes`).Scan(&n)
	return n, q.db.wrap(err, "count nodes")
}

// TeamConfig returns every team_config entry.
func (q *queries) TeamConfig(ctx context.Context) (map[string]string, error) {
	rows, err := q.query(ctx, `SELECT key, value FROM team_config ORDER BY key`)
	if err != nil {
		return nil, q.db.wrap(err, "read team config")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, q.db.wrap(err, "read team config")
		}
		out[k] = v
	}
	return out, q.db.wrap(rows.Err(), "read team config")
}

// PutTeamConfig upserts team_config entries.
func (q *queries) PutTeamConfig(ctx context.Context, values map[string]string) error {
	// In key order, as every writer locks rows: two transactions writing
	// the same keys in map order deadlocked on PostgreSQL (two daemons'
	// first /connect at once, each naming the team).
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if _, err := q.exec(ctx, `INSERT INTO team_config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, values[k]); err != nil {
			return q.db.wrap(err, "write team config")
		}
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func ptrInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
