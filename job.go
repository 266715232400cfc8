package hypha

import (
	"context"
	"time"
)

// JobEmbed is the kind of the jobs that embed one record's text (or drop
// its vector when the record no longer has any).
const JobEmbed = "embed"

// Job is one unit of asynchronous work in the durable queue. A job is keyed
// by (Kind, GroveID, Key): enqueueing the same key again while the job waits
// or runs merges into the one row and bumps its Generation.
type Job struct {
	Kind      string
	GroveID   string
	Key       string // unique per (kind, grove); for embed jobs the record's LeaseID
	TableName string // the record the job is about, if any
	MachineID string
	RecordID  string
	Payload   []byte // JSON: the Myco SyncRecord a dead letter keeps
	// Attempts counts the claims of this generation; ClaimJobs adds one.
	Attempts int
	RunAt    int64 // epoch seconds; not claimable before
	// LeaseUntil is when the current claim expires (0: not claimed). With
	// Generation it identifies one claim: CompleteJobs, RetryJob and
	// DeadLetterJob act only while the claim they name is still current.
	LeaseUntil int64
	// Generation grows each time the job is enqueued again, so a consumer
	// that finishes an older generation releases the job instead of
	// deleting it, and the newer content is processed too.
	Generation int64
	LastError  string
	CreatedAt  int64 // first enqueue of the row
}

// LeaseID is the Myco dead-letter id of a record: "<table>:<id>:<machine_id>".
func LeaseID(table, id, machineID string) string { return table + ":" + id + ":" + machineID }

// DeadLetter is a job that used up its attempts, kept in team_dlq for the
// operator (GET /dlq, POST /dlq/retry, POST /dlq/discard).
type DeadLetter struct {
	GroveID     string
	LeaseID     string // "<table>:<id>:<machine_id>"
	Kind        string // the job kind to re-enqueue on retry
	TableName   string
	RowID       string
	MachineID   string
	Operation   string // the SyncRecord operation, e.g. "embed"
	Payload     []byte // JSON SyncRecord
	Reason      string
	CreatedAt   int64
	ReplayCount int64 // rounds of retries that ended here
}

// Job returns a fresh job (no attempts, due at once) that redoes the work
// of the dead letter.
func (d *DeadLetter) Job() *Job {
	return &Job{Kind: d.Kind, GroveID: d.GroveID, Key: d.LeaseID, TableName: d.TableName, MachineID: d.MachineID,
		RecordID: d.RowID, Payload: d.Payload}
}

// SyncStats are the Myco worker's team_sync_stats, kept per grove. As a
// delta (AddSyncStats) the counters are added, and each Last* field
// replaces the stored one only when it is set (non-zero, non-empty).
type SyncStats struct {
	Enqueued       int64 // jobs put on the queue (ingest, replays, retries)
	Processed      int64 // jobs that left the queue: done, or dead-lettered
	Failed         int64 // jobs parked for good after the replay cap
	LastRunAt      int64 // epoch seconds of the last consumer batch; 0: never
	LastError      string
	EmbedOK        int64 // texts embedded
	EmbedFailed    int64 // embedding attempts that failed (each one)
	LastEmbedError string
	LastEmbedAt    int64
}

// JobCounts are the live sizes of a grove's queue.
type JobCounts struct {
	Pending     int64 // waiting, including jobs whose retry is not due yet
	Leased      int64 // claimed by a consumer right now
	DeadLetters int64 // rows of team_dlq
}

// JobStore keeps the durable job queue, its dead letters and the sync
// statistics. Lists of ids are processed in chunks, so any length works.
type JobStore interface {
	// EnqueueJobs upserts jobs on (kind, grove, key), due at their RunAt
	// (now if 0). A job that already waits or runs takes the new payload
	// and RunAt, has its attempts reset and
	// its generation bumped; when the same key appears twice, the later job
	// wins. It also adds the number of distinct jobs to each grove's
	// enqueued statistic: this is the one place that counts enqueued jobs
	// (reference §12.8), so callers must not add them again.
	EnqueueJobs(ctx context.Context, jobs []*Job) error
	// ClaimJobs leases at most limit due jobs of kind (unleased, or whose
	// lease expired), oldest RunAt first, until now + lease, adding one to
	// their attempts, in one statement. Concurrent claimers never get the
	// same job: PostgreSQL skips rows another claimer has locked.
	ClaimJobs(ctx context.Context, kind string, limit int, lease time.Duration) ([]*Job, error)
	// CompleteJobs deletes each claimed job whose generation is unchanged,
	// and releases the lease of one enqueued again meanwhile so it runs
	// again. A job whose claim is no longer current (its lease expired and
	// another consumer took it) is left alone.
	CompleteJobs(ctx context.Context, jobs []*Job) error
	// RetryJob releases a claimed job, due again at runAt (epoch seconds),
	// recording errMsg. If the job was enqueued again meanwhile it is only
	// released: the new generation is due at once.
	RetryJob(ctx context.Context, job *Job, runAt int64, errMsg string) error
	// DeadLetterJob moves a claimed job to team_dlq in one transaction:
	// it upserts the row (grove, job.Key) with replay_count one more than
	// before (the row's created_at and reason are the new ones), and
	// deletes the job. If the job's claim is no longer
	// current, or it was enqueued again meanwhile, nothing is written and
	// the error has code conflict.
	DeadLetterJob(ctx context.Context, job *Job, reason string) (*DeadLetter, error)
	// FindDeadLetter returns one dead letter; a miss is not_found.
	FindDeadLetter(ctx context.Context, groveID, leaseID string) (*DeadLetter, error)
	// ListDeadLetters lists a grove's dead letters, newest first.
	ListDeadLetters(ctx context.Context, groveID string, limit int) ([]*DeadLetter, error)
	// TakeDeadLetters deletes the named dead letters of a grove and returns
	// those that existed, for a retry.
	TakeDeadLetters(ctx context.Context, groveID string, leaseIDs []string) ([]*DeadLetter, error)
	// DeleteDeadLetters deletes the named dead letters of a grove and
	// returns how many existed.
	DeleteDeadLetters(ctx context.Context, groveID string, leaseIDs []string) (int64, error)
	// CountJobs counts a grove's pending and leased jobs and dead letters.
	CountJobs(ctx context.Context, groveID string) (JobCounts, error)
	// DeleteMachineJobs deletes every job of one machine in a grove (for
	// /rebuild) and returns how many there were.
	DeleteMachineJobs(ctx context.Context, groveID, machineID string) (int64, error)
	// AddSyncStats adds delta to a grove's statistics (see SyncStats).
	AddSyncStats(ctx context.Context, groveID string, delta SyncStats) error
	// FindSyncStats returns a grove's statistics; a grove without any has
	// zero statistics, not an error.
	FindSyncStats(ctx context.Context, groveID string) (*SyncStats, error)
	// ResetSyncStats zeroes a grove's statistics.
	ResetSyncStats(ctx context.Context, groveID string) error
}
