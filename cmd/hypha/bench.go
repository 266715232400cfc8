package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

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
			engine, target, err := parseDB(m.Config.DB)
			if err != nil {
				return err
			}
			var db *sqlstore.DB
			var raw *sql.DB
			if engine == "postgres" {
				u, drop, err := postgres.ScratchSchema(ctx, target)
				if err != nil {
					return err
				}
				defer drop()
				if db, err = postgres.Open(ctx, u, postgres.Options{}); err != nil {
					return err
				}
				raw = db.WriteDB()
			} else {
				dir, err := os.MkdirTemp(filepath.Dir(target), ".hypha-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				if db, err = sqlite.Open(ctx, filepath.Join(dir, "bench.db"), sqlite.Options{Synchronous: m.Config.SQLiteSynchronous}); err != nil {
					return err
				}
				if raw, err = sqlite.OpenPlain(filepath.Join(dir, "raw.db"), m.Config.SQLiteSynchronous); err != nil {
					return err
				}
				defer raw.Close()
			}
			defer db.Close()
			if _, err := db.Migrate(ctx, 0); err != nil {
				return err
			}
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
	store.Flags().IntVar(&opts.Records, "records", 20000, "records written in each measurement")
	store.Flags().IntVar(&opts.Batch, "batch", 100, "records per transaction")
	store.Flags().IntVar(&opts.Dims, "dims", 384, "embedding dimension")
	cmd.AddCommand(store)
	return cmd
}
