package daemon_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/daemon"
	"github.com/hyphateam/hypha/migrate"
)

func openStore(t *testing.T, migrateTo int) *daemon.Store {
	t.Helper()
	st, err := daemon.OpenStore(context.Background(), filepath.Join(t.TempDir(), "local.db"), "m1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if migrateTo >= 0 {
		if _, err := st.Migrate(context.Background(), migrateTo); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func depth(t *testing.T, st *daemon.Store) int64 {
	t.Helper()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Depth
}

func TestStore_WriteUpdatesTableAndOutboxTogether(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, 0)
	res, err := st.Put(ctx, daemon.Write{Table: "spores", Data: spore(1, "first")}, false)
	if err != nil || res.ID != "sp-1" || res.Unchanged || res.Seq == 0 {
		t.Fatalf("Put = %+v, %v", res, err)
	}
	rec, err := st.Get(ctx, "spores", "sp-1")
	if err != nil || !rec.Pending || rec.ProjectID != project || !strings.Contains(string(rec.Data), "spore first") {
		t.Fatalf("Get = %+v, %v", rec, err)
	}
	t.Run("a second write of the record replaces its pending outbox row", func(t *testing.T) {
		if _, err := st.Put(ctx, daemon.Write{Table: "spores", Data: spore(1, "second")}, false); err != nil {
			t.Fatal(err)
		}
		rows, err := st.OutboxBatch(ctx, 100)
		if err != nil || len(rows) != 1 || !strings.Contains(string(rows[0].Payload), "spore second") || rows[0].Seq <= res.Seq {
			t.Fatalf("outbox = %+v, %v; want one row with the second write and a newer seq", rows, err)
		}
	})
	t.Run("an unchanged record queues nothing unless forced", func(t *testing.T) {
		rows, _ := st.OutboxBatch(ctx, 100)
		if err := st.Settle(ctx, []int64{rows[0].Seq}, nil, true); err != nil {
			t.Fatal(err)
		}
		r, err := st.Put(ctx, daemon.Write{Table: "spores", Data: spore(1, "second")}, false)
		if err != nil || !r.Unchanged || depth(t, st) != 0 {
			t.Fatalf("Put unchanged = %+v, %v, depth %d", r, err, depth(t, st))
		}
		if r, err := st.Put(ctx, daemon.Write{Table: "spores", Data: spore(1, "second")}, true); err != nil || r.Unchanged || depth(t, st) != 1 {
			t.Fatalf("forced Put = %+v, %v, depth %d", r, err, depth(t, st))
		}
	})
	t.Run("a delete removes the row and queues a delete with the record's project", func(t *testing.T) {
		if _, err := st.Put(ctx, daemon.Write{Table: "spores", ID: "sp-1", Operation: daemon.OpDelete}, false); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, "spores", "sp-1"); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("Get after delete: %v", err)
		}
		rows, _ := st.OutboxBatch(ctx, 100)
		var w struct {
			Operation string         `json:"operation"`
			Data      map[string]any `json:"data"`
		}
		if len(rows) != 1 || json.Unmarshal(rows[0].Payload, &w) != nil || w.Operation != "delete" || w.Data["project_id"] != project {
			t.Fatalf("outbox = %+v", rows)
		}
	})
	t.Run("the table write rolls back when the outbox write fails", func(t *testing.T) {
		// A trigger makes the outbox insert fail inside the transaction.
		sqlExec(t, st, `CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox is full'); END`)
		defer sqlExec(t, st, `DROP TRIGGER fail_outbox`)
		if _, err := st.Put(ctx, daemon.Write{Table: "plans", Data: map[string]any{"id": "pl-1", "project_id": project, "content": "x"}}, false); err == nil {
			t.Fatal("Put succeeded although the outbox write failed")
		}
		if _, err := st.Get(ctx, "plans", "pl-1"); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("the plan was written without its outbox row: %v", err)
		}
	})
	t.Run("a batch is all or nothing", func(t *testing.T) {
		before := depth(t, st)
		_, err := st.PutBatch(ctx, []daemon.Write{{Table: "spores", Data: spore(7, "ok")}, {Table: "spores", Data: map[string]any{"id": "bad"}}}, false)
		if hypha.ErrorCode(err) != hypha.EInvalid || !strings.Contains(err.Error(), "record 2") {
			t.Fatalf("PutBatch = %v; want invalid naming record 2", err)
		}
		if depth(t, st) != before {
			t.Fatal("a refused batch queued records")
		}
	})
}

func TestStore_RefusesWhatTheServerWould(t *testing.T) {
	st := openStore(t, 0)
	for _, tt := range []struct {
		name string
		w    daemon.Write
		want string
	}{
		{"unknown table", daemon.Write{Table: "nope", Data: spore(1, "")}, `Unknown table: "nope"`},
		{"no id", daemon.Write{Table: "spores", Data: map[string]any{"project_id": project}}, "needs an id"},
		{"no project", daemon.Write{Table: "spores", Data: map[string]any{"id": "x"}}, "Invalid project_id: expected proj_<32 hex chars>, got undefined"},
		{"a path as project", daemon.Write{Table: "spores", Data: map[string]any{"id": "x", "project_id": "/Users/x/repo"}}, `got "/Users/x/repo"`},
		{"bad operation", daemon.Write{Table: "spores", Operation: "embed", Data: spore(1, "")}, "Unknown operation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.Put(context.Background(), tt.w, false)
			if hypha.ErrorCode(err) != hypha.EInvalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Put = %v; want invalid containing %q", err, tt.want)
			}
		})
	}
	// Machine-scoped tables need no project.
	if _, err := st.Put(context.Background(), daemon.Write{Table: "team_members", Data: map[string]any{"id": "alice", "user": "alice"}}, false); err != nil {
		t.Fatal(err)
	}
	if depth(t, st) != 1 {
		t.Fatal("the refused writes queued something")
	}
}

func TestStore_Schema(t *testing.T) {
	ctx := context.Background()
	steps, err := daemon.Steps()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("every synced table has a local table", func(t *testing.T) {
		st := openStore(t, 0)
		for _, tbl := range hypha.SyncedTables {
			if _, err := st.CountRecords(ctx, tbl.Name); err != nil {
				t.Errorf("table %s: %v", tbl.Name, err)
			}
		}
	})
	t.Run("a store behind the binary says what to run, and migrating fixes it", func(t *testing.T) {
		st := openStore(t, 1)
		r, err := st.SchemaStatus(ctx)
		if err != nil || r.State != migrate.StateBehind || r.Current != 1 || r.Target != len(steps) {
			t.Fatalf("status = %+v, %v", r, err)
		}
		p := daemon.SchemaProblem("g1", r)
		if !strings.Contains(p, "run `hypha daemon migrate --grove g1`") || !strings.Contains(p, "at schema version 1") {
			t.Fatalf("problem = %q", p)
		}
		done, err := st.Migrate(ctx, 0)
		if err != nil || len(done) != len(steps)-1 {
			t.Fatalf("Migrate = %v, %v", done, err)
		}
		if r, _ := st.SchemaStatus(ctx); r.State != migrate.StateCurrent || daemon.SchemaProblem("g1", r) != "" {
			t.Fatalf("after migrate: %+v", r)
		}
		if done, err := st.Migrate(ctx, 0); err != nil || len(done) != 0 {
			t.Fatalf("second Migrate = %v, %v", done, err)
		}
	})
	t.Run("a changed step is incompatible", func(t *testing.T) {
		st := openStore(t, 0)
		sqlExec(t, st, `UPDATE daemon_migrations SET checksum = 'edited' WHERE version = 1`)
		r, _ := st.SchemaStatus(ctx)
		if r.State != migrate.StateIncompatible || !strings.Contains(daemon.SchemaProblem("g1", r), "changed incompatibly") {
			t.Fatalf("status = %+v", r)
		}
	})
}
