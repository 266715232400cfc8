package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/migrate"
	"github.com/pelletier/go-toml/v2"
)

// Files of a grove directory.
const (
	groveConfigFile = "grove.toml"
	teamKeyFile     = "team_key"
	tokenFile       = "mcp_token.json"
	storeFile       = "local.db"
)

// GroveConfig is a grove's grove.toml.
type GroveConfig struct {
	GroveID   string `toml:"grove_id"`
	ServerURL string `toml:"server_url"` // "" while the grove only captures locally
	CreatedAt string `toml:"created_at"`
}

// LoadGroveConfig reads the settings of an installed grove.
func LoadGroveConfig(home Home, grove string) (GroveConfig, error) {
	var c GroveConfig
	b, err := os.ReadFile(filepath.Join(home.GroveDir(grove), groveConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := ListGroves(home); lerr != nil {
			return c, lerr
		}
		return c, notInstalled(home, grove)
	}
	if err != nil {
		return c, fmt.Errorf("read grove %s settings: %w", grove, err)
	}
	if err := toml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("grove %s: %s is not valid TOML: %v", grove, groveConfigFile, err)
	}
	if c.GroveID != grove {
		return c, fmt.Errorf("grove %s: %s names grove %q", grove, groveConfigFile, c.GroveID)
	}
	return c, nil
}

func saveGroveConfig(home Home, c GroveConfig) error {
	b, err := toml.Marshal(c)
	if err != nil {
		return err
	}
	head := "# Hypha grove settings, written by `hypha init --grove`; run it again to change them.\n"
	return writeFileAtomic(filepath.Join(home.GroveDir(c.GroveID), groveConfigFile), append([]byte(head), b...), 0o600)
}

// ReadTeamKey returns the grove's Team Key, "" when it has none.
func ReadTeamKey(home Home, grove string) (string, error) {
	b, err := os.ReadFile(filepath.Join(home.GroveDir(grove), teamKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the Team Key of grove %s: %w", grove, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// TokenState is what a grove keeps from its last /connect: the MCP token and
// the fingerprint and scope /health is compared with (as opaque strings).
type TokenState struct {
	Token         string `json:"mcp_token"`
	Hash          string `json:"mcp_token_hash"`
	GroveScope    string `json:"grove_scope"`
	ExpiresAt     string `json:"expires_at,omitempty"`
	ConnectedAt   string `json:"connected_at"`
	DaemonID      string `json:"daemon_id"`
	ServerURL     string `json:"server_url"`
	MCPServerURL  string `json:"mcp_server_url,omitempty"`
	TeamKeyStatus string `json:"team_key_status,omitempty"`
}

// connectedAt parses ConnectedAt; zero when unknown.
func (t *TokenState) connectedAt() time.Time {
	at, _ := time.Parse(time.RFC3339Nano, t.ConnectedAt)
	return at
}

// ReadToken returns the grove's stored token state, nil when it has none.
func ReadToken(home Home, grove string) (*TokenState, error) {
	b, err := os.ReadFile(filepath.Join(home.GroveDir(grove), tokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the MCP token of grove %s: %w", grove, err)
	}
	var t TokenState
	if err := json.Unmarshal(b, &t); err != nil || t.Token == "" {
		return nil, nil // a damaged file is a missing token: /connect again
	}
	return &t, nil
}

// writeToken stores the token state, readable only by the owner.
func writeToken(home Home, grove string, t *TokenState) error {
	b, _ := json.MarshalIndent(t, "", "  ")
	if err := writeFileAtomic(filepath.Join(home.GroveDir(grove), tokenFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("store the MCP token of grove %s: %w", grove, err)
	}
	return nil
}

// NormalizeServerURL checks a team server URL and drops a trailing slash.
func NormalizeServerURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", hypha.Errorf(hypha.EInvalid, "server URL %q must look like http://host:port or https://host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", hypha.Errorf(hypha.EInvalid, "server URL %q must not have a query or fragment", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// InstallOptions configures Install.
type InstallOptions struct {
	GroveID   string
	ServerURL string // "" keeps the current one (none for a new grove)
	TeamKey   string // "" keeps the current one
	MachineID string // names the machine when its identity is created now
}

// InstallResult describes what Install did.
type InstallResult struct {
	Dir      string
	Created  bool // the grove was new
	Config   GroveConfig
	Identity Identity
	Applied  []migrate.Step // local store steps applied
	HasKey   bool
}

// Install creates (or updates) a grove installation: its directory, its
// settings, its Team Key and its migrated local store. Running it again on
// an installed grove changes only what is given.
func Install(ctx context.Context, home Home, opts InstallOptions) (*InstallResult, error) {
	if err := hypha.ValidateGroveID(opts.GroveID); err != nil {
		return nil, err
	}
	if opts.ServerURL != "" {
		u, err := NormalizeServerURL(opts.ServerURL)
		if err != nil {
			return nil, err
		}
		opts.ServerURL = u
	}
	if strings.ContainsAny(strings.TrimSpace(opts.TeamKey), " \t\r\n") {
		return nil, hypha.Errorf(hypha.EInvalid, "the Team Key must be one word (the hyk_… secret printed by `hypha token create-team-key`)")
	}
	id, err := EnsureIdentity(home, opts.MachineID)
	if err != nil {
		return nil, err
	}
	dir := home.GroveDir(opts.GroveID)
	res := &InstallResult{Dir: dir, Identity: id}
	cfg, err := LoadGroveConfig(home, opts.GroveID)
	switch {
	case err == nil:
	case hypha.ErrorCode(err) == EGroveNotInstalled || IsNoGroves(err):
		res.Created = true
		cfg = GroveConfig{GroveID: opts.GroveID, CreatedAt: time.Now().UTC().Format(time.RFC3339)}
	default:
		return nil, err
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	if opts.ServerURL != "" {
		cfg.ServerURL = opts.ServerURL
	}
	if key := strings.TrimSpace(opts.TeamKey); key != "" {
		if err := writeFileAtomic(filepath.Join(dir, teamKeyFile), []byte(key+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("store the Team Key: %w", err)
		}
	}
	st, err := OpenStore(ctx, filepath.Join(dir, storeFile), id.MachineID)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if res.Applied, err = st.Migrate(ctx, 0); err != nil {
		return nil, err
	}
	// The settings file is written last: a grove is installed once it
	// exists, so an interrupted install is simply run again.
	if err := saveGroveConfig(home, cfg); err != nil {
		return nil, fmt.Errorf("store the grove settings: %w", err)
	}
	res.Config = cfg
	key, err := ReadTeamKey(home, opts.GroveID)
	res.HasKey = key != ""
	return res, err
}

// OpenGroveStore opens the local store of an installed grove.
func OpenGroveStore(ctx context.Context, home Home, grove string) (*Store, error) {
	if _, err := LoadGroveConfig(home, grove); err != nil {
		return nil, err
	}
	id, err := EnsureIdentity(home, "")
	if err != nil {
		return nil, err
	}
	return OpenStore(ctx, filepath.Join(home.GroveDir(grove), storeFile), id.MachineID)
}
