package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Home is a machine's Hypha directory: $HYPHA_HOME, else ~/.hypha.
//
//	<home>/daemon/identity.json   the daemon's stable id and the machine id
//	<home>/daemon/daemon.sock     the control socket (0600)
//	<home>/daemon/daemon.lock     held by the one running daemon
//	<home>/daemon/daemon.log      output of `hypha daemon start`
//	<home>/groves/<grove_id>/     one grove: grove.toml, team_key, mcp_token.json, local.db
type Home struct {
	Dir string
}

// ResolveHome returns the Home named by HYPHA_HOME, else ~/.hypha.
func ResolveHome(getenv func(string) string) (Home, error) {
	if d := strings.TrimSpace(getenv("HYPHA_HOME")); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return Home{}, fmt.Errorf("HYPHA_HOME %q: %w", d, err)
		}
		return Home{Dir: abs}, nil
	}
	h := getenv("HOME")
	if h == "" {
		var err error
		if h, err = os.UserHomeDir(); err != nil {
			return Home{}, fmt.Errorf("cannot find the home directory (set HYPHA_HOME): %w", err)
		}
	}
	return Home{Dir: filepath.Join(h, ".hypha")}, nil
}

// GrovesDir is the directory that holds one directory per grove.
func (h Home) GrovesDir() string { return filepath.Join(h.Dir, "groves") }

// GroveDir is the directory of one grove.
func (h Home) GroveDir(grove string) string { return filepath.Join(h.GrovesDir(), grove) }

// DaemonDir holds the daemon's identity, socket, lock and log.
func (h Home) DaemonDir() string { return filepath.Join(h.Dir, "daemon") }

// SocketPath is the control socket.
func (h Home) SocketPath() string { return filepath.Join(h.DaemonDir(), "daemon.sock") }

// LockPath is the lock file held by the running daemon.
func (h Home) LockPath() string { return filepath.Join(h.DaemonDir(), "daemon.lock") }

// LogPath is where `hypha daemon start` sends the daemon's output.
func (h Home) LogPath() string { return filepath.Join(h.DaemonDir(), "daemon.log") }

func (h Home) identityPath() string { return filepath.Join(h.DaemonDir(), "identity.json") }

// ensureDir creates dir (and parents) readable only by the owner.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return os.Chmod(dir, 0o700)
}

// Identity is the machine's daemon identity, created once and never changed:
// the daemon id sent as X-Daemon-ID and the machine id records carry.
type Identity struct {
	DaemonID  string `json:"daemon_id"`
	MachineID string `json:"machine_id"`
	CreatedAt string `json:"created_at"`
}

var machineRE = regexp.MustCompile(`[^a-z0-9]+`)

// defaultMachineID is the host name, reduced to [a-z0-9-], and 6 random hex
// digits, so two machines with the same name stay apart.
func defaultMachineID() string {
	host, _ := os.Hostname()
	host = strings.Trim(machineRE.ReplaceAllString(strings.ToLower(host), "-"), "-")
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		host = "machine"
	}
	return host + "-" + randomHex(3)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// EnsureIdentity returns the machine's identity, creating it on first use
// (the first `hypha init` or daemon start). machineID, when not empty, names
// the machine of a new identity; an existing identity is never changed.
func EnsureIdentity(home Home, machineID string) (Identity, error) {
	var id Identity
	if b, err := os.ReadFile(home.identityPath()); err == nil {
		if err := json.Unmarshal(b, &id); err != nil || id.DaemonID == "" || id.MachineID == "" {
			return id, fmt.Errorf("%s is damaged (%v): restore it, or delete it to give this machine a new daemon id", home.identityPath(), err)
		}
		return id, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return id, fmt.Errorf("read daemon identity: %w", err)
	}
	if err := ensureDir(home.DaemonDir()); err != nil {
		return id, err
	}
	if machineID == "" {
		machineID = defaultMachineID()
	}
	id = Identity{DaemonID: "gd-" + randomHex(8), MachineID: machineID, CreatedAt: time.Now().UTC().Format(time.RFC3339)}
	b, _ := json.MarshalIndent(id, "", "  ")
	// O_EXCL: when two processes create it at once, the loser reads the
	// winner's, so a machine has exactly one daemon id.
	f, err := os.OpenFile(home.identityPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return EnsureIdentity(home, machineID)
	}
	if err != nil {
		return id, fmt.Errorf("create daemon identity: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return id, fmt.Errorf("write daemon identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return id, err
	}
	return id, f.Close()
}

// ListGroves returns the ids of the groves installed in home, sorted. A
// machine without any returns *ErrNoGroves.
func ListGroves(home Home) ([]string, error) {
	entries, err := os.ReadDir(home.GrovesDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list groves: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(home.GroveDir(e.Name()), groveConfigFile)); err == nil {
			ids = append(ids, e.Name())
		}
	}
	if len(ids) == 0 {
		return nil, &ErrNoGroves{Dir: home.GrovesDir()}
	}
	sort.Strings(ids)
	return ids, nil
}

// writeFileAtomic replaces path with data (mode perm) through a temporary
// file and a rename, so a reader never sees half a file and a crash leaves
// the old one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
