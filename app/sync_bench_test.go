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
			benchEnqueue(b, engine, 3, func(n int, text string) json.RawMessage {
				return spore(fmt.Sprint("s", n), text, "content_hash", fmt.Sprint("h", n))
			})
		})
	}
}

// BenchmarkEnqueueLegacy is BenchmarkEnqueue for a protocol 1 client (Myco
// 0.12): no project ids, so every row's project is derived, half from one
// of ten project roots and half in the grove's default project.
func BenchmarkEnqueueLegacy(b *testing.B) {
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) {
			benchEnqueue(b, engine, 1, func(n int, text string) json.RawMessage {
				d := map[string]any{"content": text, "status": "active", "agent_id": "a", "observation_type": "gotcha", "content_hash": fmt.Sprint("h", n)}
				if n%2 == 0 {
					d["project_id"] = fmt.Sprintf("/home/dev/src/repo%d/", n%10) // a root where an id belongs
				}
				return rec("spores", "upsert", fmt.Sprint("s", n), "m1", d)
			})
		})
	}
}

func benchEnqueue(b *testing.B, engine string, protocol int, record func(n int, text string) json.RawMessage) {
	db := testdb.MustOpen(b, engine)
	s := &app.Sync{Store: db}
	text := strings.Repeat("grove spore hypha ", 56)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		recs := make([]json.RawMessage, 100)
		for i := range recs {
			recs[i] = record(n, text)
			n++
		}
		res, err := s.Enqueue(context.Background(), "g1", &app.EnqueueRequest{Protocol: protocol, MachineID: "m1", Records: recs})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Rejected) > 0 {
			b.Fatalf("rejected: %+v", res.Rejected[0])
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
