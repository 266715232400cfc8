package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/bench"
	"github.com/hyphateam/hypha/daemon"
	"github.com/spf13/cobra"
)

func (m *Main) benchDaemonCommand() *cobra.Command {
	var opts bench.DaemonOptions
	var cpuProfile string
	var localOnly bool
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Records/s from a local write through the daemon to visible and searchable on the server",
		Long: `Starts a real server (the 'hypha serve' wiring) on a scratch database of the
engine --db names, and a real daemon on a temporary HYPHA_HOME with one grove
joined to it. --writers concurrent writers then write --records spores of ~1 KB
through the daemon's control socket, one record per local write (each one a
transaction of the local table and the outbox, committed together with the
writes that arrive meanwhile), while the daemon flushes its outbox in batches
of up to 100. It reports the local write rate, the time until the server
holds every record (readable through /records), and until every record is
embedded (searchable). The live data is never touched.

--local-only runs no server (the grove has none, the records stay in the
outbox): the rate of local writes through the daemon alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			quiet := slog.New(slog.DiscardHandler)
			const grove = "bench"
			install := daemon.InstallOptions{GroveID: grove, MachineID: "bench"}
			engine := "none (--local-only)"
			var visible, searchable func(context.Context) (int, error)
			served := make(chan error, 1)
			if !localOnly {
				db, _, cleanup, err := m.scratchStore(ctx, false)
				if err != nil {
					return err
				}
				defer cleanup()
				key, _, err := app.NewCredentials(db, app.CredentialsOptions{}).CreateTeamKey(ctx, "bench", 0)
				if err != nil {
					return err
				}
				engine, _, _ = parseDB(m.Config.DB)
				sub := &Main{Stdin: m.Stdin, Stdout: io.Discard, Stderr: m.Stderr, Getenv: m.Getenv, Config: m.Config, Logger: quiet}
				sub.Config.Listen = "127.0.0.1:0"
				ready := make(chan string, 1)
				sub.Ready = func(addr string) { ready <- addr }
				go func() { served <- sub.serveStore(ctx, db, engine) }()
				select {
				case addr := <-ready:
					install.ServerURL, install.TeamKey = "http://"+addr, key
				case err := <-served:
					return fmt.Errorf("start server: %v", err)
				}
				defer func() { cancel(); <-served }()
				visible = func(ctx context.Context) (int, error) {
					n, err := db.CountRecords(ctx, grove, "bench")
					return int(n["spores"]), err
				}
				searchable = func(ctx context.Context) (int, error) {
					n, err := db.CountEmbeddings(ctx, grove)
					return int(n), err
				}
			}
			dir, err := os.MkdirTemp("", "hypha-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			home := daemon.Home{Dir: filepath.Join(dir, "h")}
			if _, err := daemon.Install(ctx, home, install); err != nil {
				return err
			}
			d := daemon.New(daemon.Options{Home: home, Version: m.version(), PollInterval: time.Second, FlushInterval: 50 * time.Millisecond, Logger: quiet})
			if err := d.Start(ctx); err != nil {
				return err
			}
			defer d.Stop()
			client := daemon.NewClient(home)
			defer client.Close()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
			}
			res, err := bench.Daemon(ctx, client, grove, visible, searchable, opts)
			if cpuProfile != "" {
				pprof.StopCPUProfile()
			}
			if err != nil {
				return err
			}
			writers := opts.Writers
			if writers <= 0 {
				writers = 4
			}
			fmt.Fprintf(m.Stdout, "engine=%s records=%d writers=%d\n%s", engine, res.Records, writers, res.String())
			if n, txs, err := d.WriteStats(grove); err == nil && txs > 0 {
				fmt.Fprintf(m.Stdout, "local commits: %d write requests in %d transactions (%.2f per commit)\n", n, txs, float64(n)/float64(txs))
			}
			d.Stop()
			return nil
		},
	}
	addConfigFlag(cmd.Flags(), "db")
	addConfigFlag(cmd.Flags(), "sqlite_synchronous")
	cmd.Flags().IntVar(&opts.Records, "records", 20_000, "records to write")
	cmd.Flags().IntVar(&opts.Writers, "writers", 4, "concurrent local writers")
	cmd.Flags().BoolVar(&localOnly, "local-only", false, "run no server: measure the local writes through the daemon alone")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measured run (server, daemon and writers share the process) to this file")
	return cmd
}
