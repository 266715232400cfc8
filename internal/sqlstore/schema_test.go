package sqlstore_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/migrate"
	"github.com/hyphateam/hypha/postgres"
	"github.com/hyphateam/hypha/sqlite"
)

func TestRealMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine, nil)
		first, err := db.Migrate(t.Context(), 0)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if len(first) != len(db.Steps()) || len(first) == 0 {
			t.Fatalf("first Migrate applied %d of %d steps", len(first), len(db.Steps()))
		}
		schema := schemaText(t, db)
		groves := groveRows(t, db)

		second, err := db.Migrate(t.Context(), 0)
		if err != nil || len(second) != 0 {
			t.Fatalf("second Migrate applied %v (%v), want nothing", versions(second), err)
		}
		r, err := db.MigrationStatus(t.Context())
		if err != nil || r.State != migrate.StateCurrent || !r.OK() {
			t.Fatalf("MigrationStatus = %+v, %v; want current", r, err)
		}

		// Every statement must be safe to run twice: forget the bookkeeping
		// and apply the whole sequence again.
		mustExec(t, db, `DELETE FROM schema_migrations`)
		again, err := db.Migrate(t.Context(), 0)
		if err != nil || len(again) != len(first) {
			t.Fatalf("re-running every step applied %v (%v)", versions(again), err)
		}
		if got := schemaText(t, db); got != schema {
			t.Fatalf("re-running the steps changed the schema:\n%s", diffLines(schema, got))
		}
		if got := groveRows(t, db); !reflect.DeepEqual(got, groves) {
			t.Fatalf("re-running the steps changed the groves: %q, want %q", got, groves)
		}
	})
}

func groveRows(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	groves, err := db.ListGroves(t.Context())
	if err != nil {
		t.Fatalf("ListGroves: %v", err)
	}
	var out []string
	for _, g := range groves {
		out = append(out, g.ID+" "+g.Name+" "+strconv.FormatBool(g.IsDefault)+" "+strconv.FormatInt(g.CreatedAt, 10))
	}
	return out
}

// diffLines shows the lines only in want ("- ") and only in got ("+ ").
func diffLines(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

func TestEngineStepsInLockstep(t *testing.T) {
	t.Parallel()
	sq, err := sqlite.Steps()
	if err != nil {
		t.Fatalf("sqlite.Steps: %v", err)
	}
	pg, err := postgres.Steps()
	if err != nil {
		t.Fatalf("postgres.Steps: %v", err)
	}
	ids := func(steps []migrate.Step) []string {
		var out []string
		for _, s := range steps {
			out = append(out, s.ID())
		}
		return out
	}
	if a, b := ids(sq), ids(pg); !reflect.DeepEqual(a, b) {
		t.Fatalf("migration steps differ between engines:\nsqlite   %v\npostgres %v", a, b)
	}
}

func TestEnginesHaveTheSameSchema(t *testing.T) {
	t.Parallel()
	lite := testdb.MustOpen(t, "sqlite")
	pg := testdb.MustOpen(t, "postgres") // skipped, or failed when required, without PostgreSQL
	a, err := lite.DescribeSchema(t.Context())
	if err != nil {
		t.Fatalf("sqlite DescribeSchema: %v", err)
	}
	b, err := pg.DescribeSchema(t.Context())
	if err != nil {
		t.Fatalf("postgres DescribeSchema: %v", err)
	}
	if d := hypha.DiffSchemas(a, b); d != "" {
		t.Fatalf("the engines' schemas differ after migration (- sqlite, + postgres):\n%s", d)
	}
}

// TestSyncedTablesMatchSchema ties the declared columns of every synced
// table (hypha.SyncedTables) to what the migrations create, so code and
// migrations cannot drift apart.
func TestSyncedTablesMatchSchema(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.MustOpen(t, engine)
		d, err := db.DescribeSchema(t.Context())
		if err != nil {
			t.Fatalf("DescribeSchema: %v", err)
		}
		tables := map[string]hypha.TableDescription{}
		for _, tb := range d.Tables {
			tables[tb.Name] = tb
		}
		for _, tb := range hypha.SyncedTables {
			t.Run(tb.Name, func(t *testing.T) {
				live, ok := tables[tb.Name]
				if !ok {
					t.Fatalf("no table %s in the migrated schema", tb.Name)
				}
				// Columns a later step added (-- +hypha add-column) follow
				// the common trailing ones, in their declared order.
				added := map[string]bool{}
				for i, c := range live.Columns {
					if c.Name == hypha.ColReceivedAt {
						for _, a := range live.Columns[i+1:] {
							added[a.Name] = true
						}
					}
				}
				want := []hypha.Column{{Name: hypha.ColGrove, Type: hypha.TypeText}, {Name: hypha.ColMachine, Type: hypha.TypeText},
					{Name: hypha.ColID, Type: hypha.TypeText}, {Name: hypha.ColProject, Type: hypha.TypeText}}
				var later []hypha.Column
				for _, c := range tb.Columns {
					if added[c.Name] {
						later = append(later, c)
					} else {
						want = append(want, c)
					}
				}
				want = append(want, hypha.Column{Name: hypha.ColSyncedAt, Type: hypha.TypeInteger},
					hypha.Column{Name: hypha.ColExtra, Type: hypha.TypeText}, hypha.Column{Name: hypha.ColReceivedAt, Type: hypha.TypeInteger})
				want = append(want, later...)
				var wantCols, gotCols []string
				for _, c := range want {
					wantCols = append(wantCols, c.Name+" "+string(c.Type))
				}
				for _, c := range live.Columns {
					gotCols = append(gotCols, c.Name+" "+string(c.Type))
				}
				if !reflect.DeepEqual(gotCols, wantCols) {
					t.Fatalf("columns differ from hypha.SyncedTables:\n%s", diffLines(strings.Join(wantCols, "\n"), strings.Join(gotCols, "\n")))
				}
				for i, c := range want {
					if !sameDefault(c.Default, live.Columns[i].Default) {
						t.Errorf("column %s: declared default %#v, migrated default %q", c.Name, c.Default, live.Columns[i].Default)
					}
				}
				if pk := []string{hypha.ColGrove, hypha.ColMachine, hypha.ColID}; !reflect.DeepEqual(live.PrimaryKey, pk) {
					t.Errorf("primary key = %v, want %v", live.PrimaryKey, pk)
				}
			})
		}
	})
}

// sameDefault compares a declared default with a normalized SQL literal.
func sameDefault(declared any, literal string) bool {
	switch v := declared.(type) {
	case nil:
		return literal == "" || strings.EqualFold(literal, "NULL")
	case string:
		return literal == "'"+strings.ReplaceAll(v, "'", "''")+"'"
	case int64:
		return literal == strconv.FormatInt(v, 10)
	case float64:
		f, err := strconv.ParseFloat(literal, 64)
		return err == nil && f == v
	}
	return false
}
