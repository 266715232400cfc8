package bench_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hyphateam/hypha/bench"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/sqlite"
)

// BenchmarkStore reports store upserts/s and raw inserts/s of ~1 KB records
// with a 384-float embedding, in batches of 100, on every configured engine.
func BenchmarkStore(b *testing.B) {
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) {
			for b.Loop() {
				db := testdb.MustOpen(b, engine)
				raw := db.WriteDB()
				if engine == "sqlite" {
					var err error
					if raw, err = sqlite.OpenPlain(filepath.Join(b.TempDir(), "raw.db"), ""); err != nil {
						b.Fatal(err)
					}
					defer raw.Close()
				}
				res, err := bench.Store(context.Background(), db, raw, bench.StoreOptions{Records: 10000})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.StoreRowsPerSec, "store-rows/s")
				b.ReportMetric(res.RawRowsPerSec, "raw-rows/s")
				b.ReportMetric(100*res.StoreRatio, "%-of-raw")
			}
		})
	}
}
