package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
)

func testRecordBatches(t *testing.T, open OpenFunc) {
	t.Run("EmptyBatch", func(t *testing.T) {
		s, _ := setup(t, open)
		if w := mustUpsert(t, s); len(w) != 0 {
			t.Fatalf("written = %v for no records", w)
		}
	})
	t.Run("SameKeyTwiceLaterWins", func(t *testing.T) {
		s, _ := setup(t, open)
		early := record(t, "sessions", "g", "m", "s1", map[string]any{"summary": "early", "content_hash": "h1"})
		late := record(t, "sessions", "g", "m", "s1", map[string]any{"summary": "late", "content_hash": "h2"})
		if w := mustUpsert(t, s, early, late); !reflect.DeepEqual(w, []bool{true, true}) {
			t.Fatalf("written = %v, want [true true]", w)
		}
		sameRecord(t, mustFind(t, s, late.Key()), late)
		if n := countRecords(t, s, "g", "")["sessions"]; n != 1 {
			t.Fatalf("%d sessions, want 1", n)
		}
	})
	t.Run("SameKeyTwiceLaterUnchanged", func(t *testing.T) {
		// The batch behaves as if only its later record were written: an
		// unchanged hash writes nothing, and the earlier record shares its fate.
		s, _ := setup(t, open)
		stored := record(t, "sessions", "g", "m", "s1", map[string]any{"summary": "stored", "content_hash": "h1"})
		mustUpsert(t, s, stored)
		early := record(t, "sessions", "g", "m", "s1", map[string]any{"summary": "early", "content_hash": "h2"})
		late := record(t, "sessions", "g", "m", "s1", map[string]any{"summary": "late", "content_hash": "h1"})
		if w := mustUpsert(t, s, early, late); !reflect.DeepEqual(w, []bool{false, false}) {
			t.Fatalf("written = %v, want [false false]", w)
		}
		sameRecord(t, mustFind(t, s, stored.Key()), stored)
	})
	t.Run("MixedTablesAndGroves", func(t *testing.T) {
		s, _ := setup(t, open)
		var recs []*hypha.Record
		for i, tb := range hypha.SyncedTables {
			for _, g := range []string{"a", "b"} {
				recs = append(recs, record(t, tb.Name, g, "m", fmt.Sprintf("r%d", i), fullData(tb, i)))
			}
		}
		for i, w := range mustUpsert(t, s, recs...) {
			if !w {
				t.Fatalf("record %d (%s) was not written", i, recs[i].Table.Name)
			}
		}
		for _, r := range recs {
			sameRecord(t, mustFind(t, s, r.Key()), r)
		}
		for _, g := range []string{"a", "b"} {
			for name, n := range countRecords(t, s, g, "") {
				if n != 1 {
					t.Errorf("grove %s has %d rows in %s, want 1", g, n, name)
				}
			}
		}
	})
	t.Run("LargerThanOneStatement", func(t *testing.T) {
		s, _ := setup(t, open)
		const n = 1200
		tb := table(t, "sessions")
		batch := func(hashSuffix string) []*hypha.Record {
			recs := make([]*hypha.Record, n)
			for i := range recs {
				data := fullData(tb, i)
				data["content_hash"] = fmt.Sprintf("hash-%d%s", i, hashSuffix)
				recs[i] = record(t, "sessions", "g", fmt.Sprintf("m%d", i%3), fmt.Sprintf("s%04d", i), data)
			}
			return recs
		}
		check := func(what string, written []bool, want bool) {
			t.Helper()
			for i, w := range written {
				if w != want {
					t.Fatalf("%s: written[%d] = %v, want %v", what, i, w, want)
				}
			}
		}
		first := batch("")
		check("first upsert", mustUpsert(t, s, first...), true)
		if got := countRecords(t, s, "g", "")["sessions"]; got != n {
			t.Fatalf("%d sessions stored, want %d", got, n)
		}
		for _, i := range []int{0, 1, 332, 333, 334, 599, 600, 666, 667, 999, 1000, n - 1} {
			sameRecord(t, mustFind(t, s, first[i].Key()), first[i])
		}
		check("unchanged upsert", mustUpsert(t, s, batch("")...), false)
		changed := batch("-v2")
		check("changed upsert", mustUpsert(t, s, changed...), true)
		sameRecord(t, mustFind(t, s, changed[n-1].Key()), changed[n-1])
		keys := make([]hypha.RecordKey, n)
		for i, r := range first {
			keys[i] = r.Key()
		}
		deleted, err := s.DeleteRecords(t.Context(), keys)
		if err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		check("delete", deleted, true)
		if got := countRecords(t, s, "g", "")["sessions"]; got != 0 {
			t.Fatalf("%d sessions left after deleting all", got)
		}
	})
}

func testTransactions(t *testing.T, open OpenFunc) {
	t.Run("RollbackOnPanic", func(t *testing.T) {
		// A panic inside InTx rolls back and releases the writer: the
		// next transaction (on SQLite, the same single connection) runs
		// at once and sees nothing of the panicking one.
		s, _ := setup(t, open)
		r := record(t, "spores", "g", "m", "sp-panic", map[string]any{"content": "never"})
		func() {
			defer func() {
				if v := recover(); v == nil {
					t.Fatal("the panic did not come through InTx")
				}
			}()
			_ = s.InTx(t.Context(), func(tx hypha.Queries) error {
				if _, err := tx.UpsertRecords(t.Context(), []*hypha.Record{r}); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := s.InTx(ctx, func(tx hypha.Queries) error {
			return tx.PutTeamConfig(ctx, map[string]string{"after_panic": "1"})
		}); err != nil {
			t.Fatalf("a transaction after a panic: %v", err)
		}
		if _, err := s.FindRecord(t.Context(), r.Key()); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("the panicking transaction's write = %v, want it rolled back", err)
		}
	})
	t.Run("RollbackOnError", func(t *testing.T) {
		s, _ := setup(t, open)
		boom := errors.New("boom")
		r := record(t, "spores", "g", "m", "sp1", map[string]any{"content": "never"})
		err := s.InTx(t.Context(), func(tx hypha.Queries) error {
			steps := []struct {
				name string
				run  func() error
			}{
				{"CreateGrove", func() error { return tx.CreateGrove(t.Context(), &hypha.Grove{ID: "ghost", Name: "Ghost"}) }},
				{"ClaimProjects", func() error {
					_, err := tx.ClaimProjects(t.Context(), hypha.DefaultGroveID, []string{projectID(1)})
					return err
				}},
				{"UpsertNode", func() error { return tx.UpsertNode(t.Context(), &hypha.Node{GroveID: "g", MachineID: "m"}) }},
				{"PutTeamConfig", func() error { return tx.PutTeamConfig(t.Context(), map[string]string{"k": "v"}) }},
				{"UpsertRecords", func() error { _, err := tx.UpsertRecords(t.Context(), []*hypha.Record{r}); return err }},
				{"KVPut", func() error { _, err := tx.KVPut(t.Context(), "k", []byte("v"), hypha.KVPutOptions{}); return err }},
				{"PutEmbeddings", func() error {
					return tx.PutEmbeddings(t.Context(), []*hypha.Embedding{{Key: r.Key(), Model: "m", Vector: []float32{1}}})
				}},
			}
			for _, st := range steps {
				if err := st.run(); err != nil {
					return fmt.Errorf("%s: %w", st.name, err)
				}
			}
			if _, err := tx.FindRecord(t.Context(), r.Key()); err != nil {
				return fmt.Errorf("the transaction does not see its own write: %w", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want the function's error", err)
		}
		notFound := map[string]error{}
		_, notFound["grove"] = s.FindGroveByID(t.Context(), "ghost")
		_, notFound["record"] = s.FindRecord(t.Context(), r.Key())
		_, notFound["kv"] = s.KVGet(t.Context(), "k")
		_, notFound["embedding"] = s.FindEmbedding(t.Context(), r.Key())
		for what, err := range notFound {
			if hypha.ErrorCode(err) != hypha.ENotFound {
				t.Errorf("%s after rollback: %v, want not_found", what, err)
			}
		}
		if ps := projectIDs(t, s, hypha.DefaultGroveID); len(ps) != 0 {
			t.Errorf("projects after rollback: %v", ps)
		}
		if ns := listNodes(t, s, "g"); len(ns) != 0 {
			t.Errorf("nodes after rollback: %+v", ns)
		}
		if cfg, err := s.TeamConfig(t.Context()); err != nil || len(cfg) != 0 {
			t.Errorf("team config after rollback: %v, %v", cfg, err)
		}
	})
	t.Run("RollbackAfterStoreError", func(t *testing.T) {
		s, _ := setup(t, open)
		mustGrove(t, s, "taken")
		err := s.InTx(t.Context(), func(tx hypha.Queries) error {
			if _, err := tx.KVPut(t.Context(), "k", []byte("v"), hypha.KVPutOptions{}); err != nil {
				return err
			}
			return tx.CreateGrove(t.Context(), &hypha.Grove{ID: "taken", Name: "again"})
		})
		wantCode(t, err, hypha.EConflict)
		if _, err := s.KVGet(t.Context(), "k"); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("KVGet after rollback = %v, want not_found", err)
		}
	})
	t.Run("CommitIsAtomic", func(t *testing.T) {
		s, _ := setup(t, open)
		recs := []*hypha.Record{
			record(t, "sessions", "team", "m", "s1", map[string]any{"project_id": projectID(7), "summary": "one"}),
			record(t, "spores", "team", "m", "sp1", map[string]any{"project_id": projectID(7), "content": "two"}),
		}
		var version int64
		err := s.InTx(t.Context(), func(tx hypha.Queries) error {
			if _, err := tx.EnsureGrove(t.Context(), &hypha.Grove{ID: "team", Name: "Team"}); err != nil {
				return err
			}
			if _, err := tx.ClaimProjects(t.Context(), "team", []string{projectID(7)}); err != nil {
				return err
			}
			if _, err := tx.UpsertRecords(t.Context(), recs); err != nil {
				return err
			}
			v, err := tx.KVPut(t.Context(), "sync/team", []byte("done"), hypha.KVPutOptions{IfVersion: new(int64)})
			version = v
			return err
		})
		if err != nil {
			t.Fatalf("InTx: %v", err)
		}
		if _, err := s.FindGroveByID(t.Context(), "team"); err != nil {
			t.Fatalf("grove after commit: %v", err)
		}
		if ps := projectIDs(t, s, "team"); !reflect.DeepEqual(ps, []string{projectID(7)}) {
			t.Fatalf("projects after commit = %v", ps)
		}
		for _, r := range recs {
			sameRecord(t, mustFind(t, s, r.Key()), r)
		}
		e, err := s.KVGet(t.Context(), "sync/team")
		if err != nil || e.Version != version || string(e.Value) != "done" {
			t.Fatalf("KVGet after commit = %+v, %v; want version %d", e, err, version)
		}
	})
}
