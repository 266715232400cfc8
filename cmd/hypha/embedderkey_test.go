package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/seal"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/spf13/pflag"
)

// TestEmbedder_APIKeyPrecedence: the key the embedder sends is, in order,
// a key setting given by flag, one given by environment variable, the
// provider token stored through POST /tokens/cf-api, one from the config
// file; and a stored token is used (and dropped) without a restart.
func TestEmbedder_APIKeyPrecedence(t *testing.T) {
	var mu sync.Mutex
	var last string
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Get("Authorization")
		mu.Unlock()
		var req struct {
			Input []string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		data := make([]map[string]any, len(req.Input))
		for i := range req.Input {
			data[i] = map[string]any{"index": i, "embedding": []float32{1, 0, 0, 0}}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(provider.Close)

	dir := t.TempDir()
	keyFile := func(name, key string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fromFile, fromEnv, fromFlag := keyFile("file.key", "key-from-file"), keyFile("env.key", "key-from-env"), keyFile("flag.key", "key-from-flag")
	base := "embedder = \"openai\"\nembedding_url = \"" + provider.URL + "\"\nembedding_model = \"m\"\nembedding_dimensions = 4\n"

	db := testdb.MustOpen(t, "sqlite")
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	secrets := app.NewSecrets(db, key, app.SecretsOptions{})
	ctx := context.Background()

	tests := []struct {
		name   string
		toml   string
		env    map[string]string
		flags  []string
		stored string
		want   string
	}{
		{"nothing", base, nil, nil, "", ""},
		{"stored_only", base, nil, nil, "stored-token", "Bearer stored-token"},
		{"file_only", base + "embedding_api_key_file = \"" + fromFile + "\"\n", nil, nil, "", "Bearer key-from-file"},
		{"stored_over_file", base + "embedding_api_key_file = \"" + fromFile + "\"\n", nil, nil, "stored-token", "Bearer stored-token"},
		{"env_over_stored", base, map[string]string{"HYPHA_EMBEDDING_API_KEY_FILE": fromEnv}, nil, "stored-token", "Bearer key-from-env"},
		{"env_var_name_over_stored", base, map[string]string{"HYPHA_EMBEDDING_API_KEY_ENV": "PROVIDER_KEY", "PROVIDER_KEY": "key-in-var"}, nil, "stored-token", "Bearer key-in-var"},
		{"flag_over_env_and_stored", base, map[string]string{"HYPHA_EMBEDDING_API_KEY_FILE": fromEnv}, []string{"--embedding-api-key-file", fromFlag}, "stored-token", "Bearer key-from-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "hypha.toml")
			if err := os.WriteFile(file, []byte(tt.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			getenv := func(k string) string { return tt.env[k] }
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			addConfigFlag(fs, "embedding_api_key_file")
			if err := fs.Parse(tt.flags); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(file, getenv, fs)
			if err != nil {
				t.Fatal(err)
			}
			m := &Main{Config: cfg, Getenv: getenv, fromFlagOrEnv: setOutsideFile(getenv, fs)}
			e, err := m.newEmbedder(secrets.ProviderAPIKey)
			if err != nil {
				t.Fatal(err)
			}
			if tt.stored != "" {
				if err := secrets.SetProviderToken(ctx, tt.stored, "acc"); err != nil {
					t.Fatal(err)
				}
			} else if err := secrets.DeleteProviderToken(ctx); err != nil {
				t.Fatal(err)
			}
			sent := func() string {
				t.Helper()
				if _, err := e.Embed(ctx, "x"); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				return last
			}
			if got := sent(); got != tt.want {
				t.Fatalf("Authorization %q, want %q", got, tt.want)
			}
			if tt.stored != "" && tt.want == "Bearer "+tt.stored {
				// Deleted while running: the next request goes without it.
				if err := secrets.DeleteProviderToken(ctx); err != nil {
					t.Fatal(err)
				}
				if got := sent(); got == tt.want {
					t.Fatalf("after deleting the stored token the embedder still sends it")
				}
			}
		})
	}
}
