package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/postgres"
	"github.com/hyphateam/hypha/search"
)

// openArg opens the database a --db value names, closed at cleanup.
func openArg(t *testing.T, engine, db string) *sqlstore.DB {
	t.Helper()
	if engine == "sqlite" {
		return testdb.OpenSQLite(t, db, nil)
	}
	s, err := postgres.Open(context.Background(), db, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runCLIWithin runs one command line in-process, giving up after a generous
// bound (never a timing assertion: only a hung command fails).
func runCLIWithin(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	if ctx.Err() != nil {
		t.Fatalf("%v did not finish: %s%s", args, out.String(), errb.String())
	}
	return code, out.String(), errb.String()
}

// seedRestored writes records straight into the store, without embed jobs,
// as a restore of records without vectors would: 3 active spores, a
// superseded one, a session with a summary, an empty plan.
func seedRestored(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	mk := func(table, id string, data map[string]any) *hypha.Record {
		data["project_id"] = "proj_0123456789abcdef0123456789abcdef"
		r, err := hypha.NewRecord(hypha.LookupTable(table), hypha.DefaultGroveID, "m1", id, data)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	recs := []*hypha.Record{
		mk("spores", "a", map[string]any{"content": "the queue retries with backoff"}),
		mk("spores", "b", map[string]any{"content": "vectors live in the store"}),
		mk("spores", "c", map[string]any{"content": "hybrid ranking fuses two lists"}),
		mk("spores", "old", map[string]any{"content": "superseded", "status": "superseded"}),
		mk("sessions", "s1", map[string]any{"summary": "moved search to Hypha"}),
		mk("plans", "p1", map[string]any{"content": ""}),
	}
	if _, err := db.UpsertRecords(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// embeddingProvider is a local stand-in for an OpenAI-compatible provider
// on the internet, answering dims-long vectors; it counts its requests and
// checks the API key.
func embeddingProvider(t *testing.T, dims int, key string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+key {
			http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
			return
		}
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "test-embed" {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		data := make([]map[string]any, len(req.Input))
		for i, in := range req.Input {
			v := make([]float32, dims)
			for j := range v {
				v[j] = float32((len(in)+j)%7) + 1
			}
			data[i] = map[string]any{"index": i, "embedding": v}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// vectorModels counts the stored vectors of the default grove's
// embeddable records by "model/dims".
func vectorModels(t *testing.T, db *sqlstore.DB) map[string]int {
	t.Helper()
	var keys []hypha.RecordKey
	for _, tb := range app.EmbeddableTables() {
		ks, err := db.ListEmbeddableKeys(context.Background(), hypha.EmbeddableQuery{Table: tb, GroveID: hypha.DefaultGroveID})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ks...)
	}
	embs, err := db.FindEmbeddings(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range embs {
		out[fmt.Sprintf("%s/%d", e.Model, len(e.Vector))]++
	}
	return out
}

func TestCLI_SearchReindex(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			dbURL := dbArg(t, engine)
			if code, out, errs := runCLI(t, nil, "migrate", "up", "--db", dbURL); code != 0 {
				t.Fatalf("migrate: %s%s", out, errs)
			}
			db := openArg(t, engine, dbURL)
			seedRestored(t, db)

			for _, c := range []struct {
				args []string
				code int
				want string
			}{
				{[]string{"--table", "toString"}, 2, "--table: Unknown table: toString (embeddable: sessions, spores, plans, artifacts, skill_records)"},
				{[]string{"--grove", "bad grove"}, 2, "--grove: invalid grove id"},
				{[]string{"--grove", "nobody"}, 1, `grove "nobody" does not exist`},
			} {
				code, _, errs := runCLI(t, nil, append([]string{"search", "reindex", "--db", dbURL, "--no-wait"}, c.args...)...)
				if code != c.code || !strings.Contains(errs, c.want) {
					t.Fatalf("%v: exit %d, %q; want %d with %q", c.args, code, errs, c.code, c.want)
				}
			}

			code, out, errs := runCLI(t, nil, "search", "reindex", "--db", dbURL, "--no-wait")
			if code != 0 || !strings.Contains(out, "Queued 4 records of grove default for embedding (sessions: 1, spores: 3, plans: 0, artifacts: 0, skill_records: 0).") {
				t.Fatalf("reindex --no-wait: exit %d\n%s%s", code, out, errs)
			}
			if jobs, err := db.CountJobs(context.Background(), hypha.DefaultGroveID); err != nil || jobs.Pending != 4 {
				t.Fatalf("jobs %+v, %v; want 4 pending", jobs, err)
			}

			// The command waits while no server runs, until one has embedded
			// every record.
			type result struct {
				code      int
				out, errs string
			}
			waited := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				var out, errb bytes.Buffer
				code := Run(ctx, []string{"search", "reindex", "--db", dbURL, "--table", "spores"}, strings.NewReader(""), &out, &errb, func(string) string { return "" })
				waited <- result{code, out.String(), errb.String()}
			}()
			args := []string{"--db", dbURL, "--migrate"}
			base, stop := startServe(t, nil, args...)
			r := <-waited
			if r.code != 0 || !strings.Contains(r.out, "Queued 3 records") || !strings.Contains(r.out, "4 of 4 embeddable records of grove default have a vector.") {
				t.Fatalf("reindex: exit %d\n%s%s", r.code, r.out, r.errs)
			}
			_, _, health := getJSON(t, base+"/health")
			if fmt.Sprint(health["embedder"]) != fmt.Sprintf("map[dims:384 lexical:true model:%s provider:hash provider_token_set:false]", search.HashModel) {
				t.Fatalf("/health embedder = %v", health["embedder"])
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := vectorModels(t, db); got[search.HashModel+"/384"] != 4 || len(got) != 1 {
				t.Fatalf("vectors after the first server: %v", got)
			}

			// The operator switches to a semantic model: the next start
			// deletes the lexical vectors and re-embeds everything with it.
			provider, requests := embeddingProvider(t, 8, "sk-test-key")
			keyFile := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(keyFile, []byte("sk-test-key\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			base, stop = startServe(t, nil, append(args, "--embedder", "openai", "--embedding-url", provider.URL, "--embedding-model", "test-embed",
				"--embedding-dimensions", "8", "--embedding-api-key-file", keyFile)...)
			_, _, health = getJSON(t, base+"/health")
			if fmt.Sprint(health["embedder"]) != "map[dims:8 lexical:false model:test-embed provider:openai provider_token_set:false]" {
				t.Fatalf("/health embedder = %v", health["embedder"])
			}
			if got := vectorModels(t, db); got[search.HashModel+"/384"] != 0 {
				t.Fatalf("lexical vectors survived the model change: %v", got)
			}
			code, out, errs = runCLIWithin(t, nil, "search", "reindex", "--db", dbURL)
			if code != 0 || !strings.Contains(out, "4 of 4 embeddable records") {
				t.Fatalf("reindex after the change: exit %d\n%s%s", code, out, errs)
			}
			if got := vectorModels(t, db); got["test-embed/8"] != 4 || len(got) != 1 {
				t.Fatalf("vectors after the change: %v, want 4 of test-embed only", got)
			}
			cfg, _ := db.TeamConfig(context.Background())
			if cfg["embedding_provider"] != "openai" || cfg["embedding_model"] != "test-embed" || cfg["embedding_dimensions"] != "8" {
				t.Fatalf("team_config %v", cfg)
			}
			if requests.Load() == 0 {
				t.Fatal("the provider was never asked")
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCLI_SearchHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "search", "reindex", "--help")
	for _, want := range []string{"Usage:", "--grove", "--table", "--no-wait", "--db", "vector_count", "embeddable_count"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("search reindex --help: exit %d, no %q in\n%s", code, want, out)
		}
	}
}

func TestServe_EmbedderSettingsRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hypha.db")
	code, _, errs := runCLI(t, map[string]string{}, "serve", "--db", db, "--listen", "127.0.0.1:0", "--embedder", "openai",
		"--embedding-url", "http://127.0.0.1:1", "--embedding-model", "m", "--embedding-dimensions", "8", "--embedding-api-key-env", "HYPHA_TEST_NO_SUCH_KEY")
	if code != 1 || !strings.Contains(errs, "embedding_api_key_env: the environment variable HYPHA_TEST_NO_SUCH_KEY is empty or unset") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, _, errs = runCLI(t, nil, "serve", "--db", db, "--listen", "127.0.0.1:0", "--embedder", "openai",
		"--embedding-url", "http://127.0.0.1:1", "--embedding-model", "m", "--embedding-dimensions", "8", "--embedding-api-key-file", filepath.Join(dir, "none"))
	if code != 1 || !strings.Contains(errs, "embedding_api_key_file: open ") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

func TestLoadConfig_Embedder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hypha.toml")
	toml := "embedder = \"openai\"\nembedding_url = \"http://127.0.0.1:11434\"\nembedding_model = \"nomic-embed-text\"\n" +
		"embedding_dimensions = 768\nembedding_api_key_env = \"OLLAMA_KEY\"\nembedding_timeout = \"10s\"\n"
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(file, func(k string) string { return map[string]string{"HYPHA_EMBEDDING_BATCH_SIZE": "8"}[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Embedder != "openai" || cfg.EmbeddingDimensions != 768 || cfg.EmbeddingTimeout != 10*time.Second || cfg.EmbeddingBatchSize != 8 ||
		cfg.EmbeddingAPIKeyEnv != "OLLAMA_KEY" || cfg.EmbeddingBatchChars != int64(search.DefaultOpenAIBatchUnits) {
		t.Fatalf("config %+v", cfg)
	}

	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"unknown provider", map[string]string{"HYPHA_EMBEDDER": "bert"}, []string{`embedder: "bert" is not one of hash, openai`}},
		{"openai needs url, model and dims", map[string]string{"HYPHA_EMBEDDER": "openai"},
			[]string{"embedding_url: required", "embedding_model: required", "embedding_dimensions: required"}},
		{"bad url", map[string]string{"HYPHA_EMBEDDER": "openai", "HYPHA_EMBEDDING_URL": "localhost:11434", "HYPHA_EMBEDDING_MODEL": "m", "HYPHA_EMBEDDING_DIMENSIONS": "8"},
			[]string{"embedding_url: embedding URL \"localhost:11434\" must be an http:// or https:// URL"}},
		{"key in the env setting", map[string]string{"HYPHA_EMBEDDER": "openai", "HYPHA_EMBEDDING_URL": "https://api.openai.com", "HYPHA_EMBEDDING_MODEL": "m",
			"HYPHA_EMBEDDING_DIMENSIONS": "8", "HYPHA_EMBEDDING_API_KEY_ENV": "sk-abc.def"}, []string{"is not an environment variable name"}},
		{"both key sources", map[string]string{"HYPHA_EMBEDDER": "openai", "HYPHA_EMBEDDING_URL": "https://api.openai.com", "HYPHA_EMBEDDING_MODEL": "m",
			"HYPHA_EMBEDDING_DIMENSIONS": "8", "HYPHA_EMBEDDING_API_KEY_ENV": "K", "HYPHA_EMBEDDING_API_KEY_FILE": "/k"}, []string{"not both"}},
		{"openai settings with hash", map[string]string{"HYPHA_EMBEDDING_MODEL": "nomic-embed-text"}, []string{`embedding_model: only used with embedder = "openai"`}},
		{"hash dims", map[string]string{"HYPHA_EMBEDDING_DIMENSIONS": "3"}, []string{"embedding_dimensions: 3 is out of range for the built-in embedder"}},
		{"batch size", map[string]string{"HYPHA_EMBEDDING_BATCH_SIZE": "0"}, []string{"embedding_batch_size: 0 is not from 1 to 2048"}},
		{"timeout", map[string]string{"HYPHA_EMBEDDING_TIMEOUT": "-1s"}, []string{"embedding_timeout: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig("", func(k string) string { return tt.env[k] }, nil)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}
