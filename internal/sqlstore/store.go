package sqlstore

import (
	"context"
	"time"

	"github.com/hyphateam/hypha"
)

// The methods below make *DB a hypha.Queries: reads run on the read pool,
// writes each in their own transaction on the writer.

// CreateGrove creates a grove.
func (db *DB) CreateGrove(ctx context.Context, g *hypha.Grove) error {
	return db.writeTx(ctx, func(q *queries) error { return q.CreateGrove(ctx, g) })
}

// EnsureGrove returns a grove, creating it if absent.
func (db *DB) EnsureGrove(ctx context.Context, g *hypha.Grove) (out *hypha.Grove, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.EnsureGrove(ctx, g); return err })
	return out, err
}

// FindGroveByID returns one grove.
func (db *DB) FindGroveByID(ctx context.Context, id string) (*hypha.Grove, error) {
	return db.reader().FindGroveByID(ctx, id)
}

// ListGroves lists groves.
func (db *DB) ListGroves(ctx context.Context) ([]*hypha.Grove, error) {
	return db.reader().ListGroves(ctx)
}

// ClaimProjects registers projects and returns their owners.
func (db *DB) ClaimProjects(ctx context.Context, groveID string, ids []string) (out map[string]string, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.ClaimProjects(ctx, groveID, ids); return err })
	return out, err
}

// RegisterProjects registers named projects and returns their owners.
func (db *DB) RegisterProjects(ctx context.Context, groveID string, projects []*hypha.Project) (out map[string]string, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.RegisterProjects(ctx, groveID, projects); return err })
	return out, err
}

// ListProjects lists a grove's projects.
func (db *DB) ListProjects(ctx context.Context, groveID string) ([]*hypha.Project, error) {
	return db.reader().ListProjects(ctx, groveID)
}

// UpsertNode registers or refreshes a node.
func (db *DB) UpsertNode(ctx context.Context, n *hypha.Node) error {
	return db.writeTx(ctx, func(q *queries) error { return q.UpsertNode(ctx, n) })
}

// TouchNode moves a node's last_seen.
func (db *DB) TouchNode(ctx context.Context, groveID, machineID string, at int64) error {
	return db.writeTx(ctx, func(q *queries) error { return q.TouchNode(ctx, groveID, machineID, at) })
}

// ListNodes lists a grove's nodes.
func (db *DB) ListNodes(ctx context.Context, groveID string) ([]*hypha.Node, error) {
	return db.reader().ListNodes(ctx, groveID)
}

// CountNodes counts machines.
func (db *DB) CountNodes(ctx context.Context) (int, error) { return db.reader().CountNodes(ctx) }

// TeamConfig reads team_config.
func (db *DB) TeamConfig(ctx context.Context) (map[string]string, error) {
	return db.reader().TeamConfig(ctx)
}

// PutTeamConfig writes team_config entries atomically.
func (db *DB) PutTeamConfig(ctx context.Context, values map[string]string) error {
	return db.writeTx(ctx, func(q *queries) error { return q.PutTeamConfig(ctx, values) })
}

// UpsertRecords writes records in one transaction.
func (db *DB) UpsertRecords(ctx context.Context, recs []*hypha.Record) (out []bool, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.UpsertRecords(ctx, recs); return err })
	return out, err
}

// DeleteRecords deletes records in one transaction.
func (db *DB) DeleteRecords(ctx context.Context, keys []hypha.RecordKey) (out []bool, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.DeleteRecords(ctx, keys); return err })
	return out, err
}

// FindRecord reads one record.
func (db *DB) FindRecord(ctx context.Context, key hypha.RecordKey) (*hypha.Record, error) {
	return db.reader().FindRecord(ctx, key)
}

// CountRecords counts records per table.
func (db *DB) CountRecords(ctx context.Context, groveID, machineID string) (map[string]int64, error) {
	return db.reader().CountRecords(ctx, groveID, machineID)
}

// KVGet reads a KV entry.
func (db *DB) KVGet(ctx context.Context, key string) (*hypha.KVEntry, error) {
	return db.reader().KVGet(ctx, key)
}

// KVPut writes a KV entry.
func (db *DB) KVPut(ctx context.Context, key string, value []byte, opts hypha.KVPutOptions) (v int64, err error) {
	err = db.writeTx(ctx, func(q *queries) error { v, err = q.KVPut(ctx, key, value, opts); return err })
	return v, err
}

// KVList lists KV keys.
func (db *DB) KVList(ctx context.Context, opts hypha.KVListOptions) (*hypha.KVListPage, error) {
	return db.reader().KVList(ctx, opts)
}

// KVDelete deletes a KV key.
func (db *DB) KVDelete(ctx context.Context, key string) error {
	return db.writeTx(ctx, func(q *queries) error { return q.KVDelete(ctx, key) })
}

// KVSweep removes expired KV entries.
func (db *DB) KVSweep(ctx context.Context) (n int64, err error) {
	err = db.writeTx(ctx, func(q *queries) error { n, err = q.KVSweep(ctx); return err })
	return n, err
}

// PutEmbeddings stores vectors.
func (db *DB) PutEmbeddings(ctx context.Context, embs []*hypha.Embedding) error {
	return db.writeTx(ctx, func(q *queries) error { return q.PutEmbeddings(ctx, embs) })
}

// DeleteEmbeddings removes vectors.
func (db *DB) DeleteEmbeddings(ctx context.Context, keys []hypha.RecordKey) error {
	return db.writeTx(ctx, func(q *queries) error { return q.DeleteEmbeddings(ctx, keys) })
}

// FindEmbedding reads one vector.
func (db *DB) FindEmbedding(ctx context.Context, key hypha.RecordKey) (*hypha.Embedding, error) {
	return db.reader().FindEmbedding(ctx, key)
}

// ListRecords lists rows a filter selects.
func (db *DB) ListRecords(ctx context.Context, f hypha.RecordFilter) ([]*hypha.Record, error) {
	return db.reader().ListRecords(ctx, f)
}

// ManifestPage reads one manifest page.
func (db *DB) ManifestPage(ctx context.Context, m hypha.ManifestQuery) (*hypha.ManifestPage, error) {
	return db.reader().ManifestPage(ctx, m)
}

// DeleteMachineRows deletes a machine's rows in one transaction.
func (db *DB) DeleteMachineRows(ctx context.Context, groveID, machineID string, tables []*hypha.Table) (out map[string]int64, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.DeleteMachineRows(ctx, groveID, machineID, tables); return err })
	return out, err
}

// TouchProjects sets last_sync_at of projects.
func (db *DB) TouchProjects(ctx context.Context, groveID string, ids []string, at int64) error {
	return db.writeTx(ctx, func(q *queries) error { return q.TouchProjects(ctx, groveID, ids, at) })
}

// CountEmbeddings counts vectors.
func (db *DB) CountEmbeddings(ctx context.Context, groveID string) (int64, error) {
	return db.reader().CountEmbeddings(ctx, groveID)
}

// CountEmbeddable counts rows with text to embed.
func (db *DB) CountEmbeddable(ctx context.Context, groveID string) (map[string]int64, error) {
	return db.reader().CountEmbeddable(ctx, groveID)
}

// EnqueueJobs upserts jobs in one transaction.
func (db *DB) EnqueueJobs(ctx context.Context, jobs []*hypha.Job) error {
	return db.writeTx(ctx, func(q *queries) error { return q.EnqueueJobs(ctx, jobs) })
}

// ClaimJobs leases due jobs.
func (db *DB) ClaimJobs(ctx context.Context, kind string, limit int, lease time.Duration) (out []*hypha.Job, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.ClaimJobs(ctx, kind, limit, lease); return err })
	return out, err
}

// CompleteJobs deletes or releases claimed jobs in one transaction.
func (db *DB) CompleteJobs(ctx context.Context, jobs []*hypha.Job) error {
	return db.writeTx(ctx, func(q *queries) error { return q.CompleteJobs(ctx, jobs) })
}

// RetryJob releases a claimed job until later.
func (db *DB) RetryJob(ctx context.Context, job *hypha.Job, runAt int64, errMsg string) error {
	return db.writeTx(ctx, func(q *queries) error { return q.RetryJob(ctx, job, runAt, errMsg) })
}

// DeadLetterJob moves a claimed job to team_dlq in one transaction.
func (db *DB) DeadLetterJob(ctx context.Context, job *hypha.Job, reason string) (out *hypha.DeadLetter, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.DeadLetterJob(ctx, job, reason); return err })
	return out, err
}

// FindDeadLetter reads one dead letter.
func (db *DB) FindDeadLetter(ctx context.Context, groveID, leaseID string) (*hypha.DeadLetter, error) {
	return db.reader().FindDeadLetter(ctx, groveID, leaseID)
}

// ListDeadLetters lists a grove's dead letters.
func (db *DB) ListDeadLetters(ctx context.Context, groveID string, limit int) ([]*hypha.DeadLetter, error) {
	return db.reader().ListDeadLetters(ctx, groveID, limit)
}

// TakeDeadLetters deletes and returns dead letters in one transaction.
func (db *DB) TakeDeadLetters(ctx context.Context, groveID string, leaseIDs []string) (out []*hypha.DeadLetter, err error) {
	err = db.writeTx(ctx, func(q *queries) error { out, err = q.TakeDeadLetters(ctx, groveID, leaseIDs); return err })
	return out, err
}

// DeleteDeadLetters deletes dead letters in one transaction.
func (db *DB) DeleteDeadLetters(ctx context.Context, groveID string, leaseIDs []string) (n int64, err error) {
	err = db.writeTx(ctx, func(q *queries) error { n, err = q.DeleteDeadLetters(ctx, groveID, leaseIDs); return err })
	return n, err
}

// CountJobs counts a grove's jobs and dead letters.
func (db *DB) CountJobs(ctx context.Context, groveID string) (hypha.JobCounts, error) {
	return db.reader().CountJobs(ctx, groveID)
}

// DeleteMachineJobs deletes a machine's jobs.
func (db *DB) DeleteMachineJobs(ctx context.Context, groveID, machineID string) (n int64, err error) {
	err = db.writeTx(ctx, func(q *queries) error { n, err = q.DeleteMachineJobs(ctx, groveID, machineID); return err })
	return n, err
}

// AddSyncStats adds to a grove's statistics.
func (db *DB) AddSyncStats(ctx context.Context, groveID string, delta hypha.SyncStats) error {
	return db.writeTx(ctx, func(q *queries) error { return q.AddSyncStats(ctx, groveID, delta) })
}

// FindSyncStats reads a grove's statistics.
func (db *DB) FindSyncStats(ctx context.Context, groveID string) (*hypha.SyncStats, error) {
	return db.reader().FindSyncStats(ctx, groveID)
}

// ResetSyncStats zeroes a grove's statistics.
func (db *DB) ResetSyncStats(ctx context.Context, groveID string) error {
	return db.writeTx(ctx, func(q *queries) error { return q.ResetSyncStats(ctx, groveID) })
}

// FindRecords reads many records.
func (db *DB) FindRecords(ctx context.Context, keys []hypha.RecordKey) ([]*hypha.Record, error) {
	return db.reader().FindRecords(ctx, keys)
}

// FindEmbeddings reads many vectors.
func (db *DB) FindEmbeddings(ctx context.Context, keys []hypha.RecordKey) ([]*hypha.Embedding, error) {
	return db.reader().FindEmbeddings(ctx, keys)
}

// DeleteEmbeddingsNotOfModel deletes vectors of other models.
func (db *DB) DeleteEmbeddingsNotOfModel(ctx context.Context, model string, dims int) (n int64, err error) {
	err = db.writeTx(ctx, func(q *queries) error { n, err = q.DeleteEmbeddingsNotOfModel(ctx, model, dims); return err })
	return n, err
}

// ListEmbeddableKeys pages through embeddable rows.
func (db *DB) ListEmbeddableKeys(ctx context.Context, e hypha.EmbeddableQuery) ([]hypha.RecordKey, error) {
	return db.reader().ListEmbeddableKeys(ctx, e)
}

// GroveDataBytes estimates a grove's data volume.
func (db *DB) GroveDataBytes(ctx context.Context, groveID string) (int64, error) {
	return db.reader().GroveDataBytes(ctx, groveID)
}

// PutSearchDocs writes search documents in one transaction.
func (db *DB) PutSearchDocs(ctx context.Context, docs []*hypha.SearchDoc) error {
	return db.writeTx(ctx, func(q *queries) error { return q.PutSearchDocs(ctx, docs) })
}

// RemoveSearchDocs removes search documents and vectors in one transaction.
func (db *DB) RemoveSearchDocs(ctx context.Context, keys []hypha.RecordKey) error {
	return db.writeTx(ctx, func(q *queries) error { return q.RemoveSearchDocs(ctx, keys) })
}

// SearchSeq reads the search change sequence.
func (db *DB) SearchSeq(ctx context.Context) (seq, pruned int64, err error) {
	return db.reader().SearchSeq(ctx)
}

// ScanSearchDocs streams documents with their texts and vectors.
func (db *DB) ScanSearchDocs(ctx context.Context, after, upTo int64, dims int, fn func(*hypha.SearchDoc, []float32) error) error {
	return db.reader().ScanSearchDocs(ctx, after, upTo, dims, fn)
}

// ScanSearchTombstones streams tombstones.
func (db *DB) ScanSearchTombstones(ctx context.Context, after, upTo int64, fn func(hypha.RecordKey) error) error {
	return db.reader().ScanSearchTombstones(ctx, after, upTo, fn)
}

// PruneSearchTombstones deletes old tombstones in one transaction.
func (db *DB) PruneSearchTombstones(ctx context.Context, before int64) (n int64, err error) {
	err = db.writeTx(ctx, func(q *queries) error { n, err = q.PruneSearchTombstones(ctx, before); return err })
	return n, err
}

// CountSearchDocs counts a grove's search documents.
func (db *DB) CountSearchDocs(ctx context.Context, groveID string) (int64, error) {
	return db.reader().CountSearchDocs(ctx, groveID)
}

// KeywordSearch runs a keyword query on the read pool.
func (db *DB) KeywordSearch(ctx context.Context, query string, limit int, f hypha.VectorFilter) ([]hypha.KeywordHit, error) {
	return db.reader().KeywordSearch(ctx, query, limit, f)
}

// PutGrant records a grant.
func (db *DB) PutGrant(ctx context.Context, grantor, grantee string) error {
	return db.writeTx(ctx, func(q *queries) error { return q.PutGrant(ctx, grantor, grantee) })
}

// DeleteGrant withdraws a grant.
func (db *DB) DeleteGrant(ctx context.Context, grantor, grantee string) error {
	return db.writeTx(ctx, func(q *queries) error { return q.DeleteGrant(ctx, grantor, grantee) })
}

// ListGrantors lists the groves that granted grantee access.
func (db *DB) ListGrantors(ctx context.Context, grantee string) ([]string, error) {
	return db.reader().ListGrantors(ctx, grantee)
}
