package app

import (
	"context"
	"strconv"

	"github.com/hyphateam/hypha"
)

// reindexPage is how many rows a reindex reads and enqueues per
// transaction: a whole table is never held in memory.
const reindexPage = 1000

// Reindex statuses in team_config (reference §4.4).
const (
	ReindexEnqueueing = "enqueueing"
	ReindexQueued     = "queued"
	ReindexError      = "error"
)

// EmbeddableTables lists the synced tables whose text is embedded, in
// declaration order.
func EmbeddableTables() []*hypha.Table {
	var out []*hypha.Table
	for _, t := range hypha.SyncedTables {
		if t.TextColumn != "" {
			out = append(out, t)
		}
	}
	return out
}

// embeddableByName is the set of embeddable table names: a real set, so a
// name like "toString" or "constructor" is simply unknown (upstream's
// object-key test let such names through to the SQL, reference §2.2).
var embeddableByName = func() map[string]*hypha.Table {
	m := map[string]*hypha.Table{}
	for _, t := range EmbeddableTables() {
		m[t.Name] = t
	}
	return m
}()

// ReindexTables resolves the table of a reindex request: every embeddable
// table for "", the named one otherwise, and "Unknown table: <t>" (invalid)
// for anything else.
func ReindexTables(name string) ([]*hypha.Table, error) {
	if name == "" {
		return EmbeddableTables(), nil
	}
	t, ok := embeddableByName[name]
	if !ok {
		return nil, hypha.Errorf(hypha.EInvalid, "Unknown table: %s", name)
	}
	return []*hypha.Table{t}, nil
}

// ReindexResult is what a reindex queued.
type ReindexResult struct {
	Tables   []string         // the tables covered, in order
	ByTable  map[string]int64 // jobs queued per table (every covered table, zeros too)
	Enqueued int64
}

// ReindexVectors queues one embed job per embeddable row (non-empty text;
// spores only when active: exactly what the consumer embeds, reference
// §12.7) of the named table, or of every embeddable table when table is
// "", in each of groves. It pages through the rows by key and enqueues
// each page in its own transaction. team_config records the run:
// vector_reindex_status goes enqueueing → queued (with
// vector_reindex_last_processed), or error with vector_reindex_last_error.
// The consumer then re-reads each row and skips a text whose stored vector
// has the same model and content hash, so a reindex is cheap when nothing
// changed.
func ReindexVectors(ctx context.Context, store hypha.Store, groves []string, table string) (*ReindexResult, error) {
	tables, err := ReindexTables(table)
	if err != nil {
		return nil, err
	}
	now := func() string { return strconv.FormatInt(store.Now().Unix(), 10) }
	if err := store.PutTeamConfig(ctx, map[string]string{
		"vector_reindex_status": ReindexEnqueueing, "vector_reindex_last_run_at": now(), "vector_reindex_last_error": "",
	}); err != nil {
		return nil, err
	}
	res := &ReindexResult{ByTable: map[string]int64{}}
	for _, t := range tables {
		res.Tables = append(res.Tables, t.Name)
		res.ByTable[t.Name] = 0
	}
	for _, g := range groves {
		for _, t := range tables {
			n, err := queueEmbeddable(ctx, store, g, t)
			res.ByTable[t.Name] += n
			res.Enqueued += n
			if err != nil {
				_ = store.PutTeamConfig(context.WithoutCancel(ctx), map[string]string{
					"vector_reindex_status": ReindexError, "vector_reindex_last_run_at": now(), "vector_reindex_last_error": err.Error(),
				})
				return nil, err
			}
		}
	}
	err = store.PutTeamConfig(ctx, map[string]string{
		"vector_reindex_status": ReindexQueued, "vector_reindex_last_run_at": now(),
		"vector_reindex_last_processed": strconv.FormatInt(res.Enqueued, 10), "vector_reindex_last_error": "",
	})
	return res, err
}

// queueEmbeddable enqueues the embed jobs of one table's embeddable rows
// in one grove, a page at a time, and returns how many it queued.
func queueEmbeddable(ctx context.Context, store hypha.Store, grove string, t *hypha.Table) (int64, error) {
	var n int64
	q := hypha.EmbeddableQuery{Table: t, GroveID: grove, Limit: reindexPage}
	for {
		keys, err := store.ListEmbeddableKeys(ctx, q)
		if err != nil {
			return n, err
		}
		if len(keys) == 0 {
			return n, nil
		}
		jobs := make([]*hypha.Job, len(keys))
		for i, k := range keys {
			jobs[i] = EmbedJob(k)
		}
		if err := store.EnqueueJobs(ctx, jobs); err != nil {
			return n, err
		}
		n += int64(len(keys))
		if len(keys) < q.Limit {
			return n, nil
		}
		last := keys[len(keys)-1]
		q.AfterMachineID, q.AfterID = last.MachineID, last.ID
	}
}

// ReindexVectors queues the embeddable rows of one grove (see the function
// ReindexVectors) and wakes the consumer.
func (s *Sync) ReindexVectors(ctx context.Context, grove, table string) (*ReindexResult, error) {
	res, err := ReindexVectors(ctx, s.Store, []string{grove}, table)
	if err == nil {
		s.Jobs.Notify()
	}
	return res, err
}
