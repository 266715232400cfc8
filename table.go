package hypha

import "regexp"

// ColumnType is the portable type of a column. Every engine stores each type
// the same way: TEXT, 64-bit INTEGER, double-precision REAL, BLOB bytes.
type ColumnType string

// Column types.
const (
	TypeText    ColumnType = "text"
	TypeInteger ColumnType = "integer"
	TypeReal    ColumnType = "real"
	TypeBlob    ColumnType = "blob"
)

// Column is one declared column of a synced table. Only declared columns are
// ever written as columns; anything else a client sends goes to the row's
// bounded JSON "extra" column. Column names therefore never come from input.
type Column struct {
	Name    string
	Type    ColumnType
	Default any // nil, int64, float64 or string: what an omitted field stores
}

// Scope says how a synced table's rows are owned.
type Scope string

// Scopes of synced tables.
const (
	ScopeProject Scope = "project" // every row belongs to a project (proj_<32 hex>)
	ScopeMachine Scope = "machine" // rows belong to a machine (team_members)
)

// Table declares one synced table: the tables Myco daemons push, mirrored per
// grove and keyed by (grove_id, machine_id, id).
type Table struct {
	Name        string
	Scope       Scope
	Columns     []Column // declared data columns, excluding the common ones
	TextColumn  string   // column embedded for semantic search; "" if none
	ContentHash bool     // has a content_hash column used for de-duplication
	InManifest  bool     // listed by /manifest (every table with an id)
	RecordType  bool     // readable through /records/:type/:id
	MinProtocol int      // lowest sync protocol version that carries the table
	// IntegerID marks the tables whose id is an INTEGER upstream (reference
	// §4.2: prompt_batches, digest_extracts, knowledge_release_state). Ids
	// are stored as text everywhere, but /manifest pages these tables in
	// upstream's order: integer ids as numbers (ManifestQuery).
	IntegerID bool
	// Shareable tables have a sharing_policy column (SharingPrivate when
	// NULL): a record may be shared with granted groves or made public.
	Shareable bool
}

// Sharing policies of a record (column sharing_policy of Shareable tables).
const (
	ColSharingPolicy  = "sharing_policy"
	SharingPrivate    = "private"     // its grove only (also NULL and any other value)
	SharingCrossGrove = "cross_grove" // also groves granted access to its grove
	SharingPublic     = "public"      // also the anonymous MCP tier, when its grove enables it
)

// Common columns every synced table has besides its declared ones.
const (
	ColGrove      = "grove_id"    // the grove the row belongs to
	ColMachine    = "machine_id"  // the machine that owns the row
	ColID         = "id"          // the row id, unique per (grove, machine)
	ColProject    = "project_id"  // proj_<32 hex>; NULL for machine-scoped tables
	ColSyncedAt   = "synced_at"   // wire value, or server time for machine-scoped tables
	ColExtra      = "extra"       // JSON object of undeclared fields, bounded
	ColReceivedAt = "received_at" // server time of the last write, epoch seconds
)

// MaxExtraBytes bounds the JSON "extra" column of one row.
const MaxExtraBytes = 16 << 10

// ProjectIDPattern is the only accepted shape of a project id.
var ProjectIDPattern = regexp.MustCompile(`^proj_[0-9a-f]{32}$`)

// Column lists shared by several tables.
func text(name string) Column         { return Column{Name: name, Type: TypeText} }
func textDef(name, def string) Column { return Column{Name: name, Type: TypeText, Default: def} }
func integer(name string) Column      { return Column{Name: name, Type: TypeInteger} }
func intDef(name string, def int64) Column {
	return Column{Name: name, Type: TypeInteger, Default: def}
}
func realDef(name string, def float64) Column {
	return Column{Name: name, Type: TypeReal, Default: def}
}
func realCol(name string) Column { return Column{Name: name, Type: TypeReal} }

// SyncedTables lists the 19 tables of the sync protocol in the order of the
// Myco team worker's schema. It is the allowlist of tables: a record naming
// any other table is rejected.
var SyncedTables = []*Table{
	{Name: "sessions", Scope: ScopeProject, TextColumn: "summary", ContentHash: true, InManifest: true, RecordType: true, MinProtocol: 1,
		Columns: []Column{text("agent"), text("user"), text("project_root"), text("branch"), integer("started_at"), integer("ended_at"),
			textDef("status", "active"), intDef("prompt_count", 0), intDef("tool_count", 0), text("title"), text("summary"),
			text("transcript_path"), text("parent_session_id"), text("parent_session_reason"), intDef("processed", 0),
			text("content_hash"), integer("created_at"), text("sharing_policy")}, Shareable: true},
	{Name: "prompt_batches", Scope: ScopeProject, ContentHash: true, InManifest: true, MinProtocol: 1, IntegerID: true,
		Columns: []Column{text("session_id"), integer("parent_prompt_batch_id"), textDef("kind", "initial"), textDef("origin", "human"),
			integer("prompt_number"), text("user_prompt"), text("response_summary"), text("classification"), integer("started_at"),
			integer("ended_at"), textDef("status", "active"), intDef("activity_count", 0), intDef("processed", 0), text("content_hash"),
			integer("created_at"), text("thread_id"), text("thread_label")}},
	{Name: "spores", Scope: ScopeProject, TextColumn: "content", ContentHash: true, InManifest: true, RecordType: true, MinProtocol: 1,
		Columns: []Column{text("agent_id"), text("session_id"), integer("prompt_batch_id"), text("observation_type"),
			textDef("status", "active"), text("content"), text("context"), intDef("importance", 5), text("file_path"), text("tags"),
			text("content_hash"), text("properties"), integer("created_at"), integer("updated_at"), text("sharing_policy")}, Shareable: true},
	{Name: "entities", Scope: ScopeProject, InManifest: true, MinProtocol: 1,
		Columns: []Column{text("agent_id"), text("type"), text("name"), text("properties"), integer("first_seen"), integer("last_seen"),
			textDef("status", "active")}},
	{Name: "graph_edges", Scope: ScopeProject, InManifest: true, MinProtocol: 1,
		Columns: []Column{text("agent_id"), text("source_id"), text("source_type"), text("target_id"), text("target_type"), text("type"),
			text("session_id"), realDef("confidence", 1.0), text("properties"), integer("created_at")}},
	{Name: "entity_mentions", Scope: ScopeProject, MinProtocol: 1,
		Columns: []Column{text("entity_id"), text("note_id"), text("note_type"), text("agent_id")}},
	{Name: "resolution_events", Scope: ScopeProject, InManifest: true, MinProtocol: 1,
		Columns: []Column{text("agent_id"), text("spore_id"), text("action"), text("new_spore_id"), text("reason"), text("session_id"),
			integer("created_at")}},
	{Name: "plans", Scope: ScopeProject, TextColumn: "content", ContentHash: true, InManifest: true, RecordType: true, MinProtocol: 1,
		Columns: []Column{text("logical_key"), textDef("status", "active"), text("author"), text("title"), text("content"),
			text("source_path"), text("tags"), text("session_id"), integer("prompt_batch_id"), text("content_hash"),
			intDef("processed", 0), integer("created_at"), integer("updated_at"), text("sharing_policy")}, Shareable: true},
	{Name: "artifacts", Scope: ScopeProject, TextColumn: "content", InManifest: true, RecordType: true, MinProtocol: 1,
		Columns: []Column{text("artifact_type"), text("source_path"), text("title"), text("content"), text("last_captured_by"),
			text("tags"), integer("created_at"), integer("updated_at"), text("sharing_policy")}, Shareable: true},
	{Name: "digest_extracts", Scope: ScopeProject, InManifest: true, MinProtocol: 1, IntegerID: true,
		Columns: []Column{text("agent_id"), integer("tier"), text("content"), text("substrate_hash"), integer("generated_at"), text("sharing_policy")}, Shareable: true},
	{Name: "skill_candidates", Scope: ScopeProject, InManifest: true, MinProtocol: 1,
		Columns: []Column{text("agent_id"), text("topic"), text("rationale"), realDef("confidence", 0), textDef("status", "identified"),
			textDef("source_ids", "[]"), text("skill_id"), text("supersedes"), text("evidence_bundle_id"), realCol("quality_score"),
			textDef("quality_failures", "[]"), textDef("coverage_matches", "[]"), integer("last_reconciled_at"),
			text("reconciliation_reason"), integer("approved_at"), integer("created_at"), integer("updated_at")}},
	{Name: "skill_records", Scope: ScopeProject, TextColumn: "description", InManifest: true, RecordType: true, MinProtocol: 1,
		Columns: []Column{text("agent_id"), text("name"), text("display_name"), text("description"), textDef("status", "active"),
			intDef("generation", 1), text("candidate_id"), textDef("source_ids", "[]"), text("path"), intDef("usage_count", 0),
			integer("last_used_at"), integer("created_at"), integer("updated_at"), textDef("properties", "{}"), text("sharing_policy")}, Shareable: true},
	{Name: "skill_lineage", Scope: ScopeProject, InManifest: true, MinProtocol: 3,
		Columns: []Column{text("skill_id"), integer("generation"), text("action"), text("rationale"), textDef("source_ids_added", "[]"),
			text("content_snapshot"), integer("created_at")}},
	{Name: "skill_usage", Scope: ScopeProject, InManifest: true, MinProtocol: 1,
		Columns: []Column{text("skill_id"), text("session_id"), integer("detected_at")}},
	{Name: "knowledge_release_state", Scope: ScopeProject, InManifest: true, MinProtocol: 1, IntegerID: true,
		Columns: []Column{text("identity_key"), text("namespace"), text("record_id"), text("source_session_id"),
			integer("source_prompt_batch_id"), text("state"), text("confidence"), text("basis_kind"), text("basis_ref"), text("basis_sha"),
			integer("release_pr_number"), text("reason"), integer("checked_at"), integer("created_at"), integer("updated_at")}},
	{Name: "team_members", Scope: ScopeMachine, InManifest: true, MinProtocol: 1,
		Columns: []Column{text("user"), text("role"), text("joined"), text("tags")}},
	{Name: "okf_generations", Scope: ScopeProject, InManifest: true, MinProtocol: 3,
		Columns: []Column{integer("generation"), text("run_id"), textDef("status", "draft"), textDef("plan", "{}"), integer("page_count"),
			text("log_summary"), text("inputs_hash"), text("last_run_ref"), textDef("findings", "[]"), integer("created_at"),
			integer("updated_at")}},
	{Name: "okf_pages", Scope: ScopeProject, InManifest: true, MinProtocol: 3,
		Columns: []Column{text("path"), text("type"), text("title"), text("description"), textDef("tags", "[]"),
			textDef("status", "active"), integer("generation"), integer("created_at"), integer("updated_at")}},
	{Name: "okf_page_revisions", Scope: ScopeProject, InManifest: true, MinProtocol: 3,
		Columns: []Column{text("page_id"), integer("page_generation"), text("bundle_generation_id"), text("action"), text("rationale"),
			textDef("frontmatter", "{}"), text("body"), integer("created_at")}},
}

var tablesByName = func() map[string]*Table {
	m := make(map[string]*Table, len(SyncedTables))
	for _, t := range SyncedTables {
		m[t.Name] = t
	}
	return m
}()

// LookupTable returns the synced table with the given name, or nil. It is the
// only way a table name from input reaches a query.
func LookupTable(name string) *Table { return tablesByName[name] }

// Column returns the declared column with the given name, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}
