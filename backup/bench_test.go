package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/backup"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
)

// benchRows is the number of spores, and of their 384-d vectors, in the
// benchmark database.
const benchRows = 5000

// benchStore returns a database of benchRows spores with their vectors.
func benchStore(b *testing.B, engine string) *sqlstore.DB {
	b.Helper()
	ctx := context.Background()
	db := testdb.MustOpen(b, engine)
	if err := db.CreateGrove(ctx, &hypha.Grove{ID: groveID, Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	embs := testEmbeddings(benchRows)
	recs := make([]*hypha.Record, benchRows)
	for i, e := range embs {
		r, err := hypha.NewRecord(hypha.LookupTable("spores"), groveID, "machine-0", e.Key.ID, map[string]any{
			hypha.ColProject: projectA, "content": fmt.Sprintf("observation %d: %s", i, testTexts[1]), "importance": int64(i % 10)})
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r
	}
	if err := db.PutEmbeddings(ctx, embs); err != nil {
		b.Fatal(err)
	}
	if _, err := db.UpsertRecords(ctx, recs); err != nil {
		b.Fatal(err)
	}
	return db
}

func BenchmarkExport(b *testing.B) {
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) {
			db := benchStore(b, engine)
			var size int64
			for b.Loop() {
				cw := &countingWriter{}
				if _, err := backup.Export(context.Background(), db, cw, backup.ExportOptions{}); err != nil {
					b.Fatal(err)
				}
				size = cw.n
			}
			b.ReportMetric(float64(2*benchRows+2)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(size), "file-bytes")
		})
	}
}

func BenchmarkImport(b *testing.B) {
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) {
			var file bytes.Buffer
			if _, err := backup.Export(context.Background(), benchStore(b, engine), &file, backup.ExportOptions{}); err != nil {
				b.Fatal(err)
			}
			open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(file.Bytes())), nil }
			for b.Loop() {
				b.StopTimer()
				dst := testdb.MustOpen(b, engine)
				b.StartTimer()
				if _, err := backup.Import(context.Background(), dst, open, backup.ImportOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(2*benchRows+2)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// countingWriter counts and discards what is written.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
