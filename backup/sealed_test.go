package backup_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	sealkey "github.com/hyphateam/hypha/internal/seal"
	"github.com/hyphateam/hypha/internal/testdb"
)

// TestExport_SecretsStaySealed: a backup carries the KV store, and with it
// the grove's shared MCP token and the provider token — as ciphertext
// under the server key, which is not in the database. Neither secret
// appears in the file in clear, nor base64-encoded, and the sealed values
// open after a restore with the same key.
func TestExport_SecretsStaySealed(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			db := testdb.MustOpen(t, engine)
			key, err := sealkey.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			creds := app.NewCredentials(db, app.CredentialsOptions{ServerKey: key})
			res, err := creds.Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "laptop"})
			if err != nil {
				t.Fatal(err)
			}
			shared := res.Token.Token
			const provider = "cf-provider-token-secret-value"
			if err := app.NewSecrets(db, key, app.SecretsOptions{}).SetProviderToken(ctx, provider, "acc"); err != nil {
				t.Fatal(err)
			}

			path := exportFile(t, db)
			raw := string(bytes.Join(unseal(t, readFile(t, path)), []byte("\n"))) // the file, ungzipped
			c := decodeFile(t, path)
			sealedSeen := 0
			for _, tbl := range c.Tables {
				for _, row := range tbl.Rows {
					for _, cell := range row {
						s, ok := cell.(string)
						if !ok {
							continue
						}
						texts := []string{s}
						if b, err := base64.StdEncoding.DecodeString(s); err == nil {
							texts = append(texts, string(b))
						}
						for _, text := range texts {
							if strings.Contains(text, shared) || strings.Contains(text, provider) {
								t.Fatalf("table %s holds a secret in clear: %.200s", tbl.Meta.Name, text)
							}
							if strings.HasPrefix(text, "hs1."+key.ID()+".") {
								sealedSeen++
							}
						}
					}
				}
			}
			if sealedSeen != 2 || strings.Contains(raw, shared) || strings.Contains(raw, provider) {
				t.Fatalf("%d sealed values in the export, want 2 (the shared and the provider token)", sealedSeen)
			}

			// Restored elsewhere with the same key, both open again.
			dst := testdb.MustOpen(t, engine)
			importFile(t, dst, path)
			again, err := app.NewCredentials(dst, app.CredentialsOptions{ServerKey: key}).Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "laptop"})
			if err != nil || again.Token.Token != shared {
				t.Fatalf("after restore: %v; the shared token changed: %v", err, again != nil && again.Token.Token != shared)
			}
			s := app.NewSecrets(dst, key, app.SecretsOptions{})
			if err := s.Reload(ctx); err != nil || s.ProviderAPIKey() != provider {
				t.Fatalf("provider token after restore: %v", err)
			}
			// Without the key they do not.
			other, _ := sealkey.NewKey()
			_, err = app.NewCredentials(dst, app.CredentialsOptions{ServerKey: other}).Connect(ctx, app.ConnectRequest{GroveID: "g1", MachineID: "desktop"})
			if hypha.ErrorCode(err) != hypha.EUnavailable {
				t.Fatalf("restored under another key: %v", err)
			}
		})
	}
}
