package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hyphateam/hypha/daemon"
	"github.com/spf13/cobra"
)

// exitNotRunning is the exit code of `hypha daemon status` when no daemon
// runs (the LSB convention for "program is not running").
const exitNotRunning = 3

func (m *Main) daemonCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run and control the global daemon that syncs this machine's groves",
		Long: `One daemon per machine (per HYPHA_HOME) serves every grove installed with
'hypha init --grove': it flushes each grove's outbox to its team server, polls
/health to notice MCP token rotation, and reports per grove on a Unix socket
($HYPHA_HOME/daemon/daemon.sock, 0600). Team sync requires a Grove installation.`,
	}
	addConfigFlag(cmd.PersistentFlags(), "home")
	cmd.AddCommand(m.daemonRunCommand(), m.daemonStartCommand(), m.daemonStopCommand(), m.daemonStatusCommand(), m.daemonMigrateCommand())
	return cmd
}

// teamSyncError turns "no grove installation" into the seed's two-line
// message with the command that fixes it.
func teamSyncError(err error) error {
	if daemon.IsNoGroves(err) {
		return &exitError{code: 1, msg: err.Error()}
	}
	return err
}

func (m *Main) daemonOptions(home daemon.Home) daemon.Options {
	return daemon.Options{Home: home, Version: m.version(), PollInterval: m.Config.DaemonPollInterval, FlushInterval: m.Config.DaemonFlushInterval,
		ConnectInterval: m.Config.DaemonConnectInterval, BackoffMax: m.Config.DaemonBackoffMax, Logger: m.Logger}
}

var daemonTuning = []string{"daemon_poll_interval", "daemon_flush_interval", "daemon_connect_interval", "daemon_backoff_max"}

func (m *Main) daemonRunCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground (until Ctrl-C or `hypha daemon stop`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := m.home()
			if err != nil {
				return err
			}
			ctx, stop := m.drainOnSignal(cmd.Context())
			defer stop()
			d := daemon.New(m.daemonOptions(home))
			if err := d.Start(ctx); err != nil {
				return teamSyncError(err)
			}
			select {
			case <-ctx.Done(): // drainOnSignal logged the signal
			case <-d.StopRequested():
				m.Logger.Info("stop requested over the control socket")
			}
			d.Stop()
			return nil
		},
	}
	for _, k := range daemonTuning {
		addConfigFlag(cmd.Flags(), k)
	}
	return cmd
}

func (m *Main) daemonStartCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start the daemon in the background (output in $HYPHA_HOME/daemon/daemon.log)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			home, _, err := m.installedHome()
			if err != nil {
				return err
			}
			if pid, running := daemon.Running(home); running {
				fmt.Fprintf(m.Stdout, "the daemon already runs (pid %d); see hypha daemon status\n", pid)
				return nil
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the hypha binary: %w", err)
			}
			args := []string{"daemon", "run", "--home", home.Dir, "--log-level", m.Config.LogLevel, "--log-format", "json",
				"--daemon-poll-interval", m.Config.DaemonPollInterval.String(), "--daemon-flush-interval", m.Config.DaemonFlushInterval.String(),
				"--daemon-connect-interval", m.Config.DaemonConnectInterval.String(), "--daemon-backoff-max", m.Config.DaemonBackoffMax.String()}
			if m.configPath != "" {
				args = append(args, "--config", m.configPath)
			}
			if err := os.MkdirAll(home.DaemonDir(), 0o700); err != nil {
				return err
			}
			logf, err := os.OpenFile(home.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("open the daemon log: %w", err)
			}
			defer logf.Close()
			c := exec.Command(exe, args...)
			c.Stdout, c.Stderr, c.Stdin = logf, logf, nil
			c.Env = append(os.Environ(), "HYPHA_HOME="+home.Dir)
			detach(c)
			if err := c.Start(); err != nil {
				return fmt.Errorf("start the daemon: %w", err)
			}
			exited := make(chan error, 1)
			go func() { exited <- c.Wait() }()
			client := daemon.NewClient(home)
			deadline := time.After(20 * time.Second)
			for {
				if st, err := client.Status(ctx); err == nil {
					fmt.Fprintf(m.Stdout, "hypha daemon started (pid %d, daemon %s, %d grove(s)); socket %s, log %s\n",
						st.Daemon.PID, st.Daemon.DaemonID, len(st.Groves), home.SocketPath(), home.LogPath())
					return nil
				}
				select {
				case err := <-exited:
					return fmt.Errorf("the daemon exited at start (%v); the end of %s:\n%s", err, home.LogPath(), tailFile(home.LogPath(), 10))
				case <-deadline:
					return fmt.Errorf("the daemon did not answer on %s within 20 s; see %s", home.SocketPath(), home.LogPath())
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(25 * time.Millisecond):
				}
			}
		},
	}
	for _, k := range daemonTuning {
		addConfigFlag(cmd.Flags(), k)
	}
	return cmd
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (m *Main) daemonStopCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop the running daemon (its outboxes keep every unsent record)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			home, err := m.home()
			if err != nil {
				return err
			}
			pid, err := daemon.NewClient(home).Stop(ctx)
			if errors.Is(err, daemon.ErrNotRunning) {
				held := false
				if pid, held = daemon.Running(home); !held {
					fmt.Fprintln(m.Stdout, "no daemon is running")
					return nil
				}
				// It holds the lock but does not answer: ask it by signal.
				if err := terminate(pid); err != nil {
					return fmt.Errorf("the daemon (pid %d) does not answer on its socket and cannot be signalled: %w", pid, err)
				}
			} else if err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := daemon.WaitStopped(wctx, home); err != nil {
				return fmt.Errorf("the daemon (pid %d) has not stopped after 30 s", pid)
			}
			fmt.Fprintf(m.Stdout, "hypha daemon stopped (pid %d)\n", pid)
			return nil
		},
	}
}

func (m *Main) daemonStatusCommand() *cobra.Command {
	var coordination, asJSON bool
	var grove string
	cmd := &cobra.Command{
		Use:   "status [--grove-coordination] [--grove G] [--json]",
		Short: "Show the daemon and, per grove, its server, connection, outbox, last sync, failures and token",
		Long: `Shows whether the daemon runs and the state of every grove. With
--grove-coordination, per grove: server URL, connection state, outbox depth, last
successful sync, failures in the last 24 h, records the server rejected, MCP token
status and expiry, Team Key status, local schema and the server's protocol window.

Without a running daemon it reads the groves' files (outbox, last sync, stored
token) and exits with status 3.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			home, _, err := m.installedHome()
			if err != nil {
				return err
			}
			if grove != "" {
				if _, err := daemon.LoadGroveConfig(home, grove); err != nil {
					return teamSyncError(err)
				}
			}
			st, err := daemon.NewClient(home).Status(ctx)
			if errors.Is(err, daemon.ErrNotRunning) {
				st, err = daemon.OfflineStatus(ctx, home)
			}
			if err != nil {
				return teamSyncError(err)
			}
			if grove != "" {
				var keep []daemon.GroveStatus
				for _, g := range st.Groves {
					if g.GroveID == grove {
						keep = append(keep, g)
					}
				}
				st.Groves = keep
			}
			if asJSON {
				enc := json.NewEncoder(m.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return err
				}
			} else {
				printDaemonStatus(m.Stdout, st, coordination)
			}
			if !st.Daemon.Running {
				return &exitError{code: exitNotRunning}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&coordination, "grove-coordination", false, "per grove: server, connection, outbox, last sync, failures, token")
	cmd.Flags().StringVar(&grove, "grove", "", "only this grove")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printDaemonStatus(w io.Writer, st *daemon.Status, coordination bool) {
	d := st.Daemon
	if d.Running {
		fmt.Fprintf(w, "daemon %s on machine %s: running (pid %d, version %s, since %s)\n", d.DaemonID, d.MachineID, d.PID, d.Version, d.StartedAt)
	} else {
		fmt.Fprintf(w, "daemon %s on machine %s: not running (start it with `hypha daemon start`)\n", d.DaemonID, d.MachineID)
	}
	fmt.Fprintf(w, "home %s\n\n", d.Home)
	if !coordination {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROVE\tSTATE\tOUTBOX\tLAST SYNC\tFAILURES 24H\tTOKEN\tSERVER")
		for _, g := range st.Groves {
			depth := int64(0)
			last := ""
			fails := int64(0)
			if g.Outbox != nil {
				depth, last, fails = g.Outbox.Depth, g.Outbox.LastSuccessAt, g.Outbox.Failures24h
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", g.GroveID, g.Connection.State, depth, orDash(last), fails, g.Token.Status, orDash(g.ServerURL))
		}
		tw.Flush()
		return
	}
	for i, g := range st.Groves {
		if i > 0 {
			fmt.Fprintln(w)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "grove %s\n", g.GroveID)
		fmt.Fprintf(tw, "  server URL\t%s\n", orDash(g.ServerURL))
		state := g.Connection.State
		if g.Connection.Reason != "" {
			state += ": " + g.Connection.Reason
		}
		fmt.Fprintf(tw, "  connection state\t%s\n", state)
		if o := g.Outbox; o != nil {
			depth := fmt.Sprint(o.Depth)
			if o.OldestAt != "" {
				depth += " (oldest written " + o.OldestAt + ")"
			}
			fmt.Fprintf(tw, "  outbox depth\t%s\n", depth)
			fmt.Fprintf(tw, "  last successful sync\t%s\n", orDash(o.LastSuccessAt))
			fails := fmt.Sprint(o.Failures24h)
			if o.LastFailure != "" {
				fails += " (last: " + o.LastFailure + ")"
			}
			fmt.Fprintf(tw, "  failures last 24 h\t%s\n", fails)
			fmt.Fprintf(tw, "  rejected records\t%d\n", o.RejectedTotal)
			for _, r := range o.RecentRejections {
				fmt.Fprintf(tw, "    %s %s/%s\t%s (%s)\n", r.Operation, r.Table, r.ID, r.Error, r.RejectedAt)
			}
		}
		t := g.Token
		tok := t.Status
		if t.ExpiresAt != "" {
			tok += ", expires " + t.ExpiresAt
		}
		if t.HashPrefix != "" {
			tok += ", hash " + t.HashPrefix + "…"
		}
		if t.Reason != "" {
			tok += " (" + t.Reason + ")"
		}
		fmt.Fprintf(tw, "  token status\t%s\n", tok)
		if d.Running {
			rot := fmt.Sprintf("%d /connect(s), %d rotation(s)", t.Connects, t.Rotations)
			if r := t.LastRotation; r != nil {
				rot += fmt.Sprintf("; last at %s (noticed at poll %d, replaced at poll %d): %s", r.At, r.DetectedPoll, r.Poll, r.Reason)
			}
			if t.NextConnectAt != "" {
				rot += "; next /connect allowed at " + t.NextConnectAt
			}
			fmt.Fprintf(tw, "  token refreshes\t%s\n", rot)
		}
		fmt.Fprintf(tw, "  team key status\t%s\n", orDash(g.TeamKeyStatus))
		ls := g.LocalSchema
		schema := fmt.Sprintf("version %d of %d (%s)", ls.Version, ls.Target, ls.State)
		if ls.Problem != "" {
			schema += ": " + ls.Problem
		}
		fmt.Fprintf(tw, "  local schema\t%s\n", schema)
		if c := g.Connection; c.LastHealthAt != "" {
			fmt.Fprintf(tw, "  server\tprotocol %d (accepts %d–%d), version %s; last /health %s (%d polls)\n",
				c.ServerProtocol, c.ServerMinProtocol, c.ServerProtocol, c.ServerVersion, c.LastHealthAt, c.HealthPolls)
		}
		if c := g.Connection; c.NextAttemptAt != "" {
			fmt.Fprintf(tw, "  next flush attempt\t%s (after %d consecutive failures)\n", c.NextAttemptAt, c.ConsecutiveFailures)
		}
		tw.Flush()
	}
}

func (m *Main) daemonMigrateCommand() *cobra.Command {
	var grove string
	var all bool
	var to int
	cmd := &cobra.Command{
		Use:   "migrate --grove G",
		Short: "Migrate a grove's local store to this binary's schema (same engine as the server's migrations)",
		Long: `Applies the pending steps of a grove's local store, each in one transaction,
recorded with its checksum (the migrate engine of 'hypha migrate'). The daemon
does not sync a grove whose local schema is behind; it resumes on its next
poll once the grove is migrated. Safe while the daemon runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			home, ids, err := m.installedHome()
			if err != nil {
				return err
			}
			switch {
			case all && grove != "":
				return &exitError{code: 2, msg: "give --grove G or --all, not both"}
			case !all && grove == "":
				return &exitError{code: 2, msg: "name the grove to migrate: hypha daemon migrate --grove G (or --all)"}
			case !all:
				ids = []string{grove}
			}
			for _, id := range ids {
				st, err := daemon.OpenGroveStore(ctx, home, id)
				if err != nil {
					return err
				}
				done, err := st.Migrate(ctx, to)
				for _, s := range done {
					fmt.Fprintf(m.Stdout, "grove %s: applied %s\n", id, s.ID())
				}
				if err != nil {
					st.Close()
					return fmt.Errorf("grove %s: %w", id, err)
				}
				r, err := st.SchemaStatus(ctx)
				st.Close()
				if err != nil {
					return err
				}
				if len(done) == 0 {
					fmt.Fprintf(m.Stdout, "grove %s: nothing to do: local schema is at version %d\n", id, r.Current)
				} else {
					fmt.Fprintf(m.Stdout, "grove %s: local schema is at version %d\n", id, r.Current)
				}
			}
			_ = daemon.NewClient(home).Reload(ctx)
			return nil
		},
	}
	cmd.Flags().StringVar(&grove, "grove", "", "the grove to migrate")
	cmd.Flags().BoolVar(&all, "all", false, "migrate every grove of this machine")
	cmd.Flags().IntVar(&to, "to", 0, "stop after this version (default: the newest)")
	return cmd
}

// validateDaemon checks the daemon's and the /connect window's settings.
func (c *Config) validateDaemon() []string {
	var errs []string
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"connect_interval", c.ConnectInterval}, {"daemon_poll_interval", c.DaemonPollInterval}, {"daemon_flush_interval", c.DaemonFlushInterval},
		{"daemon_connect_interval", c.DaemonConnectInterval}, {"daemon_backoff_max", c.DaemonBackoffMax}} {
		if d.v < 10*time.Millisecond {
			errs = append(errs, fmt.Sprintf("%s: must be at least 10ms (for example 5s)", d.key))
		}
	}
	if c.ConnectInterval > 0 && c.ConnectInterval < time.Second {
		errs = append(errs, "connect_interval: must be at least 1s (the server counts in seconds; the seed's rate is 1m)")
	}
	if c.ConnectLimit < 1 {
		errs = append(errs, "connect_limit: must be at least 1 (for example 10)")
	}
	return errs
}
