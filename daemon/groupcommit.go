package daemon

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// Group commit of local writes.
//
// A local write is one transaction of the record's table row and its outbox
// row, and it is acknowledged only once committed. Committed one by one,
// concurrent writes (agent hooks of several sessions) queue on the store's
// single writer connection and each pays a whole transaction: BEGIN
// IMMEDIATE, its WAL frames (table, outbox, its unique index,
// sqlite_sequence), COMMIT. Instead, each write joins a queue and the first
// writer to find the connection free becomes the leader: it takes every
// write queued so far (up to maxGroupWrites records) and applies them in one
// transaction, each inside its own savepoint, then commits once and answers
// each with its own result. Writes arriving meanwhile wait for the next
// leader, so the groups grow with the load and a lone write commits at
// once (no timer, no added latency).
//
//   - Atomicity per request: a request whose statements fail is rolled back
//     to its savepoint and answered with its error; the rows of the others
//     stay and commit.
//   - Durability: nobody is answered before the group's COMMIT returned.
//   - If the group's transaction itself fails (BEGIN, a savepoint, COMMIT),
//     nothing of it committed, and every request is retried alone in its
//     own transaction, as if it had come by itself.
//   - A caller whose context ends while its request is still queued
//     withdraws it; once a leader took it, the caller waits for its result
//     (bounded by the busy timeout), so an answer never lies about a commit.

// maxGroupWrites bounds the records of one group transaction.
const maxGroupWrites = 1000

// writeReq is one PutBatch waiting to be committed.
type writeReq struct {
	ps    []*prepared
	force bool
	state atomic.Int32 // reqQueued, reqTaken or reqWithdrawn
	done  chan struct{}
	res   []WriteResult
	err   error
}

const (
	reqQueued int32 = iota
	reqTaken
	reqWithdrawn
)

// groupCommit is the Store's queue of writes and its prepared statements.
type groupCommit struct {
	leader chan struct{} // capacity 1: held by the leader
	qmu    sync.Mutex
	queue  []*writeReq

	stmtMu       sync.Mutex
	tableStmts   map[string]*tableStmts // by table; filled before a group begins
	outboxInsert *sql.Stmt
	savepoint    [3]*sql.Stmt // SAVEPOINT, ROLLBACK TO, RELEASE
	txs          atomic.Int64 // write transactions committed
	requests     atomic.Int64 // requests (PutBatch calls) they committed
}

// tableStmts are the prepared statements of one synced table.
type tableStmts struct {
	upsert, selProject, del *sql.Stmt
}

func (g *groupCommit) init() {
	g.leader = make(chan struct{}, 1)
	g.tableStmts = map[string]*tableStmts{}
}

// submit queues r and returns its result once committed.
func (s *Store) submit(ctx context.Context, r *writeReq) ([]WriteResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.qmu.Lock()
	s.queue = append(s.queue, r)
	s.qmu.Unlock()
	for {
		select {
		case <-r.done:
			return r.res, r.err
		case s.leader <- struct{}{}:
			s.lead(r)
		case <-ctx.Done():
			if r.state.CompareAndSwap(reqQueued, reqWithdrawn) {
				return nil, ctx.Err()
			}
			<-r.done // a leader has it: its outcome is the answer
			return r.res, r.err
		}
	}
}

// lead commits the queue unless a previous leader already answered r, and
// gives the leader slot back, even on a panic.
func (s *Store) lead(r *writeReq) {
	defer func() { <-s.leader }()
	select {
	case <-r.done: // a previous leader committed it
	default:
		s.commitQueued()
	}
}

// commitQueued takes the writes queued so far (up to maxGroupWrites
// records), commits them and answers each. The caller is the leader.
func (s *Store) commitQueued() {
	s.qmu.Lock()
	n, records := 0, 0
	for n < len(s.queue) && (n == 0 || records+len(s.queue[n].ps) <= maxGroupWrites) {
		records += len(s.queue[n].ps)
		n++
	}
	taken := make([]*writeReq, 0, n)
	for _, r := range s.queue[:n] {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			taken = append(taken, r)
		}
	}
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	s.qmu.Unlock()
	if len(taken) == 0 {
		return
	}
	answered := false
	defer func() {
		if !answered { // a panic: nobody may wait forever
			for _, r := range taken {
				r.res, r.err = nil, errors.New("local write aborted by an internal error")
				close(r.done)
			}
		}
	}()
	// The group's outcome must not depend on one caller's context: others'
	// writes are in the same transaction.
	ctx := context.Background()
	ready := make([]*writeReq, 0, len(taken))
	for _, r := range taken {
		if r.err = s.prepareStmts(ctx, r); r.err == nil {
			ready = append(ready, r)
		}
	}
	if len(ready) == 1 {
		ready[0].res, ready[0].err = s.applyAlone(ctx, ready[0])
	} else if len(ready) > 1 {
		if err := s.applyGroup(ctx, ready); err != nil {
			for _, r := range ready {
				r.res, r.err = s.applyAlone(ctx, r)
			}
		}
	}
	answered = true
	for _, r := range taken {
		close(r.done)
	}
}

// applyAlone commits one request in its own transaction.
func (s *Store) applyAlone(ctx context.Context, r *writeReq) ([]WriteResult, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.wrap(err, "begin local write")
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := s.apply(ctx, tx, r, s.now().UnixMilli())
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, s.wrap(err, "commit local write")
	}
	s.txs.Add(1)
	s.requests.Add(1)
	return res, nil
}

// applyGroup commits several requests in one transaction, each in its own
// savepoint, and sets each one's result. An error means the transaction
// failed as a whole and nothing committed.
func (s *Store) applyGroup(ctx context.Context, reqs []*writeReq) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err, "begin local write")
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	sp, rollbackTo, release := tx.StmtContext(ctx, s.savepoint[0]), tx.StmtContext(ctx, s.savepoint[1]), tx.StmtContext(ctx, s.savepoint[2])
	now := s.now().UnixMilli()
	for _, r := range reqs {
		r.res, r.err = nil, nil
		if _, err := sp.ExecContext(ctx); err != nil {
			return s.wrap(err, "begin local write")
		}
		res, err := s.apply(ctx, tx, r, now)
		if err != nil {
			// Undo this request's rows only. If even that fails, the
			// transaction is gone (SQLite rolled it back): retry alone.
			if _, rerr := rollbackTo.ExecContext(ctx); rerr != nil {
				return s.wrap(rerr, "roll back a failed local write")
			}
			r.err = err
		} else {
			r.res = res
		}
		if _, err := release.ExecContext(ctx); err != nil {
			return s.wrap(err, "release a local write")
		}
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(err, "commit local write")
	}
	s.txs.Add(1)
	s.requests.Add(int64(len(reqs)))
	return nil
}

// prepareStmts prepares, once, the statements of the tables r writes. It
// runs before the group's transaction: preparing on the store's single
// connection inside it would wait for the connection the transaction holds.
func (s *Store) prepareStmts(ctx context.Context, r *writeReq) error {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	prep := func(q string) (*sql.Stmt, error) {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			return nil, s.wrap(err, "prepare a local write")
		}
		return st, nil
	}
	if s.outboxInsert == nil {
		var err error
		for i, q := range []string{`SAVEPOINT local_write`, `ROLLBACK TO local_write`, `RELEASE local_write`} {
			if s.savepoint[i] == nil {
				if s.savepoint[i], err = prep(q); err != nil {
					return err
				}
			}
		}
		if s.outboxInsert, err = prep(`INSERT OR REPLACE INTO outbox (table_name, machine_id, record_id, operation, payload, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`); err != nil {
			return err
		}
	}
	for _, p := range r.ps {
		name := p.table.Name
		if s.tableStmts[name] != nil {
			continue
		}
		tbl := quoteIdent(name) // from the allowlist hypha.SyncedTables
		var ts tableStmts
		for _, x := range []struct {
			dst **sql.Stmt
			q   string
		}{
			// The 7th parameter is force: update even when the
			// stored data is the same (RowsAffected 0 = unchanged).
			{&ts.upsert, `INSERT INTO ` + tbl + ` (machine_id, id, project_id, content_hash, data, updated_at)
				VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (machine_id, id) DO UPDATE SET project_id = excluded.project_id,
				content_hash = excluded.content_hash, data = excluded.data, updated_at = excluded.updated_at
				WHERE ?7 OR data IS NOT excluded.data`},
			{&ts.selProject, `SELECT project_id FROM ` + tbl + ` WHERE machine_id = ? AND id = ?`},
			{&ts.del, `DELETE FROM ` + tbl + ` WHERE machine_id = ? AND id = ?`},
		} {
			st, err := prep(x.q)
			if err != nil {
				closeAll(ts.upsert, ts.selProject, ts.del)
				return err
			}
			*x.dst = st
		}
		s.tableStmts[name] = &ts
	}
	return nil
}

func closeAll(sts ...*sql.Stmt) {
	for _, st := range sts {
		if st != nil {
			st.Close()
		}
	}
}

func (s *Store) closeStmts() {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	for name, ts := range s.tableStmts {
		closeAll(ts.upsert, ts.selProject, ts.del)
		delete(s.tableStmts, name)
	}
	closeAll(s.outboxInsert, s.savepoint[0], s.savepoint[1], s.savepoint[2])
	s.outboxInsert, s.savepoint = nil, [3]*sql.Stmt{}
}

// WriteStats returns how many write requests (PutBatch calls) the store
// committed, and in how many transactions: fewer transactions than requests
// means concurrent writes were committed together.
func (s *Store) WriteStats() (requests, transactions int64) { return s.requests.Load(), s.txs.Load() }
