package migrate_test

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hyphateam/hypha/migrate"
)

// mustParse parses text as step 1 or fails the test.
func mustParse(t *testing.T, text string) migrate.Step {
	t.Helper()
	s, err := migrate.Parse(1, "test", text)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return s
}

// squash collapses runs of white space, so expected SQL can be written on
// one line.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func statementSQL(s migrate.Step) []string {
	var out []string
	for _, st := range s.Statements {
		out = append(out, squash(st.SQL))
	}
	return out
}

func TestParseSplitsStatements(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		text string
		want []string
	}{
		{
			name: "SemicolonsInStringLiterals",
			text: "INSERT INTO t (a) VALUES ('x;y');\nINSERT INTO t (a) VALUES ('it''s; fine');\n",
			want: []string{"INSERT INTO t (a) VALUES ('x;y')", "INSERT INTO t (a) VALUES ('it''s; fine')"},
		},
		{
			name: "SemicolonInQuotedIdentifier",
			text: `CREATE TABLE IF NOT EXISTS "odd;name" ("a""b;" TEXT);`,
			want: []string{`CREATE TABLE IF NOT EXISTS "odd;name" ("a""b;" TEXT)`},
		},
		{
			name: "LineComments",
			text: "-- header; with a semicolon and it's quote\nCREATE TABLE IF NOT EXISTS t (a TEXT); -- trailing; comment\n" +
				"-- another one;\nCREATE TABLE IF NOT EXISTS u (\n    b TEXT -- why; not\n);\n",
			want: []string{"CREATE TABLE IF NOT EXISTS t (a TEXT)", "CREATE TABLE IF NOT EXISTS u ( b TEXT -- why; not )"},
		},
		{
			name: "BlockComments",
			text: "/* a; 'b */ CREATE TABLE IF NOT EXISTS t (a TEXT /* c; d */);\n/*\n multi;\n line\n*/\nUPDATE t SET a = 'x';",
			want: []string{"CREATE TABLE IF NOT EXISTS t (a TEXT )", "UPDATE t SET a = 'x'"},
		},
		{
			name: "DollarQuotedBody",
			text: "CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$\nBEGIN\n  NEW.updated_at := 1;\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\nUPDATE t SET a = 1;",
			want: []string{"CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$ BEGIN NEW.updated_at := 1; RETURN NEW; END; $$ LANGUAGE plpgsql", "UPDATE t SET a = 1"},
		},
		{
			name: "SQLiteTriggerBody",
			text: "CREATE TRIGGER IF NOT EXISTS t_ai AFTER INSERT ON t BEGIN\n  INSERT INTO log (x) VALUES (new.a);\n  UPDATE t SET b = 1 WHERE rowid = new.rowid;\nEND;\nUPDATE t SET a = 2;",
			want: []string{"CREATE TRIGGER IF NOT EXISTS t_ai AFTER INSERT ON t BEGIN INSERT INTO log (x) VALUES (new.a); UPDATE t SET b = 1 WHERE rowid = new.rowid; END", "UPDATE t SET a = 2"},
		},
		{
			name: "SQLiteTriggerBodyWithCase",
			text: "CREATE TRIGGER IF NOT EXISTS t_au AFTER UPDATE ON t BEGIN\n  UPDATE t SET b = CASE WHEN new.a > 0 THEN 'end' ELSE 'begin' END WHERE rowid = new.rowid;\n  INSERT INTO log (x) VALUES (new.a);\nEND;\nUPDATE t SET a = 2;",
			want: []string{"CREATE TRIGGER IF NOT EXISTS t_au AFTER UPDATE ON t BEGIN UPDATE t SET b = CASE WHEN new.a > 0 THEN 'end' ELSE 'begin' END WHERE rowid = new.rowid; INSERT INTO log (x) VALUES (new.a); END", "UPDATE t SET a = 2"},
		},
		{
			name: "SQLiteTriggerBodyWithComments",
			text: "CREATE TRIGGER IF NOT EXISTS t_ad AFTER DELETE ON t BEGIN -- end; of the row\n  DELETE FROM log WHERE x = old.a; -- \"end\"\nEND;\nUPDATE t SET a = 2;",
			want: []string{"CREATE TRIGGER IF NOT EXISTS t_ad AFTER DELETE ON t BEGIN -- end; of the row DELETE FROM log WHERE x = old.a; -- \"end\" END", "UPDATE t SET a = 2"},
		},
		{
			name: "NoFinalSemicolon",
			text: "UPDATE t SET a = 1",
			want: []string{"UPDATE t SET a = 1"},
		},
		{
			name: "EmptyStatements",
			text: ";\n;UPDATE t SET a = 1;;\n",
			want: []string{"UPDATE t SET a = 1"},
		},
		{
			name: "CRLF",
			text: "UPDATE t\r\nSET a = 1;\r\nUPDATE u SET b = 'x;y';\r\n",
			want: []string{"UPDATE t SET a = 1", "UPDATE u SET b = 'x;y'"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := statementSQL(mustParse(t, tc.text)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("statements =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestParseAddColumnDirective(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "-- Step 2 of the upgrade.\n-- +hypha add-column notifications grove_id TEXT\n"+
		"--   +hypha   add-column notifications seen INTEGER NOT NULL DEFAULT 0;\n")
	want := []migrate.Statement{
		{SQL: "ALTER TABLE notifications ADD COLUMN grove_id TEXT",
			AddColumn: &migrate.AddColumn{Table: "notifications", Column: "grove_id", Definition: "TEXT"}},
		{SQL: "ALTER TABLE notifications ADD COLUMN seen INTEGER NOT NULL DEFAULT 0",
			AddColumn: &migrate.AddColumn{Table: "notifications", Column: "seen", Definition: "INTEGER NOT NULL DEFAULT 0"}},
	}
	if !reflect.DeepEqual(s.Statements, want) {
		t.Fatalf("statements = %+v, want %+v", s.Statements, want)
	}
}

func TestParseIndexNames(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "CREATE INDEX IF NOT EXISTS idx_a ON t (a);\ncreate unique index if not exists \"idx_b\" on t (b);\n")
	var got []string
	for _, st := range s.Statements {
		got = append(got, st.Index)
	}
	if want := []string{"idx_a", "idx_b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("index names = %q, want %q", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		text string
		want string // part of the error message
	}{
		{"DropTable", "DROP TABLE notifications;", "expand-only"},
		{"DropTableLowercase", "  drop table if exists notifications;", "expand-only"},
		{"DropIndex", "DROP INDEX IF EXISTS idx_a;", "expand-only"},
		{"DropColumn", "ALTER TABLE t DROP COLUMN a;", "expand-only"},
		{"RenameTable", "ALTER TABLE notifications RENAME TO notes;", "expand-only"},
		{"RenameColumn", "ALTER TABLE notifications RENAME COLUMN body TO text;", "expand-only"},
		{"RawAddColumn", "ALTER TABLE notifications ADD COLUMN grove_id TEXT;", "add-column directive"},
		{"Truncate", "TRUNCATE notifications;", "expand-only"},
		{"CreateTableWithoutIfNotExists", "CREATE TABLE notifications (id TEXT);", "IF NOT EXISTS"},
		{"CreateIndexWithoutIfNotExists", "CREATE INDEX idx_a ON t (a);", "IF NOT EXISTS"},
		{"Delete", "DELETE FROM notifications;", "only CREATE"},
		{"IndexMixedWithTable", "CREATE TABLE IF NOT EXISTS t (a TEXT);\nCREATE INDEX IF NOT EXISTS idx_a ON t (a);", "create nothing else"},
		{"IndexMixedWithBackfill", "CREATE INDEX IF NOT EXISTS idx_a ON t (a);\nUPDATE t SET a = 1 WHERE a IS NULL;", "create nothing else"},
		{"IndexMixedWithAddColumn", "-- +hypha add-column t a TEXT\nCREATE INDEX IF NOT EXISTS idx_a ON t (a);", "create nothing else"},
		{"NoStatements", "-- nothing to do\n/* really */\n", "no statements"},
		{"BadDirective", "-- +hypha add-colum t a TEXT\n", "bad directive"},
		{"DirectiveWithoutType", "-- +hypha add-column t a\n", "bad directive"},
		{"DirectiveInsideStatement", "UPDATE t\n-- +hypha add-column t a TEXT\nSET a = 1;", "unfinished statement"},
		{"UnterminatedQuote", "UPDATE t SET a = 'oops;", "unterminated quote"},
		{"UnterminatedComment", "UPDATE t SET a = 1; /* oops", "unterminated"},
		{"UnterminatedDollarQuote", "CREATE OR REPLACE FUNCTION f() RETURNS void AS $$ BEGIN; END;", "unterminated $$"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := migrate.Parse(7, "bad_step", tc.text)
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.text)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "0007_bad_step") {
				t.Fatalf("error %q should name the step 0007_bad_step and contain %q", err, tc.want)
			}
		})
	}
}

func TestChecksum(t *testing.T) {
	t.Parallel()
	const text = "CREATE TABLE IF NOT EXISTS t (a TEXT);\nUPDATE t SET a = 'x';\n"
	lf := mustParse(t, text)
	sum := sha256.Sum256([]byte(text))
	if lf.Checksum != hex.EncodeToString(sum[:]) {
		t.Fatalf("checksum = %s, want the hex SHA-256 of the text", lf.Checksum)
	}
	crlf := mustParse(t, strings.ReplaceAll(text, "\n", "\r\n"))
	if crlf.Checksum != lf.Checksum {
		t.Fatalf("CRLF checksum %s differs from LF checksum %s", crlf.Checksum, lf.Checksum)
	}
	for _, changed := range []string{
		text + "\n",
		strings.Replace(text, "'x'", "'y'", 1),
		"-- a comment changes the file too\n" + text,
	} {
		if s := mustParse(t, changed); s.Checksum == lf.Checksum {
			t.Fatalf("checksum unchanged after editing the text to:\n%s", changed)
		}
	}
}

func TestStepID(t *testing.T) {
	t.Parallel()
	s, err := migrate.Parse(3, "spores_grove_index", "CREATE INDEX IF NOT EXISTS idx_s ON spores (grove_id);")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ID(); got != "0003_spores_grove_index" {
		t.Fatalf("ID() = %q, want 0003_spores_grove_index", got)
	}
}

func file(text string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(text)} }

func TestLoad(t *testing.T) {
	t.Parallel()
	const ok = "UPDATE t SET a = 1;"
	fsys := fstest.MapFS{
		"m/0002_backfill.sql":         file(ok),
		"m/0001_create.sql":           file("CREATE TABLE IF NOT EXISTS t (a TEXT);"),
		"m/0003_index.sql":            file("CREATE INDEX IF NOT EXISTS idx_t_a ON t (a);"),
		"m/README.md":                 file("not a migration"),
		"m/old/0001_ignored.sql":      file("DROP TABLE t;"),
		"m/0004_not_yet.sql.disabled": file("DROP TABLE t;"),
	}
	steps, err := migrate.Load(fsys, "m")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var ids []string
	for _, s := range steps {
		ids = append(ids, s.ID())
	}
	if want := []string{"0001_create", "0002_backfill", "0003_index"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("steps = %v, want %v", ids, want)
	}
	if steps[2].Statements[0].Index != "idx_t_a" {
		t.Fatalf("index statement = %+v", steps[2].Statements[0])
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	const ok = "UPDATE t SET a = 1;"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"Gap", map[string]string{"0001_a.sql": ok, "0003_c.sql": ok}, "without gaps"},
		{"Repeat", map[string]string{"0001_a.sql": ok, "0001_b.sql": ok, "0002_c.sql": ok}, "without gaps"},
		{"DoesNotStartAtOne", map[string]string{"0002_b.sql": ok}, "without gaps"},
		{"ShortNumber", map[string]string{"001_a.sql": ok}, "file name"},
		{"NoName", map[string]string{"0001.sql": ok}, "file name"},
		{"UpperCase", map[string]string{"0001_Create.sql": ok}, "file name"},
		{"Dash", map[string]string{"0001_create-table.sql": ok}, "file name"},
		{"NoNumber", map[string]string{"create.sql": ok}, "file name"},
		{"BadStep", map[string]string{"0001_a.sql": ok, "0002_drop.sql": "DROP TABLE t;"}, "0002_drop"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{}
			for name, text := range tc.files {
				fsys["m/"+name] = file(text)
			}
			steps, err := migrate.Load(fsys, "m")
			if err == nil {
				t.Fatalf("Load accepted %v as %d steps", tc.files, len(steps))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q should contain %q", err, tc.want)
			}
		})
	}
	t.Run("MissingDirectory", func(t *testing.T) {
		t.Parallel()
		if _, err := migrate.Load(fstest.MapFS{}, "nowhere"); err == nil {
			t.Fatal("Load of a missing directory succeeded")
		}
	})
}
