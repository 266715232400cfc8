package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"

	"github.com/hyphateam/hypha/bench"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/postgres"
	"github.com/hyphateam/hypha/sqlite"
	"github.com/spf13/cobra"
)

func (m *Main) benchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run benchmarks and print their figures",
	}
	var opts bench.StoreOptions
	store := &cobra.Command{
		Use:   "store",
		Short: "Upserts/s of ~1 KB records with a 384-float embedding, against raw inserts",
		Long: `Measures, on a scratch database of the engine --db names (a temporary SQLite
file, or a temporary schema dropped afterwards in the PostgreSQL database),
raw batched inserts of ~1 KB rows carrying a 384-float embedding (for SQLite into
a plain database file opened without Hypha's tuning), then the same
records written through the store layer (upsert with de-duplication plus the
stored embedding), in transactions of --batch records. The live data is never
touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, raw, cleanup, err := m.scratchStore(ctx, true)
			if err != nil {
				return err
			}
			defer cleanup()
			res, err := bench.Store(ctx, db, raw, opts)
			if err != nil {
				return err
			}
			fmt.Fprint(m.Stdout, res.String())
			return nil
		},
	}
	addConfigFlag(store.Flags(), "db")
	addConfigFlag(store.Flags(), "sqlite_synchronous")
	store.Flags().IntVar(&opts.Records, "records", 50000, "records written in each measurement")
	store.Flags().IntVar(&opts.Batch, "batch", 100, "records per transaction")
	store.Flags().IntVar(&opts.Dims, "dims", 384, "embedding dimension")
	cmd.AddCommand(store, m.benchIngestCommand(), m.benchSearchCommand(), m.benchDaemonCommand())
	return cmd
}

// scratchStore opens a migrated, empty database of the engine --db names
// (a temporary SQLite file beside it, or a temporary PostgreSQL schema),
// and, for SQLite when raw is asked, a plain database file for baselines.
func (m *Main) scratchStore(ctx context.Context, raw bool) (*sqlstore.DB, *sql.DB, func(), error) {
	engine, target, err := parseDB(m.Config.DB)
	if err != nil {
		return nil, nil, nil, err
	}
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	var db *sqlstore.DB
	var plain *sql.DB
	if engine == "postgres" {
		u, drop, err := postgres.ScratchSchema(ctx, target)
		if err != nil {
			return nil, nil, nil, err
		}
		cleanups = append(cleanups, drop)
		if db, err = postgres.Open(ctx, u, postgres.Options{}); err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		plain = db.WriteDB()
	} else {
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return nil, nil, nil, err
		}
		dir, err := os.MkdirTemp(filepath.Dir(target), ".hypha-bench-")
		if err != nil {
			return nil, nil, nil, err
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		if db, err = sqlite.Open(ctx, filepath.Join(dir, "bench.db"), sqlite.Options{Synchronous: m.Config.SQLiteSynchronous}); err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		if raw {
			if plain, err = sqlite.OpenPlain(filepath.Join(dir, "raw.db"), m.Config.SQLiteSynchronous); err != nil {
				db.Close()
				cleanup()
				return nil, nil, nil, err
			}
			cleanups = append(cleanups, func() { plain.Close() })
		}
	}
	cleanups = append(cleanups, func() { db.Close() })
	if _, err := db.Migrate(ctx, 0); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return db, plain, cleanup, nil
}

func (m *Main) benchIngestCommand() *cobra.Command {
	var opts bench.IngestOptions
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Records/s through /enqueue over loopback HTTP, and /health latency",
		Long: `Starts a real server (the same wiring as 'hypha serve') on a scratch database of
the engine --db names and a loopback port, then sends --records spore records of
~1 KB in batches of --batch from --clients concurrent clients, each batch resent
until acknowledged. An acknowledged record is committed: durable and queryable.
It then waits until every record is embedded, and measures /health latency over
2,000 sequential requests on the idle server. The live data is never touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			db, _, cleanup, err := m.scratchStore(ctx, false)
			if err != nil {
				return err
			}
			defer cleanup()
			key, _, err := app.NewCredentials(db, app.CredentialsOptions{}).CreateTeamKey(ctx, "bench", 0)
			if err != nil {
				return err
			}
			engine, _, _ := parseDB(m.Config.DB)
			sub := &Main{Stdin: m.Stdin, Stdout: io.Discard, Stderr: m.Stderr, Getenv: m.Getenv, Config: m.Config,
				Logger: slog.New(slog.DiscardHandler)}
			sub.Config.Listen = "127.0.0.1:0"
			ready := make(chan string, 1)
			sub.Ready = func(addr string) { ready <- addr }
			served := make(chan error, 1)
			go func() { served <- sub.serveStore(ctx, db, engine) }()
			var addr string
			select {
			case addr = <-ready:
			case err := <-served:
				return fmt.Errorf("start server: %v", err)
			}
			res, err := bench.Ingest(ctx, "http://"+addr, key, opts)
			if err != nil {
				return err
			}
			start := time.Now()
			for {
				sum, err := db.CountEmbeddable(ctx, hypha.DefaultGroveID)
				if err != nil {
					return err
				}
				n, err := db.CountEmbeddings(ctx, hypha.DefaultGroveID)
				if err != nil {
					return err
				}
				if n >= sum["spores"] {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			res.IndexedAfter = res.Elapsed + time.Since(start)
			if res.HealthP50, res.HealthP99, err = bench.HealthLatency(ctx, "http://"+addr, 2000); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "engine=%s records=%d batch=%d clients=%d\n%s", engine, res.Records, max(opts.Batch, 100), max(opts.Clients, 4), res.String())
			cancel()
			<-served
			return nil
		},
	}
	addConfigFlag(cmd.Flags(), "db")
	addConfigFlag(cmd.Flags(), "sqlite_synchronous")
	cmd.Flags().IntVar(&opts.Records, "records", 100_000, "records to send")
	cmd.Flags().IntVar(&opts.Batch, "batch", 100, "records per /enqueue request")
	cmd.Flags().IntVar(&opts.Clients, "clients", 4, "concurrent clients")
	return cmd
}

func (m *Main) benchSearchCommand() *cobra.Command {
	var opts bench.SearchOptions
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search end to end: index build, memory, recall@10 and /search latency per mode",
		Long: `Populates a scratch database of the engine --db names (a temporary SQLite file,
or a temporary schema dropped afterwards in the PostgreSQL database) with
--records spores, sessions and plans over three groves (90 % in the searched
one), with generated texts of 20-80 words over a Zipf-distributed vocabulary,
their 384-d vectors from the built-in embedder and their search documents,
written straight through the store. Then it measures, as a server would meet
them: the vector index build from the store and the resident memory it adds;
recall@10 of the index against a brute-force float64 scan of the stored
vectors; and the latency of sequential GET /search requests (semantic, keyword,
hybrid; limit 10) on the real API server over loopback keep-alive, and of the
same searches through app.Search in process. The live data is never touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				opts.CPUProfile = f
			}
			db, _, cleanup, err := m.scratchStore(ctx, false)
			if err != nil {
				return err
			}
			defer cleanup()
			opts.Progress = m.Stderr
			res, err := bench.Search(ctx, db, opts)
			if err != nil {
				return err
			}
			fmt.Fprint(m.Stdout, res.String())
			return nil
		},
	}
	addConfigFlag(cmd.Flags(), "db")
	addConfigFlag(cmd.Flags(), "sqlite_synchronous")
	cmd.Flags().IntVar(&opts.Records, "records", 100_000, "records populated")
	cmd.Flags().IntVar(&opts.Queries, "queries", 200, "query vectors of the recall measurement")
	cmd.Flags().IntVar(&opts.Requests, "requests", 500, "timed searches per mode")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "seed of the generated texts and queries")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the latency phase to this file")
	return cmd
}
