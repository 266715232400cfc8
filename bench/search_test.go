package bench_test

import (
	"context"
	"testing"

	"github.com/hyphateam/hypha/bench"
	"github.com/hyphateam/hypha/internal/testdb"
)

// TestSearchDriver runs the end-to-end search benchmark small, on every
// configured engine, and checks what it measured, never how fast: every
// record indexed, exact recall, no hit from a grove the searcher may not
// see, and results from every mode over HTTP.
func TestSearchDriver(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := testdb.MustOpen(t, engine)
			res, err := bench.Search(context.Background(), db, bench.SearchOptions{Records: 2000, Batch: 500, Queries: 40, Requests: 30, Warmup: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + res.String())
			if res.Engine != engine || res.Records != 2000 || res.BuildVectors != 2000 {
				t.Errorf("engine %s, %d records, %d vectors built; want %s, 2000, 2000", res.Engine, res.Records, res.BuildVectors, engine)
			}
			if n := res.PerGrove[bench.SearchGrove] + res.PerGrove[bench.SharedGrove] + res.PerGrove[bench.OtherGrove]; n != 2000 ||
				res.PerGrove[bench.SearchGrove] != 1800 {
				t.Errorf("records per grove %v; want 1,800 in %s of 2,000", res.PerGrove, bench.SearchGrove)
			}
			// The searched grove sees its own records and some shared ones,
			// never all of the other groves'.
			if res.Visible <= 1800 || res.Visible >= 2000 {
				t.Errorf("visible vectors %d; want between 1,800 and 2,000", res.Visible)
			}
			if res.RecallQueries != 40 || res.Recall != 1 || res.RecallMin != 1 {
				t.Errorf("recall@10 %.3f (min %.3f) over %d queries; want exactly 1 over 40", res.Recall, res.RecallMin, res.RecallQueries)
			}
			if res.Violations != 0 {
				t.Errorf("%d hits from groves the searcher may not see", res.Violations)
			}
			if res.BuildDocs != 2000 || res.TextBytes <= 0 {
				t.Errorf("keyword index: %d documents, estimate %d bytes; want 2000", res.BuildDocs, res.TextBytes)
			}
			if res.IndexBytes <= 0 {
				t.Errorf("index estimate %d bytes", res.IndexBytes)
			}
			if len(res.Modes) != len(bench.SearchModes) {
				t.Fatalf("%d modes measured; want %d", len(res.Modes), len(bench.SearchModes))
			}
			for i, m := range res.Modes {
				if m.Mode != bench.SearchModes[i] || m.HTTP.N != 30 || m.InProcess.N != 30 {
					t.Errorf("mode %q: %d HTTP and %d in-process searches; want %q, 30 and 30", m.Mode, m.HTTP.N, m.InProcess.N, bench.SearchModes[i])
				}
				// A semantic half always fills the page; keywords are words
				// of the texts, though a rare one may occur only in
				// another grove.
				switch {
				case m.Mode != "keyword" && (m.Empty != 0 || m.MeanResults != 10):
					t.Errorf("mode %s: %d empty answers, %.2f results on average; want 0 and 10", m.Mode, m.Empty, m.MeanResults)
				case m.Mode == "keyword" && (m.Empty > 3 || m.MeanResults < 5):
					t.Errorf("mode %s: %d empty answers, %.2f results on average; want at most 3 and at least 5", m.Mode, m.Empty, m.MeanResults)
				}
			}
		})
	}
}
