package hypha

import (
	"context"
	"time"
)

// Store is one storage engine holding everything the team server keeps:
// groves, projects, nodes, team config, the synced tables, the KV store and
// embeddings. Methods called on the Store run in their own transaction; InTx
// runs several in one.
type Store interface {
	Queries
	// InTx runs fn in one read-write transaction, committed when fn returns
	// nil and rolled back otherwise. fn must use tx, never the Store: on
	// SQLite the transaction holds the only writer connection.
	InTx(ctx context.Context, fn func(tx Queries) error) error
	// Engine names the engine: "sqlite" or "postgres".
	Engine() string
	// Now is the store's clock; tests may fix it.
	Now() time.Time
	// Analyze refreshes the query planner's statistics of the named tables
	// after they grew fast (PostgreSQL plans bulk-loaded tables badly until
	// autovacuum catches up); a no-op where the engine needs none.
	Analyze(ctx context.Context, tables []string) error
	Close() error
}

// Queries are the store methods available on a Store and inside InTx.
type Queries interface {
	GroveStore
	ProjectStore
	NodeStore
	ConfigStore
	RecordStore
	RecordQueryStore
	KVStore
	EmbeddingStore
	SearchIndexStore
	GrantStore
	TeamKeyStore
	JobStore
}

// GroveStore keeps groves.
type GroveStore interface {
	// CreateGrove creates g; a grove with the same id is a conflict.
	CreateGrove(ctx context.Context, g *Grove) error
	// EnsureGrove returns the grove with g.ID, creating it from g if absent.
	EnsureGrove(ctx context.Context, g *Grove) (*Grove, error)
	FindGroveByID(ctx context.Context, id string) (*Grove, error)
	ListGroves(ctx context.Context) ([]*Grove, error)
}

// ProjectStore keeps the project → grove registry.
type ProjectStore interface {
	// ClaimProjects registers each unknown project id as belonging to grove
	// groveID and returns the owning grove of every id, so the caller can
	// refuse records whose project belongs to another grove.
	ClaimProjects(ctx context.Context, groveID string, ids []string) (owners map[string]string, err error)
	// RegisterProjects is ClaimProjects for projects that come with a
	// name (the projects derived for rows of old clients): an unknown
	// project is created with its Name, an existing one keeps its own.
	// Only ID and Name are read.
	RegisterProjects(ctx context.Context, groveID string, projects []*Project) (owners map[string]string, err error)
	ListProjects(ctx context.Context, groveID string) ([]*Project, error)
}

// NodeStore keeps the machines that sync each grove.
type NodeStore interface {
	// UpsertNode registers n or refreshes its versions and last_seen,
	// keeping registered_at.
	UpsertNode(ctx context.Context, n *Node) error
	// TouchNode moves last_seen of an existing node; it never creates one.
	TouchNode(ctx context.Context, groveID, machineID string, at int64) error
	ListNodes(ctx context.Context, groveID string) ([]*Node, error)
	// CountNodes counts distinct machines across all groves.
	CountNodes(ctx context.Context) (int, error)
}

// ConfigStore keeps team_config, a flat map of string settings.
type ConfigStore interface {
	TeamConfig(ctx context.Context) (map[string]string, error)
	PutTeamConfig(ctx context.Context, values map[string]string) error
}

// RecordStore keeps the rows of the synced tables.
type RecordStore interface {
	// UpsertRecords writes each record by full-row replace, except that a
	// record whose content hash equals the stored one writes nothing.
	// written[i] reports whether recs[i] changed the stored row. When the
	// same key appears twice, the later record wins.
	UpsertRecords(ctx context.Context, recs []*Record) (written []bool, err error)
	// DeleteRecords deletes rows; deleted[i] reports whether keys[i] existed.
	DeleteRecords(ctx context.Context, keys []RecordKey) (deleted []bool, err error)
	// FindRecord returns one row. An empty MachineID matches any machine
	// (the lowest machine id wins). A miss is a not_found error.
	FindRecord(ctx context.Context, key RecordKey) (*Record, error)
	// FindRecords returns the rows of the keys that exist, in no particular
	// order (the queue consumer reads a batch at once). Each key must name
	// its machine.
	FindRecords(ctx context.Context, keys []RecordKey) ([]*Record, error)
	// CountRecords counts the rows of every synced table in a grove,
	// optionally of one machine only.
	CountRecords(ctx context.Context, groveID, machineID string) (map[string]int64, error)
}

// EmbeddingStore keeps record vectors.
type EmbeddingStore interface {
	PutEmbeddings(ctx context.Context, embs []*Embedding) error
	DeleteEmbeddings(ctx context.Context, keys []RecordKey) error
	FindEmbedding(ctx context.Context, key RecordKey) (*Embedding, error)
	// FindEmbeddings returns the vectors of the keys that have one, in no
	// particular order. Each key must name its machine.
	FindEmbeddings(ctx context.Context, keys []RecordKey) ([]*Embedding, error)
	// DeleteEmbeddingsNotOfModel deletes, in every grove, the vectors made
	// by another model or of another dimension, and returns how many there
	// were: two vector spaces are never mixed.
	DeleteEmbeddingsNotOfModel(ctx context.Context, model string, dims int) (int64, error)
}
