package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testdb"
)

// TestCLI_RevokeTeamKeyRevokesItsTokens: `hypha token revoke tk_…` also
// revokes the MCP tokens daemons got with that key, and a running server
// refuses them at once.
func TestCLI_RevokeTeamKeyRevokesItsTokens(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			base, _, _, _ := serveCapturing(t, "--db", db, "--migrate")
			_, out, _ := runCLI(t, nil, "token", "create-team-key", "--db", db, "--name", "alice")
			key, id := teamKeyRE.FindString(out), keyIDRE.FindString(out)
			// The server finds a key made elsewhere on its next miss reload
			// (at most every 250 ms).
			var token string
			waitFor(t, "a /connect with the new key", 5*time.Second, func() bool {
				req, _ := http.NewRequest("POST", base+"/connect", strings.NewReader(`{"machine_id":"laptop"}`))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("X-Daemon-ID", "gd-alice")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				token = mcpTokenRE.FindString(string(body))
				return resp.StatusCode == http.StatusOK && token != ""
			})
			if got := getWithKey(t, base+"/search?q=x", token); got != http.StatusOK {
				t.Fatalf("the daemon's token answers %d before the revocation", got)
			}
			code, out, errs := runCLI(t, nil, "token", "revoke", "--db", db, id)
			if code != 0 || out != "revoked team key "+id+" and the 1 MCP token(s) minted through it\n" {
				t.Fatalf("revoke: exit %d %q %s", code, out, errs)
			}
			if got := getWithKey(t, base+"/search?q=x", token); got != http.StatusUnauthorized {
				t.Fatalf("the revoked key's token answers %d, want 401 at once", got)
			}
		})
	}
}
