package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hyphateam/hypha/daemon"
	"github.com/spf13/cobra"
)

// defaultGroveID is the grove `hypha init --grove` installs without
// --grove-id: the seed's name for a member's primary grove.
const defaultGroveID = "user_primary"

func (m *Main) initCommand() *cobra.Command {
	var grove bool
	var groveID, server, keyFile, machineID string
	cmd := &cobra.Command{
		Use:   "init --grove [--grove-id ID] [--server URL] [--team-key-file F]",
		Short: "Install a grove on this machine (team sync requires a Grove installation)",
		Long: `Creates (or updates) a grove installation in $HYPHA_HOME/groves/<grove_id>/
(HYPHA_HOME defaults to ~/.hypha): its settings, the Team Key (kept in a 0600
file), and a local SQLite store holding the synced tables and the outbox, migrated
to this binary's schema. The machine's daemon id is created on first use.

With --server and --team-key-file the grove joins that team server at once: it
calls POST /connect (at most once a minute per grove) and stores the grove's MCP
token. Without them the grove captures records locally until you run init again
with them.

Run it again to change the server or the Team Key; a running daemon picks the
change up. Then start the daemon: hypha daemon start`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !grove {
				return &exitError{code: 2, msg: "hypha init needs --grove: team sync requires a Grove installation\n" +
					"usage: hypha init --grove [--grove-id ID] [--server URL] [--team-key-file F]"}
			}
			return m.initGrove(cmd.Context(), groveID, server, keyFile, machineID)
		},
	}
	cmd.Flags().BoolVar(&grove, "grove", false, "install a grove (required: Hypha supports only Grove installations)")
	cmd.Flags().StringVar(&groveID, "grove-id", defaultGroveID, "the grove's id (1-64 letters, digits, '_', '-', '.')")
	cmd.Flags().StringVar(&server, "server", "", "the team server's URL, e.g. http://127.0.0.1:8787")
	cmd.Flags().StringVar(&keyFile, "team-key-file", "", "file holding the Team Key (hyk_…); - reads standard input")
	cmd.Flags().StringVar(&machineID, "machine-id", "", "this machine's id in records, when its identity is created now (default: host name and 6 random hex digits)")
	addConfigFlag(cmd.Flags(), "home")
	return cmd
}

func (m *Main) initGrove(ctx context.Context, groveID, server, keyFile, machineID string) error {
	home, err := m.home()
	if err != nil {
		return err
	}
	key := ""
	if keyFile != "" {
		var b []byte
		if keyFile == "-" {
			b, err = io.ReadAll(io.LimitReader(m.Stdin, 64<<10))
		} else {
			b, err = os.ReadFile(keyFile)
		}
		if err != nil {
			return fmt.Errorf("read the Team Key: %w", err)
		}
		if key = strings.TrimSpace(string(b)); key == "" {
			return &exitError{code: 2, msg: fmt.Sprintf("the Team Key file %s is empty", keyFile)}
		}
	}
	res, err := daemon.Install(ctx, home, daemon.InstallOptions{GroveID: groveID, ServerURL: server, TeamKey: key, MachineID: machineID})
	if err != nil {
		return err
	}
	verb := "updated"
	if res.Created {
		verb = "created"
	}
	fmt.Fprintf(m.Stdout, "%s grove %s in %s (machine %s, daemon %s)\n", verb, groveID, res.Dir, res.Identity.MachineID, res.Identity.DaemonID)
	if len(res.Applied) > 0 {
		fmt.Fprintf(m.Stdout, "local store migrated to schema version %d\n", res.Applied[len(res.Applied)-1].Version)
	}
	client := daemon.NewClient(home)
	defer func() { _ = client.Reload(context.WithoutCancel(ctx)) }() // a running daemon picks the grove up
	if res.Config.ServerURL == "" || !res.HasKey {
		fmt.Fprintf(m.Stdout, "no team server yet: records are captured locally; join one with\n  hypha init --grove --grove-id %s --server URL --team-key-file F\n", groveID)
		return nil
	}
	tok, called, err := daemon.Connect(ctx, home, groveID, daemon.ConnectOptions{Version: m.version(),
		HTTPClient: &http.Client{Timeout: 20 * time.Second}, Interval: m.Config.DaemonConnectInterval})
	var re *daemon.RemoteError
	switch {
	case err != nil && errors.As(err, &re) && re.Status != http.StatusTooManyRequests && re.Status != http.StatusServiceUnavailable:
		return fmt.Errorf("the team server refused grove %s: %w", groveID, err)
	case err != nil:
		fmt.Fprintf(m.Stdout, "could not connect to %s now (%v); the daemon connects when it can\n", res.Config.ServerURL, err)
	case called:
		fmt.Fprintf(m.Stdout, "connected to %s: MCP token stored (expires %s, Team Key %s)\n", res.Config.ServerURL, tok.ExpiresAt, tok.TeamKeyStatus)
	default:
		fmt.Fprintf(m.Stdout, "already connected to %s at %s (one /connect a minute per grove); MCP token kept\n", res.Config.ServerURL, tok.ConnectedAt)
	}
	if _, running := daemon.Running(home); !running {
		fmt.Fprintln(m.Stdout, "start the daemon to sync: hypha daemon start")
	}
	return nil
}

// home returns this machine's Hypha directory: --home, HYPHA_HOME, ~/.hypha.
func (m *Main) home() (daemon.Home, error) {
	return daemon.ResolveHome(func(k string) string {
		if k == "HYPHA_HOME" {
			return m.Config.Home
		}
		return m.Getenv(k)
	})
}

// installedHome returns this machine's Hypha directory and its groves, or
// the team-sync error that says how to install a grove.
func (m *Main) installedHome() (daemon.Home, []string, error) {
	home, err := m.home()
	if err != nil {
		return home, nil, err
	}
	ids, err := daemon.ListGroves(home)
	if err != nil {
		return home, nil, teamSyncError(err)
	}
	return home, ids, nil
}

// version is the binary's version, for package_version.
func (m *Main) version() string {
	v, _ := buildInfo()
	return v
}
