package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/testdb"
)

// BenchmarkEnqueue measures Sync.Enqueue of 100-record batches of ~1 KB
// spores without HTTP, on every configured engine.
func BenchmarkEnqueue(b *testing.B) {
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) {
			db := testdb.MustOpen(b, engine)
			s := &app.Sync{Store: db}
			text := strings.Repeat("grove spore hypha ", 56)
			n := 0
			b.ResetTimer()
			for b.Loop() {
				recs := make([]json.RawMessage, 100)
				for i := range recs {
					recs[i] = spore(fmt.Sprint("s", n), text, "content_hash", fmt.Sprint("h", n))
					n++
				}
				if _, err := s.Enqueue(context.Background(), "g1", &app.EnqueueRequest{Protocol: 3, MachineID: "m1", Records: recs}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
