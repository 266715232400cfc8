package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/migrate"
	"github.com/hyphateam/hypha/postgres"
)

// The fixture under testdata/notifications is the seed's example of an
// expand-only upgrade: create the table, add grove_id, backfill it, index it.

func fixtureSteps(t *testing.T) []migrate.Step {
	t.Helper()
	steps, err := migrate.Load(os.DirFS("testdata"), "notifications")
	if err != nil {
		t.Fatalf("load fixture steps: %v", err)
	}
	if len(steps) != 4 {
		t.Fatalf("fixture has %d steps, want 4", len(steps))
	}
	return steps
}

// forEachEngine runs fn as a parallel subtest per configured engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			fn(t, engine)
		})
	}
}

func mustExec(t *testing.T, db *sqlstore.DB, query string) {
	t.Helper()
	if _, err := db.WriteDB().ExecContext(t.Context(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func mustUp(t *testing.T, db *sqlstore.DB, steps []migrate.Step, target int) []int {
	t.Helper()
	done, err := migrate.Up(t.Context(), db, steps, target)
	if err != nil {
		t.Fatalf("migrate.Up(target %d): %v", target, err)
	}
	return versions(done)
}

func versions(steps []migrate.Step) []int {
	out := []int{}
	for _, s := range steps {
		out = append(out, s.Version)
	}
	return out
}

func mustStatus(t *testing.T, db *sqlstore.DB, steps []migrate.Step) *migrate.Report {
	t.Helper()
	r, err := migrate.Status(t.Context(), db, steps)
	if err != nil {
		t.Fatalf("migrate.Status: %v", err)
	}
	return r
}

// notifications returns every row as "machine/id body grove", NULL as "∅".
func notifications(t *testing.T, db *sqlstore.DB, withGrove bool) []string {
	t.Helper()
	grove := "NULL"
	if withGrove {
		grove = "grove_id"
	}
	rows, err := db.WriteDB().QueryContext(t.Context(), "SELECT machine_id, id, body, "+grove+" FROM notifications ORDER BY machine_id, id")
	if err != nil {
		t.Fatalf("read notifications: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m, id string
		var body, g sql.NullString
		if err := rows.Scan(&m, &id, &body, &g); err != nil {
			t.Fatalf("scan notifications: %v", err)
		}
		out = append(out, m+"/"+id+" "+nullText(body)+" "+nullText(g))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read notifications: %v", err)
	}
	return out
}

func nullText(s sql.NullString) string {
	if !s.Valid {
		return "∅"
	}
	return s.String
}

func schemaText(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	d, err := db.DescribeSchema(t.Context())
	if err != nil {
		t.Fatalf("DescribeSchema: %v", err)
	}
	return d.String()
}

const fixtureIndex = "index idx_notifications_grove_machine (grove_id, machine_id)"

func TestFixtureUpgradeKeepsData(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine, nil)
		steps := fixtureSteps(t)

		r := mustStatus(t, db, steps)
		if r.State != migrate.StateEmpty || r.OK() || !strings.Contains(r.Problem(), "hypha migrate up") {
			t.Fatalf("empty database: state %s, OK %v, problem %q; want empty, not OK, advice to run `hypha migrate up`", r.State, r.OK(), r.Problem())
		}

		if got := mustUp(t, db, steps, 1); !reflect.DeepEqual(got, []int{1}) {
			t.Fatalf("Up to 1 applied %v", got)
		}
		r = mustStatus(t, db, steps)
		if r.State != migrate.StateBehind || r.Current != 1 || r.Target != 4 || r.OK() ||
			!strings.Contains(r.Problem(), "hypha migrate up") || !strings.Contains(r.Problem(), "0002_add_grove_id") {
			t.Fatalf("at version 1: %+v, problem %q", r, r.Problem())
		}
		mustExec(t, db, `INSERT INTO notifications (machine_id, id, body) VALUES ('m1', 'n1', 'hello; world'), ('m1', 'n2', 'it''s'), ('m2', 'n1', NULL)`)
		before := notifications(t, db, false)

		if got := mustUp(t, db, steps, 2); !reflect.DeepEqual(got, []int{2}) {
			t.Fatalf("Up to 2 applied %v", got)
		}
		if got := notifications(t, db, false); !reflect.DeepEqual(got, before) {
			t.Fatalf("adding a column changed the rows:\n%q\nwant\n%q", got, before)
		}
		mustExec(t, db, `INSERT INTO notifications (machine_id, id, body, grove_id) VALUES ('m3', 'n1', 'new', 'other_grove')`)

		if got := mustUp(t, db, steps, 3); !reflect.DeepEqual(got, []int{3}) {
			t.Fatalf("Up to 3 applied %v", got)
		}
		want := []string{"m1/n1 hello; world user_primary", "m1/n2 it's user_primary", "m2/n1 ∅ user_primary", "m3/n1 new other_grove"}
		if got := notifications(t, db, true); !reflect.DeepEqual(got, want) {
			t.Fatalf("after the backfill:\n%q\nwant\n%q", got, want)
		}
		if strings.Contains(schemaText(t, db), fixtureIndex) {
			t.Fatal("the index exists before its step")
		}

		if got := mustUp(t, db, steps, 0); !reflect.DeepEqual(got, []int{4}) {
			t.Fatalf("Up to the end applied %v", got)
		}
		if got := notifications(t, db, true); !reflect.DeepEqual(got, want) {
			t.Fatalf("after the index:\n%q\nwant\n%q", got, want)
		}
		if s := schemaText(t, db); !strings.Contains(s, fixtureIndex) {
			t.Fatalf("schema lacks %q:\n%s", fixtureIndex, s)
		}
		r = mustStatus(t, db, steps)
		if r.State != migrate.StateCurrent || !r.OK() || r.Problem() != "" || r.Current != 4 || len(r.Pending) != 0 {
			t.Fatalf("after the upgrade: %+v, problem %q; want current", r, r.Problem())
		}
		if got := mustUp(t, db, steps, 0); len(got) != 0 {
			t.Fatalf("a second Up applied %v", got)
		}
	})
}

func TestFixtureStepsAreIdempotent(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine, nil)
		steps := fixtureSteps(t)
		mustUp(t, db, steps, 1)
		mustExec(t, db, `INSERT INTO notifications (machine_id, id, body) VALUES ('m1', 'n1', 'a'), ('m2', 'n2', 'b')`)
		mustUp(t, db, steps, 0)
		rows, schema := notifications(t, db, true), schemaText(t, db)

		// Forget the bookkeeping so every statement of every step runs again.
		mustExec(t, db, `DELETE FROM schema_migrations`)
		if got := mustUp(t, db, steps, 0); !reflect.DeepEqual(got, []int{1, 2, 3, 4}) {
			t.Fatalf("re-running applied %v, want every step", got)
		}
		if got := notifications(t, db, true); !reflect.DeepEqual(got, rows) {
			t.Fatalf("re-running the steps changed the rows:\n%q\nwant\n%q", got, rows)
		}
		if got := schemaText(t, db); got != schema {
			t.Fatalf("re-running the steps changed the schema:\n%s\nwant\n%s", got, schema)
		}
		if r := mustStatus(t, db, steps); r.State != migrate.StateCurrent {
			t.Fatalf("state after re-running = %s, want current", r.State)
		}
	})
}

func TestFixtureChangedStepIsIncompatible(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine, nil)
		steps := fixtureSteps(t)
		mustUp(t, db, steps, 3)

		edited, err := migrate.Parse(2, "add_grove_id", "-- +hypha add-column notifications grove_id TEXT NOT NULL DEFAULT ''\n")
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		changed := append([]migrate.Step{steps[0], edited}, steps[2:]...)
		r := mustStatus(t, db, changed)
		if r.State != migrate.StateIncompatible || r.OK() {
			t.Fatalf("state = %s (OK %v), want incompatible", r.State, r.OK())
		}
		problem := r.Problem()
		for _, want := range []string{"changed incompatibly", "0002_add_grove_id", "backup"} {
			if !strings.Contains(problem, want) {
				t.Errorf("Problem() = %q, want it to mention %q", problem, want)
			}
		}
		done, err := migrate.Up(t.Context(), db, changed, 0)
		if !errors.Is(err, migrate.ErrIncompatible) {
			t.Fatalf("Up = %v, want ErrIncompatible", err)
		}
		if len(done) != 0 || !strings.Contains(err.Error(), "0002_add_grove_id") {
			t.Fatalf("Up applied %v with error %q", versions(done), err)
		}
		if s := schemaText(t, db); strings.Contains(s, fixtureIndex) {
			t.Fatal("Up created the index of a pending step despite the incompatibility")
		}
	})
}

func TestFixtureMissingStepIsIncompatible(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine, nil)
		steps := fixtureSteps(t)
		mustUp(t, db, steps, 0)
		mustExec(t, db, `DELETE FROM schema_migrations WHERE version = 2`)
		r := mustStatus(t, db, steps)
		if r.State != migrate.StateIncompatible || !strings.Contains(r.Problem(), "0002_add_grove_id") {
			t.Fatalf("state %s, problem %q; want incompatible naming the missing step", r.State, r.Problem())
		}
		if _, err := migrate.Up(t.Context(), db, steps, 0); !errors.Is(err, migrate.ErrIncompatible) {
			t.Fatalf("Up = %v, want ErrIncompatible", err)
		}
	})
}

func TestFixtureNewerDatabaseIsCompatible(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine, nil)
		steps := fixtureSteps(t)
		mustUp(t, db, steps, 0)
		older := steps[:3] // a binary that predates the index step
		r := mustStatus(t, db, older)
		if r.State != migrate.StateNewer || !r.OK() || r.Problem() != "" {
			t.Fatalf("state %s, OK %v, problem %q; want newer and OK", r.State, r.OK(), r.Problem())
		}
		if len(r.Unknown) != 1 || r.Unknown[0].Version != 4 || r.Unknown[0].Name != "index_grove_machine" || r.Unknown[0].Checksum != steps[3].Checksum {
			t.Fatalf("unknown steps = %+v, want step 4", r.Unknown)
		}
		if got := mustUp(t, db, older, 0); len(got) != 0 {
			t.Fatalf("an older binary's Up applied %v", got)
		}
	})
}

func TestFixtureConcurrentUp(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		steps := fixtureSteps(t)
		for round := range 3 {
			handles := openTwice(t, engine)
			var wg sync.WaitGroup
			done := make([][]migrate.Step, len(handles))
			errs := make([]error, len(handles))
			start := make(chan struct{})
			for i, h := range handles {
				wg.Go(func() {
					<-start
					done[i], errs[i] = migrate.Up(context.Background(), h, steps, 0)
				})
			}
			close(start)
			wg.Wait()
			applied := map[int]int{}
			for i := range handles {
				if errs[i] != nil {
					t.Fatalf("round %d: Up on handle %d: %v", round, i, errs[i])
				}
				for _, s := range done[i] {
					applied[s.Version]++
				}
			}
			if want := map[int]int{1: 1, 2: 1, 3: 1, 4: 1}; !reflect.DeepEqual(applied, want) {
				t.Fatalf("round %d: steps applied (version → times) = %v, want each once", round, applied)
			}
			for i, h := range handles {
				if r := mustStatus(t, h, steps); r.State != migrate.StateCurrent {
					t.Fatalf("round %d: handle %d sees state %s", round, i, r.State)
				}
			}
			var n int
			if err := handles[0].WriteDB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != 4 {
				t.Fatalf("round %d: schema_migrations has %d rows (%v), want 4", round, n, err)
			}
		}
	})
}

// openTwice opens two separate store handles on one new, empty database.
func openTwice(t *testing.T, engine string) []*sqlstore.DB {
	t.Helper()
	switch engine {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "shared.db")
		return []*sqlstore.DB{testdb.OpenSQLite(t, path, nil), testdb.OpenSQLite(t, path, nil)}
	case "postgres":
		url := testdb.NewSchema(t)
		var out []*sqlstore.DB
		for range 2 {
			db, err := postgres.Open(t.Context(), url, postgres.Options{MaxConns: 4})
			if err != nil {
				t.Fatalf("open postgres: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			out = append(out, db)
		}
		return out
	}
	t.Fatalf("unknown engine %q", engine)
	return nil
}
