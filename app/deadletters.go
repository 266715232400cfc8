package app

import (
	"context"

	"github.com/hyphateam/hypha"
)

// Limits of GET /dlq (reference §2.2).
const (
	DefaultDeadLetterLimit = 50
	MaxDeadLetterLimit     = 500
)

// QueueStats is what /queue-stats reports for one grove: the Myco
// statistics and the live size of the queue.
type QueueStats struct {
	hypha.SyncStats
	hypha.JobCounts
}

// Backlog is the real number of jobs not done yet: waiting (including
// retries not due yet) and running.
func (q *QueueStats) Backlog() int64 { return q.Pending + q.Leased }

// Stats returns a grove's queue statistics.
func (j *Jobs) Stats(ctx context.Context, grove string) (*QueueStats, error) {
	st, err := j.store.FindSyncStats(ctx, grove)
	if err != nil {
		return nil, err
	}
	counts, err := j.store.CountJobs(ctx, grove)
	if err != nil {
		return nil, err
	}
	return &QueueStats{SyncStats: *st, JobCounts: counts}, nil
}

// DeadLetters lists a grove's dead letters, newest first; limit is
// clamped to [1, MaxDeadLetterLimit] with DefaultDeadLetterLimit for ≤ 0.
func (j *Jobs) DeadLetters(ctx context.Context, grove string, limit int) ([]*hypha.DeadLetter, error) {
	if limit <= 0 {
		limit = DefaultDeadLetterLimit
	}
	return j.store.ListDeadLetters(ctx, grove, min(limit, MaxDeadLetterLimit))
}

// RetryDeadLetters re-enqueues the stored work of a grove's named dead
// letters as fresh jobs and deletes them, which resets their replay count,
// in one transaction. It returns how many it found; ids of other groves
// or unknown ids are ignored.
func (j *Jobs) RetryDeadLetters(ctx context.Context, grove string, leaseIDs []string) (int, error) {
	if err := checkLeaseIDs(leaseIDs); err != nil {
		return 0, err
	}
	var n int
	err := j.store.InTx(ctx, func(tx hypha.Queries) error {
		taken, err := tx.TakeDeadLetters(ctx, grove, leaseIDs)
		if err != nil {
			return err
		}
		jobs := make([]*hypha.Job, len(taken))
		for i, d := range taken {
			jobs[i] = d.Job()
		}
		n = len(taken)
		return tx.EnqueueJobs(ctx, jobs)
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		j.Notify()
	}
	return n, nil
}

// DiscardDeadLetters deletes a grove's named dead letters and returns how
// many existed (the Myco worker returned the number of ids sent).
func (j *Jobs) DiscardDeadLetters(ctx context.Context, grove string, leaseIDs []string) (int64, error) {
	if err := checkLeaseIDs(leaseIDs); err != nil {
		return 0, err
	}
	return j.store.DeleteDeadLetters(ctx, grove, leaseIDs)
}

// checkLeaseIDs refuses lease ids no engine compares alike (NUL, invalid
// UTF-8) before they reach the store.
func checkLeaseIDs(ids []string) error {
	for _, id := range ids {
		if err := hypha.ValidateKeyText("lease_ids", id); err != nil {
			return err
		}
	}
	return nil
}
