// Package storetest is the behaviour suite every hypha.Store must pass. The
// engine packages run it from their tests (sqlite/, postgres/), each opening
// real, isolated, migrated databases; the suite is black-box and uses only
// the hypha interfaces.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testclock"

	"github.com/hyphateam/hypha"
)

// OpenFunc returns a migrated, empty store whose clock is clock. It is
// called once per subtest, from the subtest, and must arrange for the store
// to be closed at the end of t.
type OpenFunc func(t *testing.T, clock func() time.Time) hypha.Store

// Run runs the whole suite. Every subtest opens a store of its own with a
// fixed clock, so subtests run in parallel.
func Run(t *testing.T, open OpenFunc) {
	t.Run("Store", func(t *testing.T) { testStore(t, open) })
	t.Run("Groves", func(t *testing.T) { testGroves(t, open) })
	t.Run("Projects", func(t *testing.T) { testProjects(t, open) })
	t.Run("Nodes", func(t *testing.T) { testNodes(t, open) })
	t.Run("TeamConfig", func(t *testing.T) { testTeamConfig(t, open) })
	t.Run("Records", func(t *testing.T) { testRecords(t, open) })
	t.Run("RecordBatches", func(t *testing.T) { testRecordBatches(t, open) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("KV", func(t *testing.T) { testKV(t, open) })
	t.Run("KVCompareAndSet", func(t *testing.T) { testKVCompareAndSet(t, open) })
	t.Run("KVList", func(t *testing.T) { testKVList(t, open) })
	t.Run("Embeddings", func(t *testing.T) { testEmbeddings(t, open) })
	t.Run("Reindex", func(t *testing.T) { testReindex(t, open) })
	t.Run("Lookups", func(t *testing.T) { testLookups(t, open) })
	t.Run("Jobs", func(t *testing.T) { testJobs(t, open) })
	t.Run("TeamKeys", func(t *testing.T) { testTeamKeys(t, open) })
	t.Run("SearchIndex", func(t *testing.T) { testSearchIndex(t, open) })
	t.Run("SearchChanges", func(t *testing.T) { testSearchChanges(t, open) })
	t.Run("Sharing", func(t *testing.T) { testSharing(t, open) })
	t.Run("Manifest", func(t *testing.T) { testManifest(t, open) })
}

func testStore(t *testing.T, open OpenFunc) {
	t.Run("EngineIsKnown", func(t *testing.T) {
		s, _ := setup(t, open)
		if e := s.Engine(); e != "sqlite" && e != "postgres" {
			t.Fatalf("Engine() = %q, want sqlite or postgres", e)
		}
	})
	t.Run("NowIsTheGivenClock", func(t *testing.T) {
		s, c := setup(t, open)
		if got, want := s.Now(), c.Now(); !got.Equal(want) {
			t.Fatalf("Now() = %v, want the fixed clock's %v", got, want)
		}
		c.Advance(time.Hour)
		if got, want := s.Now(), c.Now(); !got.Equal(want) {
			t.Fatalf("after Advance, Now() = %v, want %v", got, want)
		}
	})
}

var start = testclock.Start

// setup marks t parallel and opens a store of its own on a fixed clock.
func setup(t *testing.T, open OpenFunc) (hypha.Store, *testclock.Clock) {
	t.Helper()
	t.Parallel()
	c := testclock.NewClock()
	s := open(t, c.Now)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	return s, c
}

// mustGrove creates a grove or fails the test.
func mustGrove(t testing.TB, s hypha.Queries, id string) {
	t.Helper()
	if _, err := s.EnsureGrove(t.Context(), &hypha.Grove{ID: id, Name: "Grove " + id}); err != nil {
		t.Fatalf("EnsureGrove(%s): %v", id, err)
	}
}

// table returns the synced table with the given name or fails the test.
func table(t testing.TB, name string) *hypha.Table {
	t.Helper()
	tb := hypha.LookupTable(name)
	if tb == nil {
		t.Fatalf("no synced table %q", name)
	}
	return tb
}

// record builds a record of the named table from data or fails the test.
func record(t testing.TB, tableName, grove, machine, id string, data map[string]any) *hypha.Record {
	t.Helper()
	r, err := hypha.NewRecord(table(t, tableName), grove, machine, id, data)
	if err != nil {
		t.Fatalf("NewRecord(%s %s/%s/%s): %v", tableName, grove, machine, id, err)
	}
	return r
}

// key returns the key of a row of the named table.
func key(t testing.TB, tableName, grove, machine, id string) hypha.RecordKey {
	t.Helper()
	return hypha.RecordKey{Table: table(t, tableName), GroveID: grove, MachineID: machine, ID: id}
}

// projectID returns a well-formed project id derived from n.
func projectID(n int) string { return fmt.Sprintf("proj_%032x", n) }

func mustUpsert(t testing.TB, s hypha.Queries, recs ...*hypha.Record) []bool {
	t.Helper()
	written, err := s.UpsertRecords(t.Context(), recs)
	if err != nil {
		t.Fatalf("UpsertRecords(%d records): %v", len(recs), err)
	}
	if len(written) != len(recs) {
		t.Fatalf("UpsertRecords returned %d flags for %d records", len(written), len(recs))
	}
	return written
}

func mustFind(t testing.TB, s hypha.Queries, k hypha.RecordKey) *hypha.Record {
	t.Helper()
	r, err := s.FindRecord(t.Context(), k)
	if err != nil {
		t.Fatalf("FindRecord(%s %s/%s/%s): %v", k.Table.Name, k.GroveID, k.MachineID, k.ID, err)
	}
	return r
}

// wantCode fails the test unless err carries the given error code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %q", code)
	}
	if got := hypha.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (error: %v)", got, code, err)
	}
}

// wantConflict fails the test unless err is a *hypha.ConflictError on key
// with the given expected and actual versions.
func wantConflict(t testing.TB, err error, key string, expected, actual int64) {
	t.Helper()
	var ce *hypha.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want *hypha.ConflictError", err, err)
	}
	if hypha.ErrorCode(err) != hypha.EConflict {
		t.Fatalf("ErrorCode = %q, want %q", hypha.ErrorCode(err), hypha.EConflict)
	}
	if ce.Key != key || ce.Expected != expected || ce.Actual != actual {
		t.Fatalf("conflict = {Key:%q Expected:%d Actual:%d}, want {Key:%q Expected:%d Actual:%d}",
			ce.Key, ce.Expected, ce.Actual, key, expected, actual)
	}
}

// sameRecord fails the test unless got holds what want wrote: key, project,
// every declared value (same Go type), synced_at and extra.
func sameRecord(t testing.TB, got, want *hypha.Record) {
	t.Helper()
	if got.Table != want.Table {
		t.Fatalf("table = %v, want %s", got.Table, want.Table.Name)
	}
	if got.GroveID != want.GroveID || got.MachineID != want.MachineID || got.ID != want.ID {
		t.Fatalf("key = %s/%s/%s, want %s/%s/%s", got.GroveID, got.MachineID, got.ID, want.GroveID, want.MachineID, want.ID)
	}
	if got.ProjectID != want.ProjectID {
		t.Errorf("project_id = %q, want %q", got.ProjectID, want.ProjectID)
	}
	if got.ContentHash != want.ContentHash {
		t.Errorf("content hash = %q, want %q", got.ContentHash, want.ContentHash)
	}
	for i, c := range want.Table.Columns {
		if !sameValue(got.Values[i], want.Values[i]) {
			t.Errorf("%s.%s = %#v (%T), want %#v (%T)", want.Table.Name, c.Name, got.Values[i], got.Values[i], want.Values[i], want.Values[i])
		}
	}
	switch {
	case (got.SyncedAt == nil) != (want.SyncedAt == nil):
		t.Errorf("synced_at = %v, want %v", fmtPtr(got.SyncedAt), fmtPtr(want.SyncedAt))
	case got.SyncedAt != nil && *got.SyncedAt != *want.SyncedAt:
		t.Errorf("synced_at = %d, want %d", *got.SyncedAt, *want.SyncedAt)
	}
	if !bytes.Equal(got.Extra, want.Extra) {
		t.Errorf("extra = %q, want %q", got.Extra, want.Extra)
	}
}

// sameValue compares portable values exactly: same Go type and equal value
// (NaN equals NaN).
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || x != x && y != y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return false
}

func fmtPtr(p *int64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}
