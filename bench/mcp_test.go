package bench_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hyphateam/hypha/bench"
	"github.com/hyphateam/hypha/internal/testdb"
)

// TestMCPDriver runs the MCP benchmark small on every configured engine
// and checks what it measured, never how fast: every call answered, with
// full pages.
func TestMCPDriver(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := testdb.MustOpen(t, engine)
			res, err := bench.MCP(context.Background(), db, bench.MCPOptions{Records: 2000, Requests: 20, Warmup: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + res.String())
			if len(res.Calls) != 10 {
				t.Fatalf("%d calls measured, want 10", len(res.Calls))
			}
			for _, c := range res.Calls {
				want := 20.0
				switch strings.TrimSuffix(c.Name, ", no grant") {
				case "myco_search (hybrid, limit 10)", "  app.Search in process":
					want = 10
				case "myco_spores get":
					want = 1
				}
				if c.Latency.N != 20 || c.Items != want {
					t.Errorf("%s: %d calls, %.1f items each; want 20 and %.0f", c.Name, c.Latency.N, c.Items, want)
				}
			}
		})
	}
}

// BenchmarkMCP times tools/call of myco_search and myco_spores over HTTP
// at 10,000 and 100,000 records (HYPHA_BENCH_MCP_RECORDS overrides, e.g.
// "10000"). Each sub-benchmark populates its own store once and runs the
// timed calls of the driver (500 each); b.N is not used for the timings.
//
//	go test -run '^$' -bench MCP -benchtime 1x ./bench
func BenchmarkMCP(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if s := os.Getenv("HYPHA_BENCH_MCP_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		sizes = []int{n}
	}
	for _, engine := range testdb.Engines() {
		for _, n := range sizes {
			b.Run(engine+"/records="+strconv.Itoa(n), func(b *testing.B) {
				db := testdb.MustOpen(b, engine)
				// One population per store, whatever b.N: the driver
				// times its own calls.
				res, err := bench.MCP(context.Background(), db, bench.MCPOptions{Records: n})
				if err != nil {
					b.Fatal(err)
				}
				// Printed whole: b.Log output of benchmarks is cut.
				fmt.Printf("--- %s\n%s", b.Name(), res.String())
				for _, c := range res.Calls {
					switch c.Name {
					case "myco_search (hybrid, limit 10)":
						b.ReportMetric(float64(c.Latency.P95.Microseconds())/1000, "search-p95-ms")
					case "myco_spores list (limit 20)":
						b.ReportMetric(float64(c.Latency.P95.Microseconds())/1000, "spores-list-p95-ms")
					case "myco_spores list (limit 20), no grant":
						b.ReportMetric(float64(c.Latency.P95.Microseconds())/1000, "spores-list-nogrant-p95-ms")
					}
				}
			})
		}
	}
}
