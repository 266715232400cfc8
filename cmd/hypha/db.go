package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/postgres"
	"github.com/hyphateam/hypha/sqlite"
	"github.com/spf13/cobra"
)

func (m *Main) dbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Inspect the schema, check drift, export and import backups",
	}
	addConfigFlag(cmd.PersistentFlags(), "db")
	addConfigFlag(cmd.PersistentFlags(), "sqlite_synchronous")
	schema := &cobra.Command{
		Use:   "schema",
		Short: "Print the normalized live schema (the same text on SQLite and PostgreSQL)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return m.withStore(ctx, false, func(db *sqlstore.DB, _ string) error {
				d, err := db.DescribeSchema(ctx)
				if err != nil {
					return err
				}
				fmt.Fprint(m.Stdout, d.String())
				return nil
			})
		},
	}
	diff := &cobra.Command{
		Use:   "diff",
		Short: "Compare the live schema with what the migrations produce; exit 1 on drift",
		Long: `Builds the schema the embedded migrations produce on a scratch database of the
same engine (a temporary SQLite file, or a temporary PostgreSQL schema that is
dropped afterwards) and compares it with the live one.

Lines starting with "-" are expected but missing from the live database; lines
starting with "+" exist in the live database but no migration creates them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return m.withStore(ctx, false, func(db *sqlstore.DB, engine string) error {
				live, err := db.DescribeSchema(ctx)
				if err != nil {
					return err
				}
				want, err := m.scratchSchema(ctx, engine)
				if err != nil {
					return err
				}
				d := hypha.DiffSchemas(want, live)
				if d == "" {
					fmt.Fprintln(m.Stdout, "no drift: the live schema matches the migrations")
					return nil
				}
				fmt.Fprint(m.Stdout, d)
				return &exitError{code: 1, msg: "the live schema differs from what the migrations produce (see the diff above)"}
			})
		},
	}
	cmd.AddCommand(schema, diff, m.exportCommand(), m.importCommand())
	return cmd
}

// scratchSchema migrates an empty database of the engine and describes it.
func (m *Main) scratchSchema(ctx context.Context, engine string) (*hypha.SchemaDescription, error) {
	var db *sqlstore.DB
	switch engine {
	case "postgres":
		_, target, _ := parseDB(m.Config.DB)
		u, drop, err := postgres.ScratchSchema(ctx, target)
		if err != nil {
			return nil, err
		}
		defer drop()
		if db, err = postgres.Open(ctx, u, postgres.Options{MaxConns: 2}); err != nil {
			return nil, err
		}
	default:
		dir, err := os.MkdirTemp("", "hypha-diff-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if db, err = sqlite.Open(ctx, filepath.Join(dir, "scratch.db"), sqlite.Options{}); err != nil {
			return nil, err
		}
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, 0); err != nil {
		return nil, fmt.Errorf("migrate scratch database: %w", err)
	}
	return db.DescribeSchema(ctx)
}
