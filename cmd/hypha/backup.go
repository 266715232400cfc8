package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/backup"
	"github.com/hyphateam/hypha/internal/progress"
	"github.com/spf13/cobra"
)

func (m *Main) exportCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export --output FILE",
		Short: "Write a consistent, portable backup of every table, the KV store and embeddings",
		Long: `Streams a consistent snapshot of the whole database (every table, the KV store
and stored embeddings) to FILE as gzip-compressed JSON lines that restore on
either engine. The file is written under a temporary name and renamed when it
is complete, so FILE is never a partial backup.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return &exitError{code: 2, msg: "db export needs --output FILE"}
			}
			return m.export(cmd.Context(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "backup file to write")
	return cmd
}

func (m *Main) export(ctx context.Context, output string) (err error) {
	db, _, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".partial-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", output, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bar := progress.New(m.Stderr, isTerminal(m.Stderr), "exporting", 0)
	var before int64
	var last string
	sum, err := backup.Export(ctx, db, tmp, backup.ExportOptions{Progress: func(table string, rows, total int64) {
		if table != last {
			last = table
		}
		bar.Set(table, before+rows)
		if total >= 0 {
			before += total
		}
	}})
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", output, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", output, err)
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return fmt.Errorf("write %s: %w", output, err)
	}
	bar.Finish()
	fmt.Fprintf(m.Stdout, "exported %d rows from %d tables to %s\n", sum.Rows, len(sum.Tables), output)
	return nil
}

func (m *Main) importCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "import --file FILE",
		Short: "Restore a backup written by 'hypha db export', on either engine",
		Long: `Verifies the whole backup first (a truncated or damaged file, or one from a newer
schema than the database, is refused before anything is written), then inserts
its rows in transactions of at most 1,000 rows. Rows that already exist are
kept, so running it again after an interruption completes the restore.

An embedded SQLite target is created and migrated if needed; a PostgreSQL
target must be migrated first ('hypha migrate up'), or pass --migrate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return &exitError{code: 2, msg: "db import needs --file FILE"}
			}
			return m.restore(cmd.Context(), file)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "backup file to restore")
	addConfigFlag(cmd.Flags(), "migrate")
	return cmd
}

func (m *Main) restore(ctx context.Context, file string) error {
	if _, err := os.Stat(file); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no backup file at %s", file)
		}
		return fmt.Errorf("read %s: %w", file, err)
	}
	// A new SQLite target is created only for a backup that verifies, so a
	// bad file leaves nothing behind.
	if engine, target, _ := parseDB(m.Config.DB); engine == "sqlite" {
		if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
			if err := verifyFile(ctx, file); err != nil {
				return err
			}
		}
	}
	db, engine, err := m.openStoreForWrite(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if engine == "sqlite" || m.Config.Migrate {
		if _, err := db.Migrate(ctx, 0); err != nil {
			return err
		}
	}
	r, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("cannot import into this database: %s", r.Problem())
	}
	on := isTerminal(m.Stderr)
	var verifyBar, importBar *progress.Bar
	var vDone, iDone int64
	sum, err := backup.Import(ctx, db, func() (io.ReadCloser, error) { return os.Open(file) }, backup.ImportOptions{
		Name:                file,
		TargetSchemaVersion: r.Current,
		VerifyProgress: func(table string, rows, total int64) {
			if verifyBar == nil {
				verifyBar = progress.New(m.Stderr, on, "verifying", 0)
			}
			verifyBar.Set(table, vDone+rows)
			if total >= 0 {
				vDone += total
			}
		},
		Progress: func(table string, rows, total int64) {
			if importBar == nil {
				verifyBar.Finish()
				importBar = progress.New(m.Stderr, on, "importing", vDone)
			}
			importBar.Set(table, iDone+rows)
			if rows == total {
				iDone += total
			}
		},
	})
	if err != nil {
		return err
	}
	importBar.Finish()
	fmt.Fprintf(m.Stdout, "imported %d of %d rows from %s (%d already present)\n", sum.Inserted, sum.Rows, file, sum.Rows-sum.Inserted)
	// Backups carry records and vectors but not the search documents,
	// which are derived: queue every searchable record so the server's
	// consumer indexes it (an imported vector of the same text and model
	// is kept, not recomputed).
	groves, err := db.ListGroves(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, len(groves))
	for i, g := range groves {
		ids[i] = g.ID
	}
	res, err := app.ReindexVectors(ctx, db, ids, "")
	if err != nil {
		return fmt.Errorf("queue the imported records for search indexing: %w", err)
	}
	fmt.Fprintf(m.Stdout, "queued %d records for search indexing; 'hypha serve' indexes them\n", res.Enqueued)
	return nil
}

func verifyFile(ctx context.Context, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	defer f.Close()
	_, _, err = backup.Verify(ctx, f, backup.VerifyOptions{Name: file})
	return err
}
