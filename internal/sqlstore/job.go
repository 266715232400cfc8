package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
)

// maxListIDs bounds the items of one IN list, far below every engine's
// placeholder limit (the Myco worker's unchunked DLQ lists were a defect).
const maxListIDs = 500

// maxErrorText bounds a stored error message or dead-letter reason.
const maxErrorText = 2000

const jobColumns = `kind, grove_id, key, table_name, machine_id, record_id, payload, attempts, run_at, lease_until, generation, last_error, created_at`

const deadLetterColumns = `grove_id, lease_id, kind, table_name, row_id, machine_id, operation, payload, reason, created_at, replay_count`

type jobKey [3]string

func keyOfJob(j *hypha.Job) jobKey { return jobKey{j.Kind, j.GroveID, j.Key} }

// sortedJobs returns the distinct jobs (the later of a repeated key wins)
// in key order, so transactions that share jobs lock them in one order.
func sortedJobs(jobs []*hypha.Job) []*hypha.Job {
	last := make(map[jobKey]int, len(jobs))
	for i, j := range jobs {
		last[keyOfJob(j)] = i
	}
	out := make([]*hypha.Job, 0, len(last))
	for i, j := range jobs {
		if last[keyOfJob(j)] == i {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		x, y := keyOfJob(out[a]), keyOfJob(out[b])
		return slices.Compare(x[:], y[:]) < 0
	})
	return out
}

// EnqueueJobs upserts jobs and counts them in each grove's statistics.
func (q *queries) EnqueueJobs(ctx context.Context, jobs []*hypha.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	const perRow = 10
	now := q.now()
	rows := sortedJobs(jobs)
	err := chunks(len(rows), maxParams/perRow, func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*perRow)
		for _, j := range rows[lo:hi] {
			runAt := j.RunAt
			if runAt == 0 {
				runAt = now
			}
			args = append(args, j.Kind, j.GroveID, j.Key, j.TableName, j.MachineID, j.RecordID, payloadText(j.Payload), runAt, now, now)
		}
		query := `INSERT INTO jobs (kind, grove_id, key, table_name, machine_id, record_id, payload, attempts, run_at, generation,
			created_at, updated_at) VALUES ` + valuesRows(hi-lo, "(?, ?, ?, ?, ?, ?, ?, 0, ?, 1, ?, ?)") + ` ON CONFLICT (kind, grove_id, key) DO UPDATE SET table_name = excluded.table_name,
			machine_id = excluded.machine_id, record_id = excluded.record_id, payload = excluded.payload, attempts = 0,
			run_at = excluded.run_at, generation = jobs.generation + 1, last_error = NULL, updated_at = excluded.updated_at`
		_, err := q.exec(ctx, query, args...)
		return q.db.wrap(err, "enqueue jobs")
	})
	if err != nil {
		return err
	}
	perGrove := map[string]int64{}
	for _, j := range rows {
		perGrove[j.GroveID]++
	}
	groves := make([]string, 0, len(perGrove))
	for g := range perGrove {
		groves = append(groves, g)
	}
	sort.Strings(groves)
	for _, g := range groves {
		if err := q.AddSyncStats(ctx, g, hypha.SyncStats{Enqueued: perGrove[g]}); err != nil {
			return err
		}
	}
	return nil
}

// ClaimJobs leases due jobs in one statement.
func (q *queries) ClaimJobs(ctx context.Context, kind string, limit int, lease time.Duration) ([]*hypha.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	now := q.now()
	secs := int64((lease + time.Second - 1) / time.Second)
	until := now + max(secs, 1)
	// The picked rows are renamed so the RETURNING list names only the
	// columns of jobs on both engines.
	query := `WITH picked AS MATERIALIZED (
			SELECT kind AS p_kind, grove_id AS p_grove, key AS p_key FROM jobs
			WHERE kind = ? AND run_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY run_at, grove_id, key LIMIT ?` + q.db.dialect.LockRows(true) + `)
		UPDATE jobs SET lease_until = ?, attempts = jobs.attempts + 1, updated_at = ?
		FROM picked WHERE jobs.kind = picked.p_kind AND jobs.grove_id = picked.p_grove AND jobs.key = picked.p_key
		RETURNING ` + jobColumns
	if _, inTx := q.q.(*sql.Tx); inTx {
		for _, stmt := range q.db.dialect.ClaimPlan() {
			if _, err := q.exec(ctx, stmt); err != nil {
				return nil, q.db.wrap(err, "claim jobs")
			}
		}
	}
	rows, err := q.query(ctx, query, kind, now, now, limit, until, now)
	if err != nil {
		return nil, q.db.wrap(err, "claim jobs")
	}
	defer rows.Close()
	var out []*hypha.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, q.db.wrap(err, "claim jobs")
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, q.db.wrap(err, "claim jobs")
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].RunAt != out[b].RunAt {
			return out[a].RunAt < out[b].RunAt
		}
		x, y := keyOfJob(out[a]), keyOfJob(out[b])
		return slices.Compare(x[:], y[:]) < 0
	})
	return out, nil
}

func scanJob(rows *sql.Rows) (*hypha.Job, error) {
	j := &hypha.Job{}
	var payload, lastError sql.NullString
	var lease sql.NullInt64
	var attempts int64
	if err := rows.Scan(&j.Kind, &j.GroveID, &j.Key, &j.TableName, &j.MachineID, &j.RecordID, &payload, &attempts, &j.RunAt,
		&lease, &j.Generation, &lastError, &j.CreatedAt); err != nil {
		return nil, err
	}
	if payload.Valid {
		j.Payload = []byte(payload.String)
	}
	j.Attempts, j.LeaseUntil, j.LastError = int(attempts), lease.Int64, lastError.String
	return j, nil
}

// CompleteJobs deletes finished jobs, or releases those enqueued again.
// Jobs are grouped by (kind, grove, lease): one ClaimJobs gives a whole
// batch the same lease, so a batch of one grove is two statements with a
// plain IN list, which PostgreSQL plans far faster than row-value lists.
func (q *queries) CompleteJobs(ctx context.Context, jobs []*hypha.Job) error {
	rows := sortedJobs(jobs)
	type claim struct {
		kind, grove string
		lease       int64
	}
	type group struct {
		claim
		jobs []*hypha.Job
	}
	var groups []*group
	byClaim := map[claim]*group{}
	for _, j := range rows {
		c := claim{kind: j.Kind, grove: j.GroveID, lease: j.LeaseUntil}
		g := byClaim[c]
		if g == nil {
			g = &group{claim: c}
			byClaim[c] = g
			groups = append(groups, g)
		}
		g.jobs = append(g.jobs, j)
	}
	for _, g := range groups {
		err := chunks(len(g.jobs), maxListIDs, func(lo, hi int) error {
			return q.completeGroup(ctx, g.kind, g.grove, g.lease, g.jobs[lo:hi])
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// completeGroup completes jobs of one kind, grove and lease, given in key
// order.
func (q *queries) completeGroup(ctx context.Context, kind, grove string, lease int64, jobs []*hypha.Job) error {
	args := []any{kind, grove, lease}
	for _, j := range jobs {
		args = append(args, j.Key)
	}
	// Read the generations of the jobs still under this claim, locking
	// them in key order (PostgreSQL; SQLite's one writer needs no lock), so
	// an EnqueueJobs that shares rows cannot deadlock with us or bump a
	// generation between this read and the delete.
	rs, err := q.query(ctx, `SELECT key, generation FROM jobs WHERE kind = ? AND grove_id = ? AND lease_until = ? AND key IN `+
		placeholders(len(jobs))+` ORDER BY key`+q.db.dialect.LockRows(false), args...)
	if err != nil {
		return q.db.wrap(err, "complete jobs")
	}
	current := make(map[string]int64, len(jobs))
	for rs.Next() {
		var key string
		var gen int64
		if err := rs.Scan(&key, &gen); err != nil {
			rs.Close()
			return q.db.wrap(err, "complete jobs")
		}
		current[key] = gen
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return q.db.wrap(err, "complete jobs")
	}
	var finished, again []any
	for _, j := range jobs {
		switch gen, held := current[j.Key]; {
		case !held: // the claim expired and another consumer took the job, or it is gone
		case gen == j.Generation:
			finished = append(finished, j.Key)
		default: // enqueued again while it ran: it must run again
			again = append(again, j.Key)
		}
	}
	if len(finished) > 0 {
		_, err := q.exec(ctx, `DELETE FROM jobs WHERE kind = ? AND grove_id = ? AND key IN `+placeholders(len(finished)),
			append([]any{kind, grove}, finished...)...)
		if err != nil {
			return q.db.wrap(err, "complete jobs")
		}
	}
	if len(again) > 0 {
		_, err := q.exec(ctx, `UPDATE jobs SET lease_until = NULL, updated_at = ? WHERE kind = ? AND grove_id = ? AND key IN `+
			placeholders(len(again)), append([]any{q.now(), kind, grove}, again...)...)
		if err != nil {
			return q.db.wrap(err, "release jobs")
		}
	}
	return nil
}

// RetryJob releases a claimed job until runAt.
func (q *queries) RetryJob(ctx context.Context, job *hypha.Job, runAt int64, errMsg string) error {
	_, err := q.exec(ctx, `UPDATE jobs SET lease_until = NULL, updated_at = ?,
			run_at = CASE WHEN generation = ? THEN ? ELSE run_at END,
			last_error = CASE WHEN generation = ? THEN ? ELSE last_error END
		WHERE kind = ? AND grove_id = ? AND key = ? AND lease_until = ?`,
		q.now(), job.Generation, runAt, job.Generation, nullString(cleanText(errMsg)), job.Kind, job.GroveID, job.Key, job.LeaseUntil)
	return q.db.wrap(err, "retry job")
}

// DeadLetterJob moves a claimed job to team_dlq.
func (q *queries) DeadLetterJob(ctx context.Context, job *hypha.Job, reason string) (*hypha.DeadLetter, error) {
	var payload sql.NullString
	err := q.queryRow(ctx, `DELETE FROM jobs WHERE kind = ? AND grove_id = ? AND key = ? AND generation = ? AND lease_until = ?
		RETURNING payload`, job.Kind, job.GroveID, job.Key, job.Generation, job.LeaseUntil).Scan(&payload)
	if err == sql.ErrNoRows {
		return nil, hypha.Errorf(hypha.EConflict, "job %s %s/%s changed or is no longer claimed; it was not dead-lettered", job.Kind, job.GroveID, job.Key)
	}
	if err != nil {
		return nil, q.db.wrap(err, "dead-letter job")
	}
	d := &hypha.DeadLetter{GroveID: job.GroveID, LeaseID: job.Key, Kind: job.Kind, TableName: job.TableName, RowID: job.RecordID,
		MachineID: job.MachineID, Operation: job.Kind, Payload: []byte(payload.String), Reason: cleanText(reason), CreatedAt: q.now()}
	if !payload.Valid || payload.String == "" {
		d.Payload = []byte("{}")
	}
	var op struct {
		Operation string `json:"operation"`
	}
	if json.Unmarshal(d.Payload, &op) == nil && op.Operation != "" {
		d.Operation = op.Operation
	}
	err = q.queryRow(ctx, `INSERT INTO team_dlq (`+deadLetterColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (grove_id, lease_id) DO UPDATE SET kind = excluded.kind, table_name = excluded.table_name,
			row_id = excluded.row_id, machine_id = excluded.machine_id, operation = excluded.operation, payload = excluded.payload,
			reason = excluded.reason, created_at = excluded.created_at, replay_count = team_dlq.replay_count + 1
		RETURNING replay_count`,
		d.GroveID, d.LeaseID, d.Kind, d.TableName, d.RowID, d.MachineID, d.Operation, string(d.Payload), nullString(d.Reason),
		d.CreatedAt).Scan(&d.ReplayCount)
	if err != nil {
		return nil, q.db.wrap(err, "dead-letter job")
	}
	return d, nil
}

func scanDeadLetter(s interface{ Scan(...any) error }) (*hypha.DeadLetter, error) {
	d := &hypha.DeadLetter{}
	var payload string
	var reason sql.NullString
	if err := s.Scan(&d.GroveID, &d.LeaseID, &d.Kind, &d.TableName, &d.RowID, &d.MachineID, &d.Operation, &payload, &reason,
		&d.CreatedAt, &d.ReplayCount); err != nil {
		return nil, err
	}
	d.Payload, d.Reason = []byte(payload), reason.String
	return d, nil
}

// FindDeadLetter returns one dead letter.
func (q *queries) FindDeadLetter(ctx context.Context, groveID, leaseID string) (*hypha.DeadLetter, error) {
	d, err := scanDeadLetter(q.queryRow(ctx, `SELECT `+deadLetterColumns+` FROM team_dlq WHERE grove_id = ? AND lease_id = ?`, groveID, leaseID))
	if err == sql.ErrNoRows {
		return nil, hypha.Errorf(hypha.ENotFound, "no dead letter %q", leaseID)
	}
	if err != nil {
		return nil, q.db.wrap(err, "find dead letter")
	}
	return d, nil
}

// ListDeadLetters lists a grove's dead letters, newest first.
func (q *queries) ListDeadLetters(ctx context.Context, groveID string, limit int) ([]*hypha.DeadLetter, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := q.query(ctx, `SELECT `+deadLetterColumns+` FROM team_dlq WHERE grove_id = ?
		ORDER BY created_at DESC, lease_id DESC LIMIT ?`, groveID, limit)
	if err != nil {
		return nil, q.db.wrap(err, "list dead letters")
	}
	defer rows.Close()
	var out []*hypha.DeadLetter
	for rows.Next() {
		d, err := scanDeadLetter(rows)
		if err != nil {
			return nil, q.db.wrap(err, "list dead letters")
		}
		out = append(out, d)
	}
	return out, q.db.wrap(rows.Err(), "list dead letters")
}

// TakeDeadLetters deletes and returns dead letters.
func (q *queries) TakeDeadLetters(ctx context.Context, groveID string, leaseIDs []string) ([]*hypha.DeadLetter, error) {
	var out []*hypha.DeadLetter
	err := q.deleteDeadLetters(ctx, groveID, leaseIDs, func(rows *sql.Rows) error {
		d, err := scanDeadLetter(rows)
		if err == nil {
			out = append(out, d)
		}
		return err
	}, deadLetterColumns)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(a, b int) bool { return out[a].LeaseID < out[b].LeaseID })
	return out, nil
}

// DeleteDeadLetters deletes dead letters and counts those that existed.
func (q *queries) DeleteDeadLetters(ctx context.Context, groveID string, leaseIDs []string) (int64, error) {
	var n int64
	err := q.deleteDeadLetters(ctx, groveID, leaseIDs, func(rows *sql.Rows) error {
		var id string
		n++
		return rows.Scan(&id)
	}, "lease_id")
	return n, err
}

// deleteDeadLetters deletes the distinct ids in key order and chunks,
// calling fn for every deleted row returned with the given columns.
func (q *queries) deleteDeadLetters(ctx context.Context, groveID string, leaseIDs []string, fn func(*sql.Rows) error, returning string) error {
	ids := slices.Clone(leaseIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return chunks(len(ids), maxListIDs, func(lo, hi int) error {
		args := []any{groveID}
		for _, id := range ids[lo:hi] {
			args = append(args, id)
		}
		rows, err := q.query(ctx, `DELETE FROM team_dlq WHERE grove_id = ? AND lease_id IN `+placeholders(hi-lo)+` RETURNING `+returning, args...)
		if err != nil {
			return q.db.wrap(err, "delete dead letters")
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows); err != nil {
				return q.db.wrap(err, "delete dead letters")
			}
		}
		return q.db.wrap(rows.Err(), "delete dead letters")
	})
}

// CountJobs counts a grove's jobs and dead letters.
func (q *queries) CountJobs(ctx context.Context, groveID string) (hypha.JobCounts, error) {
	var c hypha.JobCounts
	now := q.now()
	err := q.queryRow(ctx, `SELECT COUNT(CASE WHEN lease_until IS NULL OR lease_until <= ? THEN 1 END),
			COUNT(CASE WHEN lease_until > ? THEN 1 END),
			(SELECT COUNT(*) FROM team_dlq WHERE grove_id = ?)
		FROM jobs WHERE grove_id = ?`, now, now, groveID, groveID).Scan(&c.Pending, &c.Leased, &c.DeadLetters)
	return c, q.db.wrap(err, "count jobs")
}

// DeleteMachineJobs deletes a machine's jobs in a grove.
func (q *queries) DeleteMachineJobs(ctx context.Context, groveID, machineID string) (int64, error) {
	res, err := q.exec(ctx, `DELETE FROM jobs WHERE grove_id = ? AND machine_id = ?`, groveID, machineID)
	if err != nil {
		return 0, q.db.wrap(err, "delete machine jobs")
	}
	n, err := res.RowsAffected()
	return n, q.db.wrap(err, "delete machine jobs")
}

// AddSyncStats adds a delta to a grove's statistics.
func (q *queries) AddSyncStats(ctx context.Context, groveID string, d hypha.SyncStats) error {
	_, err := q.exec(ctx, `INSERT INTO team_sync_stats (grove_id, enqueued, processed, failed, last_run_at, last_error, embed_ok,
			embed_failed, last_embed_error, last_embed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (grove_id) DO UPDATE SET enqueued = team_sync_stats.enqueued + excluded.enqueued,
			processed = team_sync_stats.processed + excluded.processed, failed = team_sync_stats.failed + excluded.failed,
			last_run_at = COALESCE(excluded.last_run_at, team_sync_stats.last_run_at),
			last_error = COALESCE(excluded.last_error, team_sync_stats.last_error),
			embed_ok = team_sync_stats.embed_ok + excluded.embed_ok, embed_failed = team_sync_stats.embed_failed + excluded.embed_failed,
			last_embed_error = COALESCE(excluded.last_embed_error, team_sync_stats.last_embed_error),
			last_embed_at = COALESCE(excluded.last_embed_at, team_sync_stats.last_embed_at)`,
		groveID, d.Enqueued, d.Processed, d.Failed, nullInt(d.LastRunAt), nullString(cleanText(d.LastError)), d.EmbedOK,
		d.EmbedFailed, nullString(cleanText(d.LastEmbedError)), nullInt(d.LastEmbedAt))
	return q.db.wrap(err, "add sync stats")
}

// FindSyncStats returns a grove's statistics, zero if it has none.
func (q *queries) FindSyncStats(ctx context.Context, groveID string) (*hypha.SyncStats, error) {
	s := &hypha.SyncStats{}
	var lastRun, lastEmbed sql.NullInt64
	var lastErr, lastEmbedErr sql.NullString
	err := q.queryRow(ctx, `SELECT enqueued, processed, failed, last_run_at, last_error, embed_ok, embed_failed, last_embed_error,
		last_embed_at FROM team_sync_stats WHERE grove_id = ?`, groveID).Scan(&s.Enqueued, &s.Processed, &s.Failed, &lastRun,
		&lastErr, &s.EmbedOK, &s.EmbedFailed, &lastEmbedErr, &lastEmbed)
	if err == sql.ErrNoRows {
		return s, nil
	}
	if err != nil {
		return nil, q.db.wrap(err, "find sync stats")
	}
	s.LastRunAt, s.LastError, s.LastEmbedAt, s.LastEmbedError = lastRun.Int64, lastErr.String, lastEmbed.Int64, lastEmbedErr.String
	return s, nil
}

// ResetSyncStats zeroes a grove's statistics.
func (q *queries) ResetSyncStats(ctx context.Context, groveID string) error {
	_, err := q.exec(ctx, `DELETE FROM team_sync_stats WHERE grove_id = ?`, groveID)
	return q.db.wrap(err, "reset sync stats")
}

// payloadText stores a JSON payload as text, NULL when empty.
func payloadText(p []byte) any {
	if len(p) == 0 {
		return nil
	}
	return string(p)
}

// cleanText makes s storable in a TEXT column of both engines (valid
// UTF-8, no NUL) and bounds its length.
func cleanText(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
