// Command hypha is the whole Hypha team server in one binary: the team sync
// server (hypha serve), schema migrations, backups, drift checks and
// benchmarks. Run `hypha --help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hyphateam/hypha"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Build information, set with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// Main holds what every command shares: its streams, environment and the
// configuration once loaded.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Config         Config
	Logger         *slog.Logger

	configPath string
	// fromFlagOrEnv holds the config keys set by a flag or an environment
	// variable (see setOutsideFile).
	fromFlagOrEnv map[string]bool
	// Ready, when set, receives the server's listen address once it
	// accepts connections (used by tests that start on port 0).
	Ready func(addr string)
}

// Run executes the command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	m := &Main{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv}
	return m.Execute(ctx, args)
}

// Execute runs one command line on m.
func (m *Main) Execute(ctx context.Context, args []string) int {
	root := m.rootCommand()
	root.SetArgs(args)
	root.SetIn(m.Stdin)
	root.SetOut(m.Stdout)
	root.SetErr(m.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(m.Stderr, "hypha: "+ee.msg)
			}
			return ee.code
		}
		fmt.Fprintln(m.Stderr, "hypha: "+oneLine(err))
		return 1
	}
	return 0
}

// exitError ends a command with a specific exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// oneLine renders an error for a terminal: the hypha message when there is
// one, with the cause kept for context.
func oneLine(err error) string {
	msg := err.Error()
	var he *hypha.Error
	if errors.As(err, &he) && he.Err != nil && he.Code != hypha.EInternal {
		msg = he.Message + ": " + he.Err.Error()
	}
	// Driver errors (pgx's dial errors, say) can span lines; keep one.
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
}

func (m *Main) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "hypha",
		Short: "Hypha: the self-hosted Myco team server in one binary",
		Long: `Hypha runs Myco's team infrastructure on your own machine or servers: team sync
with durable ingest, search, a cloud MCP server and the operator tools around them.

It stores everything in an embedded SQLite file by default (./hypha-data/hypha.db)
and on PostgreSQL when --db is a postgres:// URL.

Start a server on this machine:
  hypha serve

Settings come from flags, then HYPHA_* environment variables, then the TOML file
named by --config (or HYPHA_CONFIG), then defaults.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return m.load(cmd)
		},
	}
	root.PersistentFlags().StringVar(&m.configPath, "config", "", "TOML config file (env HYPHA_CONFIG)")
	addConfigFlag(root.PersistentFlags(), "log_level")
	addConfigFlag(root.PersistentFlags(), "log_format")
	root.AddCommand(
		m.serveCommand(),
		m.migrateCommand(),
		m.dbCommand(),
		m.benchCommand(),
		m.tokenCommand(),
		m.searchCommand(),
		m.groveCommand(),
		m.versionCommand(),
		m.initCommand(), m.daemonCommand(), m.recordCommand(),
	)
	return root
}

// load reads the configuration and sets up logging for a command.
func (m *Main) load(cmd *cobra.Command) error {
	path := m.configPath
	if path == "" {
		path = m.Getenv("HYPHA_CONFIG")
	}
	cfg, err := LoadConfig(path, m.Getenv, cmd.Flags())
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	m.Config = cfg
	m.fromFlagOrEnv = setOutsideFile(m.Getenv, cmd.Flags())
	m.Logger = newLogger(m.Stderr, cfg.LogLevel, cfg.LogFormat)
	return nil
}

// newLogger logs text to a terminal and JSON otherwise.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" || (format == "auto" && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
