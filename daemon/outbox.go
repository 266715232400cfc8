package daemon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// OutboxRow is one record waiting for the team server.
type OutboxRow struct {
	Seq       int64
	Table     string
	MachineID string
	RecordID  string
	Operation string
	Payload   json.RawMessage
	CreatedAt int64 // epoch ms
}

// OutboxBatch returns up to limit rows in the order they were written.
func (s *Store) OutboxBatch(ctx context.Context, limit int) ([]OutboxRow, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, table_name, machine_id, record_id, operation, payload, created_at
		FROM outbox ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, s.wrap(err, "read outbox")
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var r OutboxRow
		var payload string
		if err := rows.Scan(&r.Seq, &r.Table, &r.MachineID, &r.RecordID, &r.Operation, &payload, &r.CreatedAt); err != nil {
			return nil, s.wrap(err, "read outbox")
		}
		r.Payload = json.RawMessage(payload)
		out = append(out, r)
	}
	return out, s.wrap(rows.Err(), "read outbox")
}

// Rejected is one outbox row the server refused, with its reason.
type Rejected struct {
	Row   OutboxRow
	Error string
}

// Settle records the answer of a batch in one transaction: accepted rows
// leave the outbox, rejected ones move to rejections. Rows are deleted by
// their seq, so a record written again while the batch was in flight (a
// new seq) stays queued. success marks the time of the last accepted batch.
func (s *Store) Settle(ctx context.Context, accepted []int64, rejected []Rejected, success bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err, "begin settle")
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	now := s.now().UnixMilli()
	for lo := 0; lo < len(accepted); lo += 500 {
		chunk := accepted[lo:min(lo+500, len(accepted))]
		args := make([]any, len(chunk))
		for i, seq := range chunk {
			args[i] = seq
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return s.wrap(err, "settle outbox")
		}
	}
	for _, r := range rejected {
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq = ?`, r.Row.Seq)
		if err != nil {
			return s.wrap(err, "settle outbox")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // written again meanwhile: the new write is what counts
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rejections (table_name, machine_id, record_id, operation, payload, error, rejected_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.Row.Table, r.Row.MachineID, r.Row.RecordID, r.Row.Operation, string(r.Row.Payload),
			truncateText(r.Error, 2000), now); err != nil {
			return s.wrap(err, "record rejection")
		}
	}
	if success {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_state (key, value) VALUES ('last_success_at', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, strconv.FormatInt(now, 10)); err != nil {
			return s.wrap(err, "record sync")
		}
	}
	return s.wrap(tx.Commit(), "commit settle")
}

// RecordFailure notes a failed call to the team server; failures older than
// a day are pruned at the same time.
func (s *Store) RecordFailure(ctx context.Context, stage string, status int, msg string) error {
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err, "begin record failure")
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `DELETE FROM sync_failures WHERE at < ?`, now.Add(-24*time.Hour).UnixMilli()); err != nil {
		return s.wrap(err, "prune failures")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sync_failures (at, stage, http_status, error) VALUES (?, ?, ?, ?)`,
		now.UnixMilli(), stage, status, truncateText(msg, 2000)); err != nil {
		return s.wrap(err, "record failure")
	}
	return s.wrap(tx.Commit(), "commit failure")
}

// Rejection is a record the server refused.
type Rejection struct {
	Table      string `json:"table"`
	ID         string `json:"id"`
	Operation  string `json:"operation"`
	Error      string `json:"error"`
	RejectedAt string `json:"rejected_at"`
}

// OutboxStats is what the status shows of a local store.
type OutboxStats struct {
	Depth            int64       `json:"depth"`
	OldestAt         string      `json:"oldest_at,omitempty"`
	LastSuccessAt    string      `json:"last_successful_sync,omitempty"`
	Failures24h      int64       `json:"failures_last_24h"`
	LastFailure      string      `json:"last_failure,omitempty"`
	RejectedTotal    int64       `json:"rejected_total"`
	RecentRejections []Rejection `json:"recent_rejections,omitempty"`
}

// Stats reads the outbox depth, the last accepted batch, the failures of
// the last 24 hours and the latest rejections.
func (s *Store) Stats(ctx context.Context) (*OutboxStats, error) {
	// One read transaction: the figures come from one snapshot.
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, s.wrap(err, "read outbox")
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	st := &OutboxStats{}
	var oldest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM outbox`).Scan(&st.Depth, &oldest); err != nil {
		return nil, s.wrap(err, "read outbox")
	}
	st.OldestAt = msTime(oldest.Int64)
	var v string
	err = tx.QueryRowContext(ctx, `SELECT value FROM sync_state WHERE key = 'last_success_at'`).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, s.wrap(err, "read sync state")
	}
	if n, _ := strconv.ParseInt(v, 10, 64); n > 0 {
		st.LastSuccessAt = msTime(n)
	}
	since := s.now().Add(-24 * time.Hour).UnixMilli()
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sync_failures WHERE at >= ?`, since).Scan(&st.Failures24h); err != nil {
		return nil, s.wrap(err, "read failures")
	}
	if st.Failures24h > 0 {
		var msg string
		var at int64
		if err := tx.QueryRowContext(ctx, `SELECT error, at FROM sync_failures ORDER BY id DESC LIMIT 1`).Scan(&msg, &at); err == nil {
			st.LastFailure = msTime(at) + " " + msg
		}
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rejections`).Scan(&st.RejectedTotal); err != nil {
		return nil, s.wrap(err, "read rejections")
	}
	if st.RejectedTotal > 0 {
		if st.RecentRejections, err = rejections(ctx, s, tx, 5); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Rejections returns the latest limit rejections, newest first.
func (s *Store) Rejections(ctx context.Context, limit int) ([]Rejection, error) {
	return rejections(ctx, s, s.rdb, limit)
}

func rejections(ctx context.Context, s *Store, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, limit int) ([]Rejection, error) {
	rows, err := q.QueryContext(ctx, `SELECT table_name, record_id, operation, error, rejected_at FROM rejections ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, s.wrap(err, "read rejections")
	}
	defer rows.Close()
	out := []Rejection{}
	for rows.Next() {
		var r Rejection
		var at int64
		if err := rows.Scan(&r.Table, &r.ID, &r.Operation, &r.Error, &at); err != nil {
			return nil, s.wrap(err, "read rejections")
		}
		r.RejectedAt = msTime(at)
		out = append(out, r)
	}
	return out, s.wrap(rows.Err(), "read rejections")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
