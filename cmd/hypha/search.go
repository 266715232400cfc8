package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/progress"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/spf13/cobra"
)

// Pacing of `hypha search reindex` while it waits.
const (
	reindexPoll  = 250 * time.Millisecond
	reindexStall = 15 * time.Second // no progress and nothing leased: is a server running?
)

func (m *Main) searchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Maintain the search index: re-embed records",
	}
	cmd.AddCommand(m.searchReindexCommand())
	return cmd
}

func (m *Main) searchReindexCommand() *cobra.Command {
	var grove, table string
	var noWait bool
	cmd := &cobra.Command{
		Use:   "reindex",
		Short: "Queue a grove's records for embedding and show the progress",
		Long: `Queues one embed job per embeddable record of the grove (sessions with a summary,
active spores, plans and artifacts with content, skill records with a
description), the same as POST /vectors/reindex. A running 'hypha serve' on this
database embeds them; a record whose stored vector has the same model and text
is skipped, so a reindex is cheap when nothing changed.

It then shows a progress bar (on a terminal) until the grove's vector count
reaches its embeddable count, the figures /sync-summary reports as vector_count
and embeddable_count. Ctrl-C stops waiting; the jobs stay queued.

A server re-embeds everything by itself when its embedder or model changes;
use this command after restoring records without vectors, or to retry records
whose embedding failed.`,
		Example: `  hypha search reindex
  hypha search reindex --grove user_primary --table spores
  hypha search reindex --db postgres://hypha@db:5432/hypha --no-wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := hypha.ValidateGroveID(grove); err != nil {
				return &exitError{code: 2, msg: "--grove: " + hypha.ErrorMessage(err)}
			}
			if _, err := app.ReindexTables(table); err != nil {
				return &exitError{code: 2, msg: "--table: " + hypha.ErrorMessage(err) + " (embeddable: " + embeddableNames() + ")"}
			}
			ctx := cmd.Context()
			return m.withStore(ctx, false, func(db *sqlstore.DB, _ string) error {
				return m.reindex(ctx, db, grove, table, noWait)
			})
		},
	}
	addConfigFlag(cmd.Flags(), "db")
	addConfigFlag(cmd.Flags(), "sqlite_synchronous")
	cmd.Flags().StringVar(&grove, "grove", hypha.DefaultGroveID, "the grove whose records are queued")
	cmd.Flags().StringVar(&table, "table", "", "only this table: one of "+embeddableNames()+" (default: all of them)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "queue the records and exit without waiting for their vectors")
	return cmd
}

func embeddableNames() string {
	var names []string
	for _, t := range app.EmbeddableTables() {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// reindex queues the grove's records and, unless noWait, waits for their
// vectors.
func (m *Main) reindex(ctx context.Context, db *sqlstore.DB, grove, table string, noWait bool) error {
	if _, err := db.FindGroveByID(ctx, grove); err != nil {
		if hypha.ErrorCode(err) == hypha.ENotFound {
			return fmt.Errorf("grove %q does not exist in this database", grove)
		}
		return err
	}
	res, err := app.ReindexVectors(ctx, db, []string{grove}, table)
	if err != nil {
		return err
	}
	parts := make([]string, 0, len(res.ByTable))
	for _, t := range res.Tables {
		parts = append(parts, fmt.Sprintf("%s: %d", t, res.ByTable[t]))
	}
	fmt.Fprintf(m.Stdout, "Queued %d records of grove %s for embedding (%s).\n", res.Enqueued, grove, strings.Join(parts, ", "))
	if noWait {
		fmt.Fprintln(m.Stdout, "A running 'hypha serve' embeds them; GET /sync-summary shows vector_count rising to embeddable_count.")
		return nil
	}
	return m.waitForVectors(ctx, db, grove)
}

// waitForVectors polls the grove's counts until every embeddable record
// has a vector, or the grove's queue is empty.
func (m *Main) waitForVectors(ctx context.Context, db *sqlstore.DB, grove string) error {
	var bar *progress.Bar
	lastVectors, lastMove, warned := int64(-1), time.Now(), false
	for {
		vectors, embeddable, jobs, err := reindexCounts(ctx, db, grove)
		if err != nil {
			return err
		}
		if bar == nil {
			bar = progress.New(m.Stderr, isTerminal(m.Stderr), "embedding", embeddable)
		}
		bar.Set("", min(vectors, embeddable))
		if vectors >= embeddable || jobs.Pending+jobs.Leased == 0 {
			m.endBar(bar, vectors >= embeddable)
			fmt.Fprintf(m.Stdout, "%d of %d embeddable records of grove %s have a vector.\n", min(vectors, embeddable), embeddable, grove)
			if vectors < embeddable {
				return &exitError{code: 1, msg: fmt.Sprintf("the queue is empty but %d records have no vector: %d dead letters (see GET /dlq; retry them with POST /dlq/retry)",
					embeddable-vectors, jobs.DeadLetters)}
			}
			return nil
		}
		if vectors != lastVectors || jobs.Leased > 0 {
			lastVectors, lastMove = vectors, time.Now()
		} else if !warned && time.Since(lastMove) > reindexStall {
			warned = true
			fmt.Fprintln(m.Stderr, "\nNothing is embedding: the queue is served by 'hypha serve' on this database. Still waiting; Ctrl-C stops waiting (the jobs stay queued).")
		}
		select {
		case <-ctx.Done():
			m.endBar(bar, false)
			return &exitError{code: 1, msg: "stopped waiting; the jobs stay queued and a running server embeds them"}
		case <-time.After(reindexPoll):
		}
	}
}

// endBar ends the progress line: full when complete, as it stands
// otherwise.
func (m *Main) endBar(bar *progress.Bar, complete bool) {
	switch {
	case complete:
		bar.Finish()
	case isTerminal(m.Stderr):
		fmt.Fprintln(m.Stderr)
	}
}

// reindexCounts reads what /sync-summary and /queue-stats show of a grove.
func reindexCounts(ctx context.Context, db *sqlstore.DB, grove string) (vectors, embeddable int64, jobs hypha.JobCounts, err error) {
	if vectors, err = db.CountEmbeddings(ctx, grove); err != nil {
		return
	}
	by, err := db.CountEmbeddable(ctx, grove)
	if err != nil {
		return
	}
	for _, n := range by {
		embeddable += n
	}
	jobs, err = db.CountJobs(ctx, grove)
	return
}
