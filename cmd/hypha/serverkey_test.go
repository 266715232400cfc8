package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/seal"
	"github.com/hyphateam/hypha/internal/testdb"
)

// serveEnv runs `hypha serve` in-process on port 0 with env, and returns
// its base URL, standard output and error, and a function that stops it.
func serveEnv(t *testing.T, env map[string]string, args ...string) (string, *lockedBuffer, *lockedBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	m := &Main{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Getenv: func(k string) string { return env[k] }, Ready: func(a string) { ready <- a }}
	done := make(chan int, 1)
	go func() { done <- m.Execute(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited with %d: %s", code, stderr.String())
			}
		})
	}
	t.Cleanup(stop)
	select {
	case addr := <-ready:
		return "http://" + addr, stdout, stderr, stop
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", nil, nil, nil
}

// legacyConnectHTTP is Myco's /connect: no X-Grove-ID, no X-Daemon-ID.
func legacyConnectHTTP(t *testing.T, base, key, machine string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/connect", strings.NewReader(`{"machine_id":"`+machine+`","sync_protocol_version":3}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("legacy /connect = %d %v", resp.StatusCode, body)
	}
	return body
}

// TestServe_ServerKey: serve creates the key beside the SQLite database (or
// takes it from HYPHA_SERVER_KEY), never logs it, and `hypha token
// rotate-mcp` seals with the same key: the shared token it mints is the one
// the restarted server hands out.
func TestServe_ServerKey(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			env := map[string]string{}
			var keyText string
			if engine == "postgres" {
				// Several servers share a PostgreSQL database: the key is
				// given, not made.
				keyText = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
				env[serverKeyEnv] = keyText
			}
			base, stdout, stderr, stop := serveEnv(t, env, "--db", db, "--migrate")
			teamKey := teamKeyRE.FindString(stdout.String())
			if engine == "sqlite" {
				// Beside the data directory, not in it.
				path := filepath.Dir(db) + ".key"
				st, err := os.Stat(path)
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Fatalf("key file: %v, %v", st, err)
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(db), "server.key")); err == nil {
					t.Fatal("a key file was made inside the data directory")
				}
				b, _ := os.ReadFile(path)
				keyText = strings.TrimSpace(string(b))
			}
			key, err := seal.Parse(keyText)
			if err != nil {
				t.Fatal(err)
			}
			if log := stderr.String(); !strings.Contains(log, key.ID()) || strings.Contains(log, keyText) {
				t.Fatalf("the log names no key id, or shows the key:\n%s", log)
			}
			first := legacyConnectHTTP(t, base, teamKey, "laptop")
			tok, _ := first["mcp_token"].(string)
			if tok == "" || first["mcp_token_hash"] != app.LegacyTokenHash(tok) {
				t.Fatalf("legacy /connect = %v", first)
			}
			if again := legacyConnectHTTP(t, base, teamKey, "desktop"); again["mcp_token"] != tok {
				t.Fatal("another legacy client got another token")
			}
			stop()

			code, out, errs := runCLI(t, env, "token", "rotate-mcp", "--db", db, "--grove", hypha.DefaultGroveID, "--show-token")
			next := mcpTokenRE.FindString(out)
			if code != 0 || next == "" || next == tok || !strings.Contains(out, app.LegacyTokenHash(next)) {
				t.Fatalf("rotate-mcp: exit %d\n%s%s", code, out, errs)
			}
			base, _, _, _ = serveEnv(t, env, "--db", db)
			if got := legacyConnectHTTP(t, base, teamKey, "laptop"); got["mcp_token"] != next {
				t.Fatalf("after rotate-mcp the server hands out %v, want the rotated token", got["mcp_token"])
			}
		})
	}
}

func TestServe_ServerKeyRefusals(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hypha.db")
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(open, 0o644)
	group := filepath.Join(dir, "group.key")
	if err := os.WriteFile(group, []byte(good), 0o640); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(group, 0o640)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"malformed_env", map[string]string{serverKeyEnv: "not a key!"}, nil, "HYPHA_SERVER_KEY: the server key is neither 64 hex digits nor base64"},
		{"short_env", map[string]string{serverKeyEnv: good[:20]}, nil, "HYPHA_SERVER_KEY: the server key decodes to"},
		{"env_and_file", map[string]string{serverKeyEnv: good}, []string{"--server-key-file", open}, "both HYPHA_SERVER_KEY and server_key_file are set"},
		{"world_readable", nil, []string{"--server-key-file", open}, "chmod 600"},
		{"group_readable", nil, []string{"--server-key-file", group}, "is open to other users than its owner (mode 0640): run `chmod 600 " + group + "`"},
		{"file_from_env_var", map[string]string{"HYPHA_SERVER_KEY_FILE": open}, nil, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tt.env, append([]string{"serve", "--listen", "127.0.0.1:0", "--db", db}, tt.args...)...)
			if code != 1 || !strings.Contains(errs, tt.want) || strings.Contains(errs, good) {
				t.Fatalf("exit %d, stderr %q; want exit 1 with %q", code, errs, tt.want)
			}
		})
	}

	// A database that holds sealed values refuses a new key: the old one
	// is missing, not unneeded.
	t.Run("lost_key_file", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "hypha.db")
		base, stdout, _, stop := serveEnv(t, nil, "--db", db)
		legacyConnectHTTP(t, base, teamKeyRE.FindString(stdout.String()), "laptop")
		stop()
		path := filepath.Dir(db) + ".key"
		b, _ := os.ReadFile(path)
		k, _ := seal.Parse(string(b))
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		code, _, errs := runCLI(t, nil, "serve", "--listen", "127.0.0.1:0", "--db", db)
		if code != 1 || !strings.Contains(errs, "holds values sealed under server key "+k.ID()) || !strings.Contains(errs, "restore that key file") {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatal("a new key file was made for a database sealed under another")
		}
	})
}

func TestServerKeyPath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		db, file  string
		path, old string
	}{
		{"./hypha-data/hypha.db", "", "hypha-data.key", filepath.Join("hypha-data", "server.key")},
		{"/var/lib/hypha/hypha.db", "", "/var/lib/hypha.key", "/var/lib/hypha/server.key"},
		{"sqlite:///srv/teams/a/hypha.db", "", "/srv/teams/a.key", "/srv/teams/a/server.key"},
		{"file:/srv/x/hypha.db?_pragma=busy_timeout(5000)", "", "/srv/x.key", "/srv/x/server.key"},
		{"hypha.db", "", wd + ".key", filepath.Join(wd, "server.key")},
		{"./hypha-data/hypha.db", "/etc/hypha/server.key", "/etc/hypha/server.key", ""},
		{"postgres://u@h:5432/db", "", "", ""},
		{"postgres://u@h:5432/db", "/etc/hypha/server.key", "/etc/hypha/server.key", ""},
	}
	for _, tt := range tests {
		m := &Main{Config: Config{DB: tt.db, ServerKeyFile: tt.file}}
		path, old, err := m.serverKeyPath()
		if err != nil || path != tt.path || old != tt.old {
			t.Errorf("db %q, server_key_file %q: %q, %q, %v; want %q, %q", tt.db, tt.file, path, old, err, tt.path, tt.old)
		}
	}
	m := &Main{Config: Config{DB: "/hypha.db"}}
	if _, _, err := m.serverKeyPath(); err == nil || !strings.Contains(err.Error(), "set server_key_file") {
		t.Errorf("a database at the root: %v; want a refusal saying to set server_key_file", err)
	}
}

// TestServe_MovesOldServerKeyFile: a key file made inside the data
// directory by an earlier version is moved beside it, once, and logged; a
// key is never made anew while it is there.
func TestServe_MovesOldServerKeyFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hypha-data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "hypha.db")
	old, path := filepath.Join(data, "server.key"), data+".key"
	k, err := seal.CreateFile(old)
	if err != nil {
		t.Fatal(err)
	}
	base, stdout, stderr, stop := serveEnv(t, nil, "--db", db)
	legacyConnectHTTP(t, base, teamKeyRE.FindString(stdout.String()), "laptop") // seals under k
	stop()
	log := stderr.String()
	if !strings.Contains(log, "moved the server key file out of the data directory") || !strings.Contains(log, k.ID()) || strings.Contains(log, "created the server key") {
		t.Fatalf("the move was not logged with the key id, or a key was made:\n%s", log)
	}
	if _, err := os.Stat(old); err == nil {
		t.Fatal("the old key file is still in the data directory")
	}
	if moved, err := seal.LoadFile(path); err != nil || moved.ID() != k.ID() {
		t.Fatalf("the moved key = %v, %v; want %s", moved, err, k.ID())
	}
	// restart starts serve again and stops it once it answers (a stop
	// before api.Server.Serve has begun would wait for ever).
	restart := func() string {
		t.Helper()
		base, _, stderr, stop := serveEnv(t, nil, "--db", db)
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
		}
		stop()
		return stderr.String()
	}
	// The next start finds it where it is: nothing to move, nothing said.
	log = restart()
	if strings.Contains(log, "moved the server key") || !strings.Contains(log, k.ID()) {
		t.Fatalf("second start:\n%s", log)
	}

	// An old file with another key beside the new one: the new one is
	// read, the old one left and named in a warning.
	other, err := seal.CreateFile(old)
	if err != nil {
		t.Fatal(err)
	}
	if log := restart(); !strings.Contains(log, "an old server key file is still inside the data directory") || !strings.Contains(log, other.ID()) {
		t.Fatalf("an old key file beside the new one was not named:\n%s", log)
	}
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("an old key file holding another key was removed: %v", err)
	}
	// The same key at both places (a move cut short): the move finishes.
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path, old); err != nil {
		t.Fatal(err)
	}
	restart()
	if _, err := os.Stat(old); err == nil {
		t.Fatal("a copy of the key in the data directory was left")
	}

	// A group-readable old key file is refused at its path, not moved.
	if err := os.Rename(path, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o640); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, nil, "serve", "--listen", "127.0.0.1:0", "--db", db)
	if code != 1 || !strings.Contains(errs, "chmod 600 "+old) {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a refused key file was moved")
	}
}

// TestCLI_RotateMCPKeepsSharedToken: `hypha token rotate-mcp` without the
// server key the token was sealed under (none, or another) revokes
// nothing and exits 1 saying how to give it; --accept-new-key replaces a
// token whose key is lost.
func TestCLI_RotateMCPKeepsSharedToken(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			env := map[string]string{}
			if engine == "postgres" {
				env[serverKeyEnv] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
			}
			base, stdout, _, stop := serveEnv(t, env, "--db", db, "--migrate")
			tok, _ := legacyConnectHTTP(t, base, teamKeyRE.FindString(stdout.String()), "laptop")["mcp_token"].(string)
			stop()
			sharedActive := func() {
				t.Helper()
				code, out, _ := runCLI(t, nil, "token", "list", "--db", db, "--json")
				var list []app.CredentialInfo
				if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
					t.Fatalf("list: exit %d %v\n%s", code, err, out)
				}
				for _, c := range list {
					if c.DaemonID == app.SharedDaemonID && c.Status == hypha.StatusActive {
						return
					}
				}
				t.Fatalf("no active shared token after a refused rotation: %+v", list)
			}
			if engine == "postgres" {
				// The key only in the server's environment.
				code, out, errs := runCLI(t, nil, "token", "rotate-mcp", "--db", db, "--grove", hypha.DefaultGroveID)
				if code != 1 || !strings.Contains(errs, "none was revoked") || !strings.Contains(errs, "HYPHA_SERVER_KEY") || !strings.Contains(errs, "--server-key-file") {
					t.Fatalf("rotate-mcp without the key: exit %d\n%s%s", code, out, errs)
				}
				sharedActive()
			}
			otherKey := map[string]string{serverKeyEnv: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))}
			code, out, errs := runCLI(t, otherKey, "token", "rotate-mcp", "--db", db, "--grove", hypha.DefaultGroveID)
			if code != 1 || !strings.Contains(errs, "is sealed under server key") || !strings.Contains(errs, "--accept-new-key") {
				t.Fatalf("rotate-mcp under another key: exit %d\n%s%s", code, out, errs)
			}
			sharedActive()
			code, out, errs = runCLI(t, otherKey, "token", "rotate-mcp", "--db", db, "--grove", hypha.DefaultGroveID, "--accept-new-key", "--show-token")
			next := mcpTokenRE.FindString(out)
			if code != 0 || next == "" || next == tok || !strings.Contains(out, "revoked 1 MCP token(s)") {
				t.Fatalf("rotate-mcp --accept-new-key: exit %d\n%s%s", code, out, errs)
			}
			base, _, _, _ = serveEnv(t, otherKey, "--db", db)
			if got := legacyConnectHTTP(t, base, teamKeyRE.FindString(stdout.String()), "laptop"); got["mcp_token"] != next {
				t.Fatalf("the server under the new key hands out %v, want the rotated token", got["mcp_token"])
			}
		})
	}
}

// TestServe_OldServerKeyFileThatCannotMove: a data directory on another
// file system than its parent (a mount point: a volume) cannot have its
// key file moved out; the server reads it where it is and says so, rather
// than refuse to start after an upgrade.
func TestServe_OldServerKeyFileThatCannotMove(t *testing.T) {
	// /dev/shm, where it is another file system, stands for the volume:
	// the data directory is a symbolic link to it.
	volume, err := os.MkdirTemp("/dev/shm", "hypha-volume-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(volume) })
	parent := t.TempDir()
	probe := filepath.Join(volume, "probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(probe, filepath.Join(parent, "probe")); err == nil {
		t.Skip("/dev/shm is on the same file system as the temporary directory")
	}
	data := filepath.Join(parent, "hypha-data")
	if err := os.Symlink(volume, data); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(data, "server.key")
	k, err := seal.CreateFile(old)
	if err != nil {
		t.Fatal(err)
	}
	base, _, stderr, stop := serveEnv(t, nil, "--db", filepath.Join(data, "hypha.db"))
	if resp, err := http.Get(base + "/health"); err == nil {
		resp.Body.Close()
	}
	stop()
	if log := stderr.String(); !strings.Contains(log, "cannot move the server key file out of the data directory") || !strings.Contains(log, k.ID()) {
		t.Fatalf("the server did not say it reads the old key file:\n%s", log)
	}
	if got, err := seal.LoadFile(old); err != nil || got.ID() != k.ID() {
		t.Fatalf("the old key file = %v, %v", got, err)
	}
	if _, err := os.Stat(data + ".key"); err == nil {
		t.Fatal("a new key file was made beside the data directory")
	}
}
