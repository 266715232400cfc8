package daemon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/migrate"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Store is a grove's local SQLite store: the synced tables as written on
// this machine, and the outbox of records waiting for the team server.
//
// It keeps one writer connection: SQLite has one writer, and one connection
// cannot deadlock with itself. Local writes are committed in groups by that
// connection (groupcommit.go). Reads (the flusher's outbox batches, status,
// local records) go through a separate pool of read-only connections, which
// WAL lets run beside the writer without waiting for it. Other processes
// (the CLI while no daemon runs, `hypha daemon migrate`) share the file
// through WAL and the busy timeout.
type Store struct {
	path      string
	machineID string
	db        *sql.DB // the writer: one connection
	rdb       *sql.DB // readers (query_only)
	steps     []migrate.Step
	now       func() time.Time

	groupCommit
}

// OpenStore opens (creating if needed) the local store at path for the
// records of machineID. It does not migrate; see Migrate.
func OpenStore(ctx context.Context, path, machineID string) (*Store, error) {
	steps, err := Steps()
	if err != nil {
		return nil, err
	}
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	// synchronous=NORMAL in WAL mode: a committed local write survives the
	// process being killed (kill -9), as on the server.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate&_foreign_keys=1"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("open local store %s (is it a SQLite file?): %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("open local store %s: journal mode is %s, not WAL", path, mode)
	}
	_ = os.Chmod(path, 0o600)
	// Readers: deferred transactions on a query_only connection never take
	// the write lock, and in WAL mode they read the last committed state
	// while the writer commits.
	rdb, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+
		"?_busy_timeout=10000&_txlock=deferred&_query_only=1&_foreign_keys=1")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(maxReaders)
	rdb.SetMaxIdleConns(maxReaders)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	s := &Store{path: path, machineID: machineID, db: db, rdb: rdb, steps: steps, now: time.Now}
	s.groupCommit.init()
	return s, nil
}

// maxReaders bounds the read connections of a store.
const maxReaders = 4

// Close closes the store.
func (s *Store) Close() error {
	s.closeStmts()
	rerr := s.rdb.Close()
	if err := s.db.Close(); err != nil {
		return err
	}
	return rerr
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// MachineID is the machine whose records this store writes.
func (s *Store) MachineID() string { return s.machineID }

func (s *Store) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	var he *hypha.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return hypha.WrapError(hypha.EUnavailable, what, err)
}

// Operations of a local write.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// Write is one local write: an upsert of a record's data, or a delete.
type Write struct {
	Table     string         `json:"table"`
	ID        string         `json:"id,omitempty"`        // taken from data.id when empty
	Operation string         `json:"operation,omitempty"` // upsert (default) or delete
	Data      map[string]any `json:"data,omitempty"`      // the record (upsert); optional for delete
}

// WriteResult says what a local write did.
type WriteResult struct {
	Table     string `json:"table"`
	ID        string `json:"id"`
	Operation string `json:"operation"`
	// Unchanged is true for an upsert whose data equals the stored record:
	// nothing was written and nothing queued (unless forced).
	Unchanged bool  `json:"unchanged"`
	Seq       int64 `json:"seq,omitempty"` // the outbox row queued
}

// wireRecord is one SyncRecord as /enqueue takes it.
type wireRecord struct {
	Table       string          `json:"table"`
	Operation   string          `json:"operation"`
	ID          string          `json:"id"`
	MachineID   string          `json:"machine_id"`
	ContentHash *string         `json:"content_hash"`
	Data        json.RawMessage `json:"data"`
}

// prepared is a validated write.
type prepared struct {
	table     *hypha.Table
	id, op    string
	projectID string
	hash      *string
	data      []byte // canonical JSON of the data object ("{}" for a delete without data)
}

const maxIDBytes = 512

// prepare validates w as the team server would, so a bad record is refused
// at write time instead of entering the outbox.
func prepare(w Write) (*prepared, error) {
	t := hypha.LookupTable(w.Table)
	if t == nil {
		names := make([]string, len(hypha.SyncedTables))
		for i, st := range hypha.SyncedTables {
			names[i] = st.Name
		}
		return nil, hypha.Errorf(hypha.EInvalid, "Unknown table: %q (one of %s)", w.Table, strings.Join(names, ", "))
	}
	op := w.Operation
	if op == "" {
		op = OpUpsert
	}
	if op != OpUpsert && op != OpDelete {
		return nil, hypha.Errorf(hypha.EInvalid, "Unknown operation: %q (expected upsert or delete)", op)
	}
	id := w.ID
	if id == "" {
		switch v := w.Data["id"].(type) {
		case string:
			id = v
		case json.Number:
			id = v.String()
		case float64:
			id = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	if id == "" {
		return nil, hypha.Errorf(hypha.EInvalid, "the record needs an id (give --id or an \"id\" field)")
	}
	if len(id) > maxIDBytes {
		return nil, hypha.Errorf(hypha.EInvalid, "id is %d bytes, over the %d-byte limit", len(id), maxIDBytes)
	}
	if op == OpUpsert && w.Data == nil {
		return nil, hypha.Errorf(hypha.EInvalid, "an upsert needs the record's data as a JSON object")
	}
	p := &prepared{table: t, id: id, op: op}
	pid, hasPID := w.Data[hypha.ColProject]
	if t.Scope == hypha.ScopeProject && (op == OpUpsert || hasPID) {
		s, ok := pid.(string)
		if !ok || !hypha.ProjectIDPattern.MatchString(s) {
			got := "undefined"
			if hasPID {
				b, _ := json.Marshal(pid)
				got = string(b)
			}
			return nil, hypha.Errorf(hypha.EInvalid, "Invalid project_id: expected proj_<32 hex chars>, got %s", got)
		}
		p.projectID = s
	}
	if h, ok := w.Data["content_hash"].(string); ok && h != "" {
		p.hash = &h
	}
	data := w.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data) // maps marshal with sorted keys: a canonical form
	if err != nil {
		return nil, hypha.Errorf(hypha.EInvalid, "the record's data cannot be encoded: %v", err)
	}
	p.data = b
	return p, nil
}

// Put applies one local write: the table row and its outbox row change in
// one transaction.
func (s *Store) Put(ctx context.Context, w Write, force bool) (*WriteResult, error) {
	res, err := s.PutBatch(ctx, []Write{w}, force)
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// PutBatch applies writes in one transaction: all of them or none. An
// upsert whose data equals the stored record writes and queues nothing
// unless force is set (to send again a record the server rejected).
//
// It returns once the transaction has committed (durable in the WAL).
// Concurrent calls are committed together (see groupcommit.go): each keeps
// its own all-or-nothing savepoint and gets its own result.
func (s *Store) PutBatch(ctx context.Context, writes []Write, force bool) ([]WriteResult, error) {
	ps := make([]*prepared, len(writes))
	for i, w := range writes {
		p, err := prepare(w)
		if err != nil {
			if len(writes) > 1 {
				return nil, hypha.Errorf(hypha.ErrorCode(err), "record %d: %s", i+1, hypha.ErrorMessage(err))
			}
			return nil, err
		}
		ps[i] = p
	}
	return s.submit(ctx, &writeReq{ps: ps, force: force, done: make(chan struct{})})
}

// apply runs one request's writes inside tx.
func (s *Store) apply(ctx context.Context, tx *sql.Tx, r *writeReq, now int64) ([]WriteResult, error) {
	out := make([]WriteResult, len(r.ps))
	for i, p := range r.ps {
		out[i] = WriteResult{Table: p.table.Name, ID: p.id, Operation: p.op}
		q := s.tableStmts[p.table.Name]
		data := p.data
		if p.op == OpUpsert {
			// One statement: insert, or update unless the stored data is
			// the same (then nothing is written and nothing queued, unless
			// forced).
			res, err := tx.StmtContext(ctx, q.upsert).ExecContext(ctx, s.machineID, p.id, nullStr(p.projectID), p.hash, string(data), now, r.force)
			if err != nil {
				return nil, s.wrap(err, "write local record")
			}
			if n, err := res.RowsAffected(); err != nil {
				return nil, s.wrap(err, "write local record")
			} else if n == 0 {
				out[i].Unchanged = true
				continue
			}
		} else {
			if p.projectID == "" {
				var pid sql.NullString
				err := tx.StmtContext(ctx, q.selProject).QueryRowContext(ctx, s.machineID, p.id).Scan(&pid)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return nil, s.wrap(err, "read local record")
				}
				if pid.Valid && pid.String != "" {
					// The server checks a delete's project_id when it has one.
					data, _ = json.Marshal(map[string]any{hypha.ColProject: pid.String})
				}
			}
			if _, err := tx.StmtContext(ctx, q.del).ExecContext(ctx, s.machineID, p.id); err != nil {
				return nil, s.wrap(err, "delete local record")
			}
		}
		payload := appendWireRecord(nil, p.table.Name, p.op, p.id, s.machineID, p.hash, data)
		// OR REPLACE deletes the record's pending row and inserts this one
		// with a new seq, so a batch in flight cannot settle it.
		res, err := tx.StmtContext(ctx, s.outboxInsert).ExecContext(ctx, p.table.Name, s.machineID, p.id, p.op, string(payload), now)
		if err == nil {
			out[i].Seq, err = res.LastInsertId() // the rowid, which is seq
		}
		if err != nil {
			return nil, s.wrap(err, "queue local write")
		}
	}
	return out, nil
}

// appendWireRecord appends the SyncRecord /enqueue takes, as
// json.Marshal(wireRecord{…}) encodes it; data is already canonical JSON.
func appendWireRecord(b []byte, table, op, id, machineID string, hash *string, data []byte) []byte {
	str := func(b []byte, v string) []byte {
		enc, _ := json.Marshal(v) // a string always encodes
		return append(b, enc...)
	}
	b = append(b, `{"table":`...)
	b = str(b, table)
	b = append(b, `,"operation":`...)
	b = str(b, op)
	b = append(b, `,"id":`...)
	b = str(b, id)
	b = append(b, `,"machine_id":`...)
	b = str(b, machineID)
	b = append(b, `,"content_hash":`...)
	if hash == nil {
		b = append(b, "null"...)
	} else {
		b = str(b, *hash)
	}
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// LocalRecord is a record as stored on this machine.
type LocalRecord struct {
	Table     string          `json:"table"`
	ID        string          `json:"id"`
	MachineID string          `json:"machine_id"`
	ProjectID string          `json:"project_id,omitempty"`
	Data      json.RawMessage `json:"data"`
	UpdatedAt string          `json:"updated_at"`
	Pending   bool            `json:"pending"` // waiting in the outbox
}

// Get returns this machine's record id of table, or not_found.
func (s *Store) Get(ctx context.Context, table, id string) (*LocalRecord, error) {
	t := hypha.LookupTable(table)
	if t == nil {
		return nil, hypha.Errorf(hypha.EInvalid, "Unknown table: %q", table)
	}
	r := &LocalRecord{Table: t.Name, ID: id, MachineID: s.machineID}
	var pid sql.NullString
	var data string
	var at int64
	err := s.rdb.QueryRowContext(ctx, `SELECT project_id, data, updated_at, EXISTS (SELECT 1 FROM outbox WHERE table_name = ? AND machine_id = ? AND record_id = ?)
		FROM `+quoteIdent(t.Name)+` WHERE machine_id = ? AND id = ?`, t.Name, s.machineID, id, s.machineID, id).Scan(&pid, &data, &at, &r.Pending)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hypha.Errorf(hypha.ENotFound, "no %s record %q in this grove's local store", t.Name, id)
	}
	if err != nil {
		return nil, s.wrap(err, "read local record")
	}
	r.ProjectID, r.Data, r.UpdatedAt = pid.String, json.RawMessage(data), msTime(at)
	return r, nil
}

// CountRecords returns the number of local rows of table.
func (s *Store) CountRecords(ctx context.Context, table string) (int64, error) {
	t := hypha.LookupTable(table)
	if t == nil {
		return 0, hypha.Errorf(hypha.EInvalid, "Unknown table: %q", table)
	}
	var n int64
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.Name)).Scan(&n)
	return n, s.wrap(err, "count local records")
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// msTime formats epoch milliseconds as RFC 3339 (UTC); "" for 0.
func msTime(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}
