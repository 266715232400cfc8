package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/sqlite"
	"github.com/spf13/pflag"
)

// runCLI runs one command line in-process and returns exit code and output.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errb, getenv)
	return code, out.String(), errb.String()
}

func TestLoadConfig_Precedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hypha.toml")
	if err := os.WriteFile(file, []byte("listen = \"127.0.0.1:1111\"\nlog_level = \"warn\"\ndb = \"from-file.db\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HYPHA_LISTEN": "127.0.0.1:2222", "HYPHA_DB": "from-env.db"}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addConfigFlag(fs, "db")
	addConfigFlag(fs, "listen")
	if err := fs.Parse([]string{"--db", "from-flag.db"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(file, func(k string) string { return env[k] }, fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "from-flag.db" {
		t.Errorf("db = %q, want the flag's value", cfg.DB)
	}
	if cfg.Listen != "127.0.0.1:2222" {
		t.Errorf("listen = %q, want the environment's value", cfg.Listen)
	}
	if cfg.LogLevel != "warn" {
		t.Errorf("log_level = %q, want the file's value", cfg.LogLevel)
	}
	if cfg.ShutdownTimeout != 30*time.Second {
		t.Errorf("shutdown_timeout = %v, want the default", cfg.ShutdownTimeout)
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	tests := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"wrong type in file", "listen = 8787\n", nil, "listen: expected a string, got the integer 8787"},
		{"unknown key", "lissten = \"x\"\n", nil, `unknown setting "lissten"`},
		{"bad toml", "listen = \n", nil, "is not valid TOML"},
		{"bad duration in file", "shutdown_timeout = 30\n", nil, "shutdown_timeout: expected a duration string"},
		{"bad bool in env", "", map[string]string{"HYPHA_MIGRATE": "yes"}, `HYPHA_MIGRATE: expected true or false, got "yes"`},
		{"bad listen", "", map[string]string{"HYPHA_LISTEN": "nonsense"}, `listen: "nonsense" is not host:port`},
		{"bad port", "", map[string]string{"HYPHA_LISTEN": "127.0.0.1:99999"}, "must be a number from 0 to 65535"},
		{"bad level", "", map[string]string{"HYPHA_LOG_LEVEL": "loud"}, `log_level: "loud" is not one of`},
		{"unknown db scheme", "", map[string]string{"HYPHA_DB": "mysql://root@localhost/x"}, `unknown database scheme "mysql"`},
		{"bad synchronous", "", map[string]string{"HYPHA_SQLITE_SYNCHRONOUS": "OFF"}, "sqlite_synchronous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "c.toml")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadConfig(path, func(k string) string { return tt.env[k] }, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseDB(t *testing.T) {
	tests := []struct{ in, engine, target string }{
		{"./hypha-data/hypha.db", "sqlite", "./hypha-data/hypha.db"},
		{"/abs/path.db", "sqlite", "/abs/path.db"},
		{"sqlite:///tmp/x.db", "sqlite", "/tmp/x.db"},
		{"file:/tmp/x.db", "sqlite", "/tmp/x.db"},
		{"postgres://u@h:5432/db", "postgres", "postgres://u@h:5432/db"},
		{"postgresql://u@h/db?sslmode=disable", "postgres", "postgresql://u@h/db?sslmode=disable"},
	}
	for _, tt := range tests {
		engine, target, err := parseDB(tt.in)
		if err != nil || engine != tt.engine || target != tt.target {
			t.Errorf("parseDB(%q) = %q, %q, %v; want %q, %q", tt.in, engine, target, err, tt.engine, tt.target)
		}
	}
	if _, _, err := parseDB("redis://localhost"); err == nil {
		t.Error("parseDB accepted redis://")
	}
}

func TestCLI_BadDatabase(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, []byte("this is not a database file, just text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown scheme", []string{"migrate", "status", "--db", "mysql://x"}, 2, `unknown database scheme "mysql"`},
		{"not a sqlite file", []string{"migrate", "up", "--db", notDB}, 1, "is not a SQLite database"},
		{"missing file for a read", []string{"db", "schema", "--db", filepath.Join(dir, "none.db")}, 1, "no database at"},
		{"unreachable postgres", []string{"migrate", "status", "--db", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"}, 1, "cannot reach PostgreSQL at 127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d containing %q", code, stderr, tt.code, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("error spans %d lines, want one: %q", n+1, stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("a read-only command created the database file")
	}
}

func TestCLI_Version(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"hypha ", "commit:", "go:", fmt.Sprintf("schema version:  %d", latestSchema(t)), "sync protocol:   3 (accepts clients 1–3)"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestCLI_HelpEverywhere(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"migrate", "up", "--help"}, {"db", "diff", "--help"}, {"bench", "store", "--help"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
}

func TestCLI_MigrateAndDiff(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			if code, out, _ := runCLI(t, nil, "migrate", "up", "--db", db, "--to", "2"); code != 0 || !strings.Contains(out, "schema is at version 2") {
				t.Fatalf("up --to 2: exit %d\n%s", code, out)
			}
			code, out, errs := runCLI(t, nil, "migrate", "plan", "--db", db)
			if code != 0 || !strings.Contains(out, "-- 0003_indexes") || !strings.Contains(out, "CREATE INDEX IF NOT EXISTS idx_projects_grove") || strings.Contains(out, "0001_core") {
				t.Fatalf("plan: exit %d\n%s%s", code, out, errs)
			}
			code, out, errs = runCLI(t, nil, "migrate", "status", "--db", db)
			if code != 1 || !strings.Contains(out, "0003     indexes        pending") || !strings.Contains(errs, fmt.Sprintf("at version 2 but this binary needs version %d", latestSchema(t))) {
				t.Fatalf("status when behind: exit %d\n%s%s", code, out, errs)
			}
			if code, out, _ := runCLI(t, nil, "db", "diff", "--db", db); code != 1 || !strings.Contains(out, "- table spores: index idx_spores_grove_project (grove_id, project_id)") {
				t.Fatalf("diff when behind: exit %d\n%s", code, out)
			}
			if code, out, _ := runCLI(t, nil, "migrate", "up", "--db", db); code != 0 || !strings.Contains(out, "applied 0003_indexes") {
				t.Fatalf("up: exit %d\n%s", code, out)
			}
			if code, out, _ := runCLI(t, nil, "migrate", "up", "--db", db); code != 0 || !strings.Contains(out, "nothing to do") {
				t.Fatalf("second up: exit %d\n%s", code, out)
			}
			if code, out, _ := runCLI(t, nil, "db", "diff", "--db", db); code != 0 || !strings.Contains(out, "no drift") {
				t.Fatalf("diff: exit %d\n%s", code, out)
			}
			execSQL(t, engine, db, "CREATE INDEX stray_index ON kv (updated_at)")
			if code, out, _ := runCLI(t, nil, "db", "diff", "--db", db); code != 1 || !strings.Contains(out, "+ table kv: index stray_index (updated_at)") {
				t.Fatalf("diff with drift: exit %d\n%s", code, out)
			}
			if code, out, _ := runCLI(t, nil, "db", "schema", "--db", db); code != 0 || !strings.Contains(out, "table spores\n  column grove_id text not null\n") {
				t.Fatalf("schema: exit %d\n%s", code, out)
			}
		})
	}
}

// latestSchema is the newest migration version of the binary.
func latestSchema(t *testing.T) int {
	t.Helper()
	steps, err := sqlite.Steps()
	if err != nil {
		t.Fatal(err)
	}
	return steps[len(steps)-1].Version
}

// dbArg returns a --db value for a fresh, empty database of the engine.
func dbArg(t *testing.T, engine string) string {
	t.Helper()
	if engine == "postgres" {
		return testdb.NewSchema(t)
	}
	return filepath.Join(t.TempDir(), "hypha.db")
}

func execSQL(t *testing.T, engine, db, query string) {
	t.Helper()
	driver, dsn := "sqlite", db
	if engine == "postgres" {
		driver = "pgx"
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// startServe runs `hypha serve` in-process and returns its base URL and a
// function that stops it and returns its error.
func startServe(t *testing.T, env map[string]string, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var stderr bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Ready: func(a string) { ready <- a }}
	done := make(chan int, 1)
	go func() { done <- m.Execute(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)) }()
	select {
	case addr := <-ready:
		stopped := false
		stop := func() error {
			if stopped {
				return nil
			}
			stopped = true
			cancel()
			if code := <-done; code != 0 {
				return &exitError{code: code, msg: stderr.String()}
			}
			return nil
		}
		t.Cleanup(func() { _ = stop() })
		return "http://" + addr, stop
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return "", nil
}

func getJSON(t *testing.T, url string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

func TestServe_EmbeddedStartsMigrated(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "hypha.db")
	base, stop := startServe(t, nil, "--db", db)
	code, hdr, body := getJSON(t, base+"/health")
	if code != 200 || body["status"] != "ok" || body["schema_version"] != float64(latestSchema(t)) || body["engine"] != "sqlite" {
		t.Fatalf("/health = %d %v", code, body)
	}
	if hdr.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID on the response")
	}
	// Unknown routes authenticate first, as on the Myco worker.
	code, _, body = getJSON(t, base+"/no/such/route")
	if code != 401 || body["code"] != "unauthorized" {
		t.Fatalf("unknown route without a key = %d %v", code, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

func TestServe_SchemaBehindAnswers503(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			if code, out, errs := runCLI(t, nil, "migrate", "up", "--db", db, "--to", "2"); code != 0 {
				t.Fatalf("migrate: %s%s", out, errs)
			}
			if engine == "sqlite" {
				// serve migrates SQLite itself; make the schema unusable by
				// changing the checksum of an applied step instead.
				execSQL(t, engine, db, "UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
			}
			base, _ := startServe(t, nil, "--db", db, "--schema-check-interval", "50ms")
			code, hdr, body := getJSON(t, base+"/health")
			if code != 503 || body["code"] != "schema_mismatch" || hdr.Get("Retry-After") == "" {
				t.Fatalf("/health = %d %v (Retry-After %q)", code, body, hdr.Get("Retry-After"))
			}
			code, hdr, body = getJSON(t, base+"/config")
			if code != 503 || body["code"] != "schema_mismatch" || hdr.Get("Retry-After") == "" {
				t.Fatalf("data route = %d %v", code, body)
			}
			msg, _ := body["error"].(string)
			if engine == "postgres" && !strings.Contains(msg, "run `hypha migrate up`") {
				t.Errorf("message %q does not say what to do", msg)
			}
			if engine == "sqlite" {
				if !strings.Contains(msg, "changed incompatibly") {
					t.Errorf("message %q does not explain the incompatible change", msg)
				}
				return
			}
			// The operator migrates; the running server notices and serves.
			if code, out, errs := runCLI(t, nil, "migrate", "up", "--db", db); code != 0 {
				t.Fatalf("migrate: %s%s", out, errs)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				code, _, _ = getJSON(t, base+"/health")
				if code == 200 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if code != 200 {
				t.Fatalf("/health = %d after migrate up", code)
			}
		})
	}
}

func TestCLI_ExportImportAcrossEngines(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db := testdb.OpenSQLite(t, src, nil)
	if _, err := db.Migrate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnsureGrove(ctx, &hypha.Grove{ID: "user_primary", Name: "Primary"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.KVPut(ctx, "mcp_token:user_primary:d1", []byte(`{"digest":"x"}`), hypha.KVPutOptions{Metadata: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	backupFile := filepath.Join(dir, "backup.jsonl.gz")
	if code, out, errs := runCLI(t, nil, "db", "export", "--db", src, "--output", backupFile); code != 0 || !strings.Contains(out, "exported 4 rows") {
		t.Fatalf("export: exit %d\n%s%s", code, out, errs)
	}
	targets := []string{filepath.Join(dir, "copy.db")}
	if len(testdb.Engines()) == 2 {
		targets = append(targets, testdb.NewSchema(t))
	}
	for _, target := range targets {
		code, out, errs := runCLI(t, nil, "db", "import", "--db", target, "--migrate", "--file", backupFile)
		if code != 0 || !strings.Contains(out, "imported 3 of 4 rows") || // the default grove exists already; the KV revision counter is raised
			!strings.Contains(out, "queued 0 records for search indexing") {
			t.Fatalf("import into %s: exit %d\n%s%s", target, code, out, errs)
		}
		if code, out, _ := runCLI(t, nil, "db", "import", "--db", target, "--file", backupFile); code != 0 || !strings.Contains(out, "imported 0 of 4 rows") {
			t.Fatalf("re-import into %s: exit %d\n%s", target, code, out)
		}
	}

	trunc := filepath.Join(dir, "truncated.jsonl.gz")
	b, err := os.ReadFile(backupFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trunc, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.db")
	if code, _, errs := runCLI(t, nil, "db", "import", "--db", fresh, "--file", trunc); code != 1 || !strings.Contains(errs, "truncated") {
		t.Fatalf("truncated import: exit %d %s", code, errs)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("a refused import created the target database")
	}
	if code, _, errs := runCLI(t, nil, "db", "export", "--db", src); code != 2 || !strings.Contains(errs, "--output") {
		t.Fatalf("export without --output: exit %d %s", code, errs)
	}
}
