package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/migrate"
	"github.com/spf13/cobra"
)

func (m *Main) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or inspect schema migrations (the deploy step for PostgreSQL)",
		Long: `Schema migrations are numbered, forward-only and expand-only steps embedded in
the binary. Each step runs in one transaction under a lock, so two servers that
start at once never race, and it is recorded with a checksum.

The embedded SQLite store is migrated by 'hypha serve' itself. With PostgreSQL,
run 'hypha migrate up' as the deploy step (or start the server with --migrate).`,
	}
	addConfigFlag(cmd.PersistentFlags(), "db")
	addConfigFlag(cmd.PersistentFlags(), "sqlite_synchronous")

	var to int
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration (or up to --to)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return m.withStore(ctx, true, func(db *sqlstore.DB, _ string) error {
				done, err := db.Migrate(ctx, to)
				for _, s := range done {
					fmt.Fprintf(m.Stdout, "applied %s\n", s.ID())
				}
				if err != nil {
					return err
				}
				r, err := db.MigrationStatus(ctx)
				if err != nil {
					return err
				}
				if len(done) == 0 {
					fmt.Fprintf(m.Stdout, "nothing to do: schema is at version %d\n", r.Current)
				} else {
					fmt.Fprintf(m.Stdout, "schema is at version %d\n", r.Current)
				}
				return nil
			})
		},
	}
	up.Flags().IntVar(&to, "to", 0, "stop after this version (default: the newest)")

	status := &cobra.Command{
		Use:   "status",
		Short: "Show applied and pending migrations; exit 1 if the schema is not usable by this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return m.withStore(ctx, false, func(db *sqlstore.DB, engine string) error {
				applied, err := db.Applied(ctx)
				if err != nil {
					return err
				}
				r, err := db.MigrationStatus(ctx)
				if err != nil {
					return err
				}
				printStatus(m, engine, db.Steps(), applied, r)
				if !r.OK() {
					return &exitError{code: 1, msg: r.Problem()}
				}
				return nil
			})
		},
	}

	plan := &cobra.Command{
		Use:   "plan",
		Short: "Print the SQL of the pending migrations without applying them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return m.withStore(ctx, false, func(db *sqlstore.DB, _ string) error {
				r, err := db.MigrationStatus(ctx)
				if err != nil {
					return err
				}
				if r.State == migrate.StateIncompatible {
					return &exitError{code: 1, msg: r.Problem()}
				}
				if len(r.Pending) == 0 {
					fmt.Fprintf(m.Stdout, "-- nothing pending: schema is at version %d\n", r.Current)
					return nil
				}
				for _, s := range r.Pending {
					fmt.Fprintf(m.Stdout, "-- %s (checksum %.12s)\n", s.ID(), s.Checksum)
					for _, st := range s.Statements {
						if st.AddColumn != nil {
							fmt.Fprintf(m.Stdout, "-- only if column %s.%s is missing:\n", st.AddColumn.Table, st.AddColumn.Column)
						}
						fmt.Fprintf(m.Stdout, "%s;\n", st.SQL)
					}
					fmt.Fprintln(m.Stdout)
				}
				return nil
			})
		},
	}
	cmd.AddCommand(up, status, plan)
	return cmd
}

func printStatus(m *Main, engine string, steps []migrate.Step, applied []migrate.Applied, r *migrate.Report) {
	byVersion := map[int]migrate.Applied{}
	for _, a := range applied {
		byVersion[a.Version] = a
	}
	fmt.Fprintf(m.Stdout, "engine %s, schema version %d, this binary needs %d: %s\n\n", engine, r.Current, r.Target, r.State)
	w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tNAME\tSTATE")
	for _, s := range steps {
		a, ok := byVersion[s.Version]
		state := "pending"
		if ok {
			state = "applied " + a.AppliedAt.Format("2006-01-02 15:04:05Z")
			if a.Checksum != s.Checksum {
				state = "CHANGED since it was applied"
			}
		}
		fmt.Fprintf(w, "%04d\t%s\t%s\n", s.Version, s.Name, state)
	}
	for _, a := range r.Unknown {
		fmt.Fprintf(w, "%04d\t%s\tapplied by a newer binary\n", a.Version, a.Name)
	}
	w.Flush()
	if p := r.Problem(); p != "" {
		fmt.Fprintln(m.Stdout, "\n"+strings.TrimSpace(p))
	}
}
