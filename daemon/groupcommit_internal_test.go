package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testProject = "proj_0123456789abcdef0123456789abcdef"

func openTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "local.db")
	st, err := OpenStore(context.Background(), path, "m1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	return st, path
}

func testSpore(id, content string) Write {
	return Write{Table: "spores", Data: map[string]any{"id": id, "project_id": testProject, "content": content}}
}

type putResult struct {
	res []WriteResult
	err error
}

// holdGroup holds the leader slot while the calls start, one after the
// other once the previous one is queued (so the queue keeps their order),
// then lets them go: they are committed as one group.
func holdGroup(t *testing.T, st *Store, calls []func() ([]WriteResult, error)) []putResult {
	t.Helper()
	st.leader <- struct{}{}
	out := make([]putResult, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].res, out[i].err = call()
		}()
		waitQueued(t, st, i+1)
	}
	<-st.leader
	wg.Wait()
	return out
}

func waitQueued(t *testing.T, st *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st.qmu.Lock()
		q := len(st.queue)
		st.qmu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes queued", q, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func put(st *Store, writes ...Write) func() ([]WriteResult, error) {
	return func() ([]WriteResult, error) { return st.PutBatch(context.Background(), writes, false) }
}

func mustGet(t *testing.T, st *Store, id string) *LocalRecord {
	t.Helper()
	rec, err := st.Get(context.Background(), "spores", id)
	if err != nil {
		t.Fatalf("record %s: %v", id, err)
	}
	return rec
}

func TestGroupCommit_ConcurrentWritesCommitTogetherEachWithItsResult(t *testing.T) {
	st, path := openTestStore(t)
	const n = 40
	calls := make([]func() ([]WriteResult, error), n)
	for i := range calls {
		if i%4 == 3 { // some requests carry two records
			calls[i] = put(st, testSpore(fmt.Sprintf("g-%d", i), "a"), testSpore(fmt.Sprintf("g-%d-b", i), "b"))
		} else {
			calls[i] = put(st, testSpore(fmt.Sprintf("g-%d", i), "a"))
		}
	}
	out := holdGroup(t, st, calls)
	seqs := map[int64]bool{}
	for i, r := range out {
		if r.err != nil {
			t.Fatalf("write %d: %v", i, r.err)
		}
		want := 1 + map[bool]int{true: 1}[i%4 == 3]
		if len(r.res) != want || r.res[0].ID != fmt.Sprintf("g-%d", i) {
			t.Fatalf("write %d answered %+v; want its own %d result(s)", i, r.res, want)
		}
		for _, x := range r.res {
			if x.Seq == 0 || seqs[x.Seq] || x.Unchanged {
				t.Fatalf("write %d: result %+v (a seq must be new and its own)", i, x)
			}
			seqs[x.Seq] = true
		}
	}
	if reqs, txs := st.WriteStats(); reqs != n || txs != 1 {
		t.Fatalf("WriteStats = %d requests in %d transactions; want %d in 1", reqs, txs, n)
	}
	// Durable once answered: another connection (another process) sees
	// every table row and its outbox row.
	st2, err := OpenStore(context.Background(), path, "m1")
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	rows, err := st2.OutboxBatch(context.Background(), 1000)
	if err != nil || len(rows) != len(seqs) {
		t.Fatalf("outbox holds %d rows (%v); want %d", len(rows), err, len(seqs))
	}
	for _, r := range rows {
		if !seqs[r.Seq] {
			t.Fatalf("outbox row %d was not answered to any write", r.Seq)
		}
		if rec, err := st2.Get(context.Background(), "spores", r.RecordID); err != nil || !rec.Pending {
			t.Fatalf("record %s: %+v, %v", r.RecordID, rec, err)
		}
	}
}

func TestGroupCommit_AFailingWriteFailsAloneAndKeepsItsAtomicity(t *testing.T) {
	st, _ := openTestStore(t)
	// The statement of record "bad" fails inside the transaction (not at
	// validation), after the request's first record was written.
	if _, err := st.db.Exec(`CREATE TRIGGER refuse_bad BEFORE INSERT ON spores WHEN NEW.id = 'bad'
		BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END`); err != nil {
		t.Fatal(err)
	}
	out := holdGroup(t, st, []func() ([]WriteResult, error){
		put(st, testSpore("ok-1", "x")),
		put(st, testSpore("with-bad", "x"), testSpore("bad", "x")),
		put(st, testSpore("ok-2", "x")),
	})
	if out[0].err != nil || out[2].err != nil {
		t.Fatalf("the good writes failed: %v / %v", out[0].err, out[2].err)
	}
	if out[1].err == nil || !strings.Contains(out[1].err.Error(), "refused by a trigger") {
		t.Fatalf("the failing write answered %+v, %v", out[1].res, out[1].err)
	}
	if reqs, txs := st.WriteStats(); reqs != 3 || txs != 1 {
		t.Fatalf("WriteStats = %d requests in %d transactions; want 3 in 1 (the group committed)", reqs, txs)
	}
	mustGet(t, st, "ok-1")
	mustGet(t, st, "ok-2")
	if _, err := st.Get(context.Background(), "spores", "with-bad"); err == nil {
		t.Fatal("the failed request's first record was kept: its batch is not all or nothing")
	}
	if rows, _ := st.OutboxBatch(context.Background(), 100); len(rows) != 2 {
		t.Fatalf("outbox = %d rows; want the 2 good writes", len(rows))
	}
}

func TestGroupCommit_AGroupThatFailsAsAWholeIsRetriedOneByOne(t *testing.T) {
	st, _ := openTestStore(t)
	// RAISE(ROLLBACK) ends the whole transaction: the group cannot go on,
	// so each write is retried in its own transaction.
	if _, err := st.db.Exec(`CREATE TRIGGER doom BEFORE INSERT ON spores WHEN NEW.id = 'doom'
		BEGIN SELECT RAISE(ROLLBACK, 'doomed'); END`); err != nil {
		t.Fatal(err)
	}
	out := holdGroup(t, st, []func() ([]WriteResult, error){
		put(st, testSpore("a", "x")),
		put(st, testSpore("doom", "x")),
		put(st, testSpore("b", "x")),
	})
	if out[0].err != nil || out[2].err != nil || len(out[0].res) != 1 || out[2].res[0].ID != "b" {
		t.Fatalf("the good writes: %+v %v / %+v %v", out[0].res, out[0].err, out[2].res, out[2].err)
	}
	if out[1].err == nil || !strings.Contains(out[1].err.Error(), "doomed") {
		t.Fatalf("the doomed write answered %+v, %v", out[1].res, out[1].err)
	}
	if reqs, txs := st.WriteStats(); reqs != 2 || txs != 2 {
		t.Fatalf("WriteStats = %d requests in %d transactions; want 2 in 2 (each alone)", reqs, txs)
	}
	mustGet(t, st, "a")
	mustGet(t, st, "b")
	if rows, _ := st.OutboxBatch(context.Background(), 100); len(rows) != 2 {
		t.Fatalf("outbox = %d rows; want 2", len(rows))
	}
}

func TestGroupCommit_AQueuedWriteWithdrawnByItsContextIsNotWritten(t *testing.T) {
	st, _ := openTestStore(t)
	st.leader <- struct{}{} // a group is committing
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := st.PutBatch(ctx, []Write{testSpore("gone", "x")}, false)
		done <- err
	}()
	waitQueued(t, st, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("PutBatch = %v; want context.Canceled", err)
	}
	<-st.leader
	// The next write commits; the withdrawn one is skipped.
	if _, err := st.Put(context.Background(), testSpore("next", "x"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(context.Background(), "spores", "gone"); err == nil {
		t.Fatal("a withdrawn write was committed")
	}
	if reqs, _ := st.WriteStats(); reqs != 1 {
		t.Fatalf("%d requests committed; want 1", reqs)
	}
	st.qmu.Lock()
	defer st.qmu.Unlock()
	if len(st.queue) != 0 {
		t.Fatalf("%d requests left in the queue", len(st.queue))
	}
}

func TestGroupCommit_UnchangedAndForcedInOneGroup(t *testing.T) {
	st, _ := openTestStore(t)
	if _, err := st.Put(context.Background(), testSpore("u", "same"), false); err != nil {
		t.Fatal(err)
	}
	out := holdGroup(t, st, []func() ([]WriteResult, error){
		put(st, testSpore("u", "same")), // unchanged: nothing queued
		func() ([]WriteResult, error) {
			return st.PutBatch(context.Background(), []Write{testSpore("u", "same")}, true)
		},
		put(st, testSpore("u", "changed")), // sees the forced write, replaces its outbox row
	})
	if out[0].err != nil || !out[0].res[0].Unchanged {
		t.Fatalf("unchanged write: %+v, %v", out[0].res, out[0].err)
	}
	if out[1].err != nil || out[1].res[0].Unchanged || out[2].err != nil || out[2].res[0].Unchanged || out[2].res[0].Seq <= out[1].res[0].Seq {
		t.Fatalf("forced then changed: %+v %v / %+v %v", out[1].res, out[1].err, out[2].res, out[2].err)
	}
	rows, _ := st.OutboxBatch(context.Background(), 100)
	if len(rows) != 1 || rows[0].Seq != out[2].res[0].Seq || !strings.Contains(string(rows[0].Payload), "changed") {
		t.Fatalf("outbox = %+v; want only the last write", rows)
	}
}

func TestAppendWireRecord_MatchesJSONMarshal(t *testing.T) {
	h := `h"<&>`
	for _, c := range []struct {
		table, op, id, machine string
		hash                   *string
		data                   string
	}{
		{"spores", OpUpsert, "sp-1", "m1", nil, `{"a":1}`},
		{"plans", OpDelete, "id with \"quotes\" <and> & \u2028 é", "machine\\1", &h, `{}`},
	} {
		want, err := json.Marshal(wireRecord{Table: c.table, Operation: c.op, ID: c.id, MachineID: c.machine, ContentHash: c.hash, Data: json.RawMessage(c.data)})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendWireRecord(nil, c.table, c.op, c.id, c.machine, c.hash, []byte(c.data)); string(got) != string(want) {
			t.Fatalf("appendWireRecord = %s\nwant %s", got, want)
		}
	}
}
