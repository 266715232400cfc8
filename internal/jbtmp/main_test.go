package jb

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/search"
)

func TestConsumer(t *testing.T) {
	for _, engine := range testdb.Engines() {
		db := testdb.MustOpen(t, engine)
		ctx := t.Context()
		text := strings.Repeat("a spore records what an agent observed while working ", 18)
		for lo := 0; lo < 5000; lo += 100 {
			var recs []*hypha.Record
			for i := lo; i < lo+100; i++ {
				r, _ := hypha.NewRecord(hypha.LookupTable("spores"), "g", "m1", fmt.Sprintf("sp%06d", i), map[string]any{"content": fmt.Sprint(i, text), "project_id": "proj_0123456789abcdef0123456789abcdef"})
				recs = append(recs, r)
			}
			err := db.InTx(ctx, func(tx hypha.Queries) error {
				if _, err := tx.UpsertRecords(ctx, recs); err != nil {
					return err
				}
				return tx.EnqueueJobs(ctx, app.EmbedJobs(recs))
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if engine == "postgres" {
			db.WriteDB().ExecContext(ctx, "ANALYZE")
		}
		j := app.NewJobs(db, search.NewHashEmbedder(0), nil, app.JobsOptions{})
		start := time.Now()
		n := 0
		for {
			k, err := j.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				break
			}
			n += k
		}
		t.Logf("%s: %d jobs in %v: %.0f/s", engine, n, time.Since(start), float64(n)/time.Since(start).Seconds())
	}
}
