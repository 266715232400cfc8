package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// IngestOptions configures the ingest benchmark.
type IngestOptions struct {
	Records   int // total records (default 100,000)
	Batch     int // records per /enqueue (default 100, the daemon's batch)
	Clients   int // concurrent senders (default 4)
	TextBytes int // size of each spore's content (default 1,000)
}

// IngestResult holds the measured figures.
type IngestResult struct {
	Records       int
	Elapsed       time.Duration // first send to last acknowledgement
	RecordsPerSec float64
	IndexedAfter  time.Duration // until every embed job ran (0 if not waited for)
	HealthP50     time.Duration
	HealthP99     time.Duration
}

// Ingest drives a running server at baseURL with /enqueue batches until
// every record is acknowledged (committed, hence durable and queryable),
// and returns the rate.
func Ingest(ctx context.Context, baseURL, teamKey string, opts IngestOptions) (*IngestResult, error) {
	if opts.Records <= 0 {
		opts.Records = 100_000
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.Clients <= 0 {
		opts.Clients = 4
	}
	if opts.TextBytes <= 0 {
		opts.TextBytes = 1000
	}
	client := &wire.Client{BaseURL: baseURL, Token: teamKey,
		HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opts.Clients * 2}, Timeout: time.Minute}}
	rng := rand.New(rand.NewPCG(3, 4))
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = randomText(rng, opts.TextBytes)
	}
	// Encode every batch first so the clock measures the server.
	var bodies [][]byte
	for lo := 0; lo < opts.Records; lo += opts.Batch {
		var recs []map[string]any
		var err error
		for i := lo; i < min(lo+opts.Batch, opts.Records); i++ {
			recs = append(recs, map[string]any{"table": "spores", "operation": "upsert", "id": fmt.Sprintf("spore-%08d", i), "machine_id": "bench-machine",
				"content_hash": fmt.Sprintf("h%08d", i), "data": map[string]any{"project_id": "proj_" + strings.Repeat("ab", 16),
					"agent_id": "bench", "observation_type": "discovery", "status": "active", "content": texts[i%len(texts)],
					"created_at": 1700000000 + i, "importance": 5}})
		}
		raw := make([]json.RawMessage, len(recs))
		for i, rec := range recs {
			if raw[i], err = json.Marshal(rec); err != nil {
				return nil, err
			}
		}
		b, err := json.Marshal(wire.EnqueueRequest{SyncProtocolVersion: wire.NewInt(hypha.SyncProtocolVersion), MachineID: "bench-machine", Records: raw})
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	work := make(chan []byte)
	errc := make(chan error, opts.Clients)
	var wg sync.WaitGroup
	start := time.Now()
	for range opts.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				if err := post(ctx, client, body); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for _, b := range bodies {
		select {
		case work <- b:
		case err := <-errc:
			close(work)
			return nil, err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	res := &IngestResult{Records: opts.Records, Elapsed: time.Since(start)}
	res.RecordsPerSec = float64(opts.Records) / res.Elapsed.Seconds()
	return res, nil
}

// HealthLatency sends n sequential GET /health on one keep-alive
// connection and returns the median and 99th percentile.
func HealthLatency(ctx context.Context, baseURL string, n int) (p50, p99 time.Duration, err error) {
	if n <= 0 {
		n = 2000
	}
	client := wire.Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 10 * time.Second}}
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := client.Do(ctx, http.MethodGet, "/health", nil); err != nil {
			return 0, 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}

// post sends one pre-encoded /enqueue body (encoding is kept out of the
// timed loop) and checks that every record was accepted.
func post(ctx context.Context, client *wire.Client, body []byte) error {
	resp, err := client.Send(ctx, http.MethodPost, "/enqueue", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return wire.ErrorOf(resp, b)
	}
	var out wire.EnqueueResponse
	if err := json.Unmarshal(b, &out); err != nil || len(out.Rejected) > 0 {
		return fmt.Errorf("POST /enqueue: unexpected answer %s", b)
	}
	return nil
}

// String renders the figures BENCHMARKS.md quotes.
func (r *IngestResult) String() string {
	s := fmt.Sprintf("  ingest: %d records in %s = %.0f records/s (acknowledged = committed)\n", r.Records, r.Elapsed.Round(time.Millisecond), r.RecordsPerSec)
	if r.IndexedAfter > 0 {
		s += fmt.Sprintf("  all embedded after %s\n", r.IndexedAfter.Round(time.Millisecond))
	}
	return s + fmt.Sprintf("  /health latency: p50 %s, p99 %s\n", r.HealthP50.Round(time.Microsecond), r.HealthP99.Round(time.Microsecond))
}
