package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/testdb"
)

var (
	teamKeyRE  = regexp.MustCompile(`hyk_[A-Za-z0-9_-]{43}`)
	mcpTokenRE = regexp.MustCompile(`hym_[A-Za-z0-9_-]{43}`)
	keyIDRE    = regexp.MustCompile(`tk_[0-9a-z_]+`)
)

func TestCLI_TokenCommands(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			if code, out, errs := runCLI(t, nil, "migrate", "up", "--db", db); code != 0 {
				t.Fatalf("migrate: %s%s", out, errs)
			}
			code, out, errs := runCLI(t, nil, "token", "create-team-key", "--db", db, "--name", "ci", "--expires", "90d")
			if code != 0 || !strings.Contains(out, "Created Team Key tk_") || !strings.Contains(out, "(ci)") || !strings.Contains(out, "only time") {
				t.Fatalf("create-team-key: exit %d\n%s%s", code, out, errs)
			}
			secret := teamKeyRE.FindString(out)
			id := keyIDRE.FindString(out)
			if secret == "" || id == "" {
				t.Fatalf("create-team-key printed no key or id:\n%s", out)
			}
			if strings.Contains(errs, secret) {
				t.Fatal("the secret reached standard error (the log)")
			}

			code, out, errs = runCLI(t, nil, "token", "create-mcp", "--db", db, "--grove", "user_primary", "--name", "cursor")
			token := mcpTokenRE.FindString(out)
			if code != 0 || token == "" || !strings.Contains(out, "X-Grove-ID: user_primary") || !strings.Contains(out, app.TokenHash("user_primary", "named:cursor", token)) {
				t.Fatalf("create-mcp: exit %d\n%s%s", code, out, errs)
			}

			code, out, _ = runCLI(t, nil, "token", "list", "--db", db)
			if code != 0 || !strings.Contains(out, id) || !regexp.MustCompile(`mt_[0-9a-f]{16}\s+mcp_token\s+cursor\s+user_primary\s+named:cursor\s+active`).MatchString(out) {
				t.Fatalf("list: exit %d\n%s", code, out)
			}
			for _, s := range []string{secret, token, app.Digest(secret), app.Digest(token)} {
				if strings.Contains(out, s) {
					t.Fatalf("list shows a secret or a digest:\n%s", out)
				}
			}

			// With SQLite the server key is created beside the data
			// directory, so the grove gets a new shared token (not
			// printed); PostgreSQL has no key here, and the grove, which
			// has no shared token to lose, has its tokens revoked all the
			// same.
			code, out, _ = runCLI(t, nil, "token", "rotate-mcp", "--db", db, "--grove", "user_primary")
			wantShared := "replaced the grove's shared token"
			if engine == "postgres" {
				wantShared = `no new shared token: grove "user_primary" has no shared MCP token`
			}
			if code != 0 || !strings.Contains(out, "revoked 1 MCP token(s) of grove user_primary") || !strings.Contains(out, wantShared) || mcpTokenRE.MatchString(out) {
				t.Fatalf("rotate-mcp: exit %d\n%s", code, out)
			}
			if code, out, _ := runCLI(t, nil, "token", "revoke", "--db", db, id); code != 0 || out != "revoked team key "+id+" and the 0 MCP token(s) minted through it\n" {
				t.Fatalf("revoke: exit %d %q", code, out)
			}
			code, out, _ = runCLI(t, nil, "token", "list", "--db", db, "--json")
			var list []app.CredentialInfo
			if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
				t.Fatalf("list --json: exit %d %v\n%s", code, err, out)
			}
			statuses := map[string]string{}
			for _, c := range list {
				statuses[c.Kind+" "+c.Name] = c.Status
			}
			wantLen := 3 // and the shared token
			if engine == "postgres" {
				wantLen = 2
			}
			if statuses["team_key ci"] != "revoked" || statuses["mcp_token cursor"] != "revoked" || len(list) != wantLen {
				t.Fatalf("after revoke and rotate: %+v", list)
			}
		})
	}
}

func TestCLI_TokenRefusals(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hypha.db")
	if code, out, errs := runCLI(t, nil, "migrate", "up", "--db", db); code != 0 {
		t.Fatalf("migrate: %s%s", out, errs)
	}
	behind := filepath.Join(dir, "behind.db")
	if code, out, errs := runCLI(t, nil, "migrate", "up", "--db", behind, "--to", "2"); code != 0 {
		t.Fatalf("migrate: %s%s", out, errs)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad expiry", []string{"create-team-key", "--db", db, "--expires", "soon"}, 2, `--expires: "soon" is not a lifetime`},
		{"expiry under a minute", []string{"create-team-key", "--db", db, "--expires", "5s"}, 2, "shorter than a minute"},
		{"MCP token that never expires", []string{"create-mcp", "--db", db, "--grove", "g", "--name", "n", "--expires", "never"}, 2, "MCP tokens always expire"},
		{"create-mcp without a grove", []string{"create-mcp", "--db", db, "--name", "n"}, 2, "needs --grove and --name"},
		{"rotate-mcp without a grove", []string{"rotate-mcp", "--db", db}, 2, "needs --grove"},
		{"bad grove", []string{"create-mcp", "--db", db, "--grove", "a/b", "--name", "n"}, 1, "invalid grove id"},
		{"revoke unknown", []string{"revoke", "--db", db, "tk_nope"}, 1, `no Team Key "tk_nope"`},
		{"revoke without id", []string{"revoke", "--db", db}, 1, "accepts 1 arg"},
		{"no database", []string{"list", "--db", filepath.Join(dir, "none.db")}, 1, "no database at"},
		{"schema behind", []string{"list", "--db", behind}, 1, "run `hypha migrate up`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, nil, append([]string{"token"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d containing %q", code, errs, out, tt.code, tt.want)
			}
		})
	}
}

func TestCLI_TokenHelp(t *testing.T) {
	for _, sub := range []string{"", "create-team-key", "create-mcp", "list", "revoke", "rotate-mcp"} {
		args := []string{"token", "--help"}
		if sub != "" {
			args = []string{"token", sub, "--help"}
		}
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "--db") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}

// lockedBuffer is a buffer the server goroutine writes while a test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveCapturing runs `hypha serve` in-process on port 0 and returns its
// base URL, standard output and error, and a function that stops it.
func serveCapturing(t *testing.T, args ...string) (string, *lockedBuffer, *lockedBuffer, func()) {
	t.Helper()
	return serveEnv(t, nil, args...)
}

func getWithKey(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServe_FirstRunPrintsKeyOnce(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			base, stdout, stderr, stop := serveCapturing(t, "--db", db, "--migrate")
			out := stdout.String()
			key := teamKeyRE.FindString(out)
			if key == "" || !strings.Contains(out, "First run") || !strings.Contains(out, base+"/connect") || !strings.Contains(out, base+"/mcp") || !strings.Contains(out, "X-Grove-ID") {
				t.Fatalf("first start printed:\n%s", out)
			}
			if strings.Contains(stderr.String(), key) {
				t.Fatal("the first Team Key reached the log")
			}
			if got := getWithKey(t, base+"/org/credentials", key); got != http.StatusOK {
				t.Fatalf("/org/credentials with the printed key = %d", got)
			}
			if got := getWithKey(t, base+"/no/such/route", key); got != http.StatusNotFound {
				t.Fatalf("unknown route with the key = %d, want 404", got)
			}
			// A key created by the CLI while the server runs works at once
			// (give the server's miss-reload its 250 ms).
			_, cliOut, _ := runCLI(t, nil, "token", "create-team-key", "--db", db, "--name", "second")
			second := teamKeyRE.FindString(cliOut)
			deadline := time.Now().Add(5 * time.Second)
			for getWithKey(t, base+"/org/credentials", second) != http.StatusOK {
				if time.Now().After(deadline) {
					t.Fatal("a key created by the CLI is not accepted by the running server")
				}
				time.Sleep(50 * time.Millisecond)
			}
			stop()

			base, stdout, _, _ = serveCapturing(t, "--db", db, "--migrate")
			if out := stdout.String(); strings.Contains(out, "hyk_") || strings.Contains(out, "First run") {
				t.Fatalf("a second start printed a key again:\n%s", out)
			}
			if got := getWithKey(t, base+"/org/credentials", key); got != http.StatusOK {
				t.Fatalf("after a restart the first key answers %d", got)
			}
		})
	}
}
