package main

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hyphateam/hypha/mcp"
	"github.com/hyphateam/hypha/search"
	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
)

// Config is every setting of the hypha binary. Each field is read, in this
// order of precedence, from its command-line flag, its HYPHA_* environment
// variable, the optional TOML config file, and its default.
type Config struct {
	DB                string        `key:"db" env:"HYPHA_DB" help:"database: a SQLite file path, or postgres://… for PostgreSQL"`
	Listen            string        `key:"listen" env:"HYPHA_LISTEN" help:"address the server listens on (host:port)"`
	Migrate           bool          `key:"migrate" env:"HYPHA_MIGRATE" help:"apply pending migrations on start (always on for the embedded SQLite store)"`
	LogLevel          string        `key:"log_level" env:"HYPHA_LOG_LEVEL" help:"log level: debug, info, warn or error"`
	LogFormat         string        `key:"log_format" env:"HYPHA_LOG_FORMAT" help:"log format: auto (text on a terminal, JSON otherwise), text or json"`
	SQLiteSynchronous string        `key:"sqlite_synchronous" env:"HYPHA_SQLITE_SYNCHRONOUS" help:"SQLite durability: NORMAL (survives a crash of the process) or FULL (also power loss, slower)"`
	ShutdownTimeout   time.Duration `key:"shutdown_timeout" env:"HYPHA_SHUTDOWN_TIMEOUT" help:"how long a graceful shutdown waits for in-flight requests"`
	SchemaCheck       time.Duration `key:"schema_check_interval" env:"HYPHA_SCHEMA_CHECK_INTERVAL" help:"how often a running server re-reads the schema version"`
	MCPTokenTTL       time.Duration `key:"mcp_token_ttl" env:"HYPHA_MCP_TOKEN_TTL" help:"lifetime of a grove MCP access token minted by /connect, and the default of named ones"`
	// The server key: see serverkey.go. The key itself can only come from
	// the environment (HYPHA_SERVER_KEY), never a flag or the file.
	ServerKeyFile string `key:"server_key_file" env:"HYPHA_SERVER_KEY_FILE" help:"file holding the 32-byte server key that seals stored secrets (default with SQLite: the data directory's path + .key, beside it, e.g. ./hypha-data.key, created on first start; with PostgreSQL none unless given here or in HYPHA_SERVER_KEY)"`
	// The cloud MCP server at /mcp: see serve.go.
	MCPStateless      bool          `key:"mcp_stateless" env:"HYPHA_MCP_STATELESS" help:"serve /mcp without sessions: every request stands alone (set it when several servers share a load balancer without sticky sessions)"`
	MCPSessionTimeout time.Duration `key:"mcp_session_timeout" env:"HYPHA_MCP_SESSION_TIMEOUT" help:"how long an idle /mcp session is kept"`
	MCPAllowedHosts   string        `key:"mcp_allowed_hosts" env:"HYPHA_MCP_ALLOWED_HOSTS" help:"comma-separated host names /mcp answers to on loopback connections besides localhost: the public name of a reverse proxy on this machine (other names are refused as DNS rebinding)"`
	MCPMaxSessions    int64         `key:"mcp_max_sessions" env:"HYPHA_MCP_MAX_SESSIONS" help:"most open /mcp sessions per grove and tier; an initialize beyond it is answered without a session, so the client goes on statelessly"`
	MCPRateLimit      int64         `key:"mcp_rate_limit" env:"HYPHA_MCP_RATE_LIMIT" help:"most /mcp and /mcp/call requests a second per grove with a credential (bursts of twice that; 429 with Retry-After beyond; 0, the default: no limit)"`
	MCPAnonRateLimit  int64         `key:"mcp_anonymous_rate_limit" env:"HYPHA_MCP_ANONYMOUS_RATE_LIMIT" help:"most /mcp and /mcp/call requests a second per grove on its anonymous tier, all callers together (bursts of twice that; all anonymous requests to the server: five times that; 0: no limit)"`
	// The embedder: see embedder.go.
	Embedder            string        `key:"embedder" env:"HYPHA_EMBEDDER" help:"embedder: hash (built in, offline, lexical: matches shared words, not meaning) or openai (any OpenAI-compatible /v1/embeddings endpoint: Ollama, OpenAI, Workers AI)"`
	EmbeddingURL        string        `key:"embedding_url" env:"HYPHA_EMBEDDING_URL" help:"base URL of the OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434 for Ollama (embedder openai)"`
	EmbeddingModel      string        `key:"embedding_model" env:"HYPHA_EMBEDDING_MODEL" help:"embedding model name, e.g. nomic-embed-text (embedder openai)"`
	EmbeddingDimensions int64         `key:"embedding_dimensions" env:"HYPHA_EMBEDDING_DIMENSIONS" help:"length of the model's vectors (required with openai; 0 means 384 for hash)"`
	EmbeddingAPIKeyEnv  string        `key:"embedding_api_key_env" env:"HYPHA_EMBEDDING_API_KEY_ENV" help:"name of the environment variable that holds the provider's API key, e.g. OPENAI_API_KEY"`
	EmbeddingAPIKeyFile string        `key:"embedding_api_key_file" env:"HYPHA_EMBEDDING_API_KEY_FILE" help:"file that holds the provider's API key (e.g. a mounted secret)"`
	EmbeddingTimeout    time.Duration `key:"embedding_timeout" env:"HYPHA_EMBEDDING_TIMEOUT" help:"time limit of one embeddings request (embedder openai)"`
	EmbeddingBatchSize  int64         `key:"embedding_batch_size" env:"HYPHA_EMBEDDING_BATCH_SIZE" help:"most texts per embeddings request (embedder openai)"`
	EmbeddingBatchChars int64         `key:"embedding_batch_chars" env:"HYPHA_EMBEDDING_BATCH_CHARS" help:"most characters (UTF-16 units) per embeddings request, so uneven texts cannot overflow the model's context (embedder openai)"`
	// The /connect rate limit of the server, and the global daemon: see
	// daemon.go, init.go and record.go.
	ConnectInterval       time.Duration `key:"connect_interval" env:"HYPHA_CONNECT_INTERVAL" help:"server: the /connect rate-limit window of one daemon in one grove (see connect_limit)"`
	ConnectLimit          int64         `key:"connect_limit" env:"HYPHA_CONNECT_LIMIT" help:"server: most /connect calls of one daemon in one grove per connect_interval; beyond, 429 with Retry-After (daemons need one a minute, a restart one more)"`
	Home                  string        `key:"home" env:"HYPHA_HOME" help:"this machine's Hypha directory with its groves and the daemon's socket (default ~/.hypha)"`
	DaemonPollInterval    time.Duration `key:"daemon_poll_interval" env:"HYPHA_DAEMON_POLL_INTERVAL" help:"daemon: how often each grove polls the server's /health for token rotation and the protocol window"`
	DaemonFlushInterval   time.Duration `key:"daemon_flush_interval" env:"HYPHA_DAEMON_FLUSH_INTERVAL" help:"daemon: how often an idle grove looks at its outbox (a local write through the daemon flushes at once)"`
	DaemonConnectInterval time.Duration `key:"daemon_connect_interval" env:"HYPHA_DAEMON_CONNECT_INTERVAL" help:"daemon: the least time between two /connect calls of one grove"`
	DaemonBackoffMax      time.Duration `key:"daemon_backoff_max" env:"HYPHA_DAEMON_BACKOFF_MAX" help:"daemon: the longest wait between two failed flushes (exponential backoff with jitter)"`
}

// DefaultConfig returns the defaults: the embedded SQLite store under
// ./hypha-data and the loopback address of the Myco team worker's dev port.
func DefaultConfig() Config {
	return Config{
		DB:                "./hypha-data/hypha.db",
		Listen:            "127.0.0.1:8787",
		LogLevel:          "info",
		LogFormat:         "auto",
		SQLiteSynchronous: "NORMAL",
		ShutdownTimeout:   30 * time.Second,
		SchemaCheck:       5 * time.Second,
		MCPTokenTTL:       30 * 24 * time.Hour,
		MCPSessionTimeout: 30 * time.Minute,
		MCPAnonRateLimit:  20,
		MCPMaxSessions:    mcp.DefaultMaxSessions,

		Embedder:            search.ProviderHash,
		EmbeddingTimeout:    search.DefaultOpenAITimeout,
		EmbeddingBatchSize:  search.DefaultOpenAIBatchSize,
		EmbeddingBatchChars: search.DefaultOpenAIBatchUnits,

		ConnectInterval:       time.Minute,
		ConnectLimit:          10,
		DaemonPollInterval:    5 * time.Second,
		DaemonFlushInterval:   time.Second,
		DaemonConnectInterval: time.Minute,
		DaemonBackoffMax:      5 * time.Minute,
	}
}

// Validate checks every field and reports all problems, one per line,
// naming the setting.
func (c *Config) Validate() error {
	var errs []string
	if strings.TrimSpace(c.DB) == "" {
		errs = append(errs, "db: must not be empty")
	} else if _, _, err := parseDB(c.DB); err != nil {
		errs = append(errs, "db: "+err.Error())
	}
	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Sprintf("listen: %q is not host:port (for example 127.0.0.1:8787)", c.Listen))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Sprintf("listen: port %q must be a number from 0 to 65535", port))
	} else if host == "" {
		_ = host // an empty host listens on every interface, which is allowed but explicit
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Sprintf("log_level: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	switch strings.ToLower(c.LogFormat) {
	case "auto", "text", "json":
	default:
		errs = append(errs, fmt.Sprintf("log_format: %q is not one of auto, text, json", c.LogFormat))
	}
	switch strings.ToUpper(c.SQLiteSynchronous) {
	case "NORMAL", "FULL":
	default:
		errs = append(errs, fmt.Sprintf("sqlite_synchronous: %q is not NORMAL or FULL", c.SQLiteSynchronous))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, "shutdown_timeout: must be positive (for example 30s)")
	}
	if c.SchemaCheck <= 0 {
		errs = append(errs, "schema_check_interval: must be positive (for example 5s)")
	}
	if c.MCPTokenTTL < time.Minute {
		errs = append(errs, "mcp_token_ttl: must be at least a minute (for example 720h)")
	}
	if c.MCPSessionTimeout < time.Second {
		errs = append(errs, "mcp_session_timeout: must be at least a second (for example 30m)")
	}
	if c.MCPMaxSessions < 1 {
		errs = append(errs, "mcp_max_sessions: must be at least 1 (for example 1000)")
	}
	if c.MCPRateLimit < 0 {
		errs = append(errs, "mcp_rate_limit: must not be negative (0 turns the limit off)")
	}
	if c.MCPAnonRateLimit < 0 {
		errs = append(errs, "mcp_anonymous_rate_limit: must not be negative (0 turns the limit off)")
	}
	errs = append(errs, c.validateEmbedder()...)
	errs = append(errs, c.validateDaemon()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// configField is one settable field of Config.
type configField struct {
	key, env, help string
	value          reflect.Value
}

func (c *Config) fields() []configField {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	out := make([]configField, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		out = append(out, configField{key: f.Tag.Get("key"), env: f.Tag.Get("env"), help: f.Tag.Get("help"), value: v.Field(i)})
	}
	return out
}

// flagName is the command-line spelling of a config key.
func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// setString parses s into the field according to its Go type.
func (f configField) setString(s string) error {
	switch f.value.Kind() {
	case reflect.String:
		f.value.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", s)
		}
		f.value.SetBool(b)
	case reflect.Int64:
		if f.value.Type() == reflect.TypeOf(time.Duration(0)) {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("expected a duration such as 30s or 5m, got %q", s)
			}
			f.value.SetInt(int64(d))
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("expected an integer, got %q", s)
		}
		f.value.SetInt(n)
	default:
		return fmt.Errorf("unsupported setting type %s", f.value.Kind())
	}
	return nil
}

// setTOML stores a value decoded from the config file, checking its type.
func (f configField) setTOML(v any) error {
	switch f.value.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("expected a string, got %s", tomlKind(v))
		}
		f.value.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("expected true or false, got %s", tomlKind(v))
		}
		f.value.SetBool(b)
	case reflect.Int64:
		if f.value.Type() == reflect.TypeOf(time.Duration(0)) {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("expected a duration string such as \"30s\", got %s", tomlKind(v))
			}
			return f.setString(s)
		}
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("expected an integer, got %s", tomlKind(v))
		}
		f.value.SetInt(n)
	}
	return nil
}

func tomlKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case map[string]any:
		return "a table"
	case []any:
		return "an array"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// LoadConfig builds the configuration from defaults, the config file at
// path ("" for none), the environment and the flags that were set.
func LoadConfig(path string, getenv func(string) string, flags *pflag.FlagSet) (Config, error) {
	cfg := DefaultConfig()
	fields := cfg.fields()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config file: %w", err)
		}
		var raw map[string]any
		if err := toml.Unmarshal(b, &raw); err != nil {
			return cfg, fmt.Errorf("config file %s is not valid TOML: %v", path, err)
		}
		known := map[string]configField{}
		var names []string
		for _, f := range fields {
			known[f.key] = f
			names = append(names, f.key)
		}
		sort.Strings(names)
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := known[k]
			if !ok {
				return cfg, fmt.Errorf("config file %s: unknown setting %q (known settings: %s)", path, k, strings.Join(names, ", "))
			}
			if err := f.setTOML(raw[k]); err != nil {
				return cfg, fmt.Errorf("config file %s: %s: %v", path, k, err)
			}
		}
	}
	for _, f := range fields {
		if v := getenv(f.env); v != "" {
			if err := f.setString(v); err != nil {
				return cfg, fmt.Errorf("environment variable %s: %v", f.env, err)
			}
		}
	}
	if flags != nil {
		for _, f := range fields {
			fl := flags.Lookup(flagName(f.key))
			if fl == nil || !fl.Changed {
				continue
			}
			if err := f.setString(fl.Value.String()); err != nil {
				return cfg, fmt.Errorf("flag --%s: %v", fl.Name, err)
			}
		}
	}
	return cfg, cfg.Validate()
}

// setOutsideFile returns the keys whose value came from a flag or an
// environment variable rather than the config file or a default: where a
// stored setting ranks between the two (the embedder's API key).
func setOutsideFile(getenv func(string) string, flags *pflag.FlagSet) map[string]bool {
	out := map[string]bool{}
	var c Config
	for _, f := range c.fields() {
		if getenv(f.env) != "" {
			out[f.key] = true
		}
		if flags != nil {
			if fl := flags.Lookup(flagName(f.key)); fl != nil && fl.Changed {
				out[f.key] = true
			}
		}
	}
	return out
}

// addConfigFlag registers the flag of one config key on fs, with the
// default and help text from Config.
func addConfigFlag(fs *pflag.FlagSet, key string) {
	def := DefaultConfig()
	for _, f := range def.fields() {
		if f.key != key {
			continue
		}
		help := fmt.Sprintf("%s (env %s)", f.help, f.env)
		switch f.value.Kind() {
		case reflect.Bool:
			fs.Bool(flagName(key), f.value.Bool(), help)
		case reflect.Int64:
			if f.value.Type() == reflect.TypeOf(time.Duration(0)) {
				fs.Duration(flagName(key), time.Duration(f.value.Int()), help)
			} else {
				fs.Int64(flagName(key), f.value.Int(), help)
			}
		default:
			fs.String(flagName(key), f.value.String(), help)
		}
		return
	}
	panic("unknown config key " + key)
}
