// Package bench drives Hypha's benchmarks and prints figures a reader can
// compare: each benchmark measures the store or server against a raw
// baseline taken in the same run on the same machine.
package bench

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
)

// StoreOptions configures the storage benchmark.
type StoreOptions struct {
	Records   int // records written per measurement (default 50,000)
	Batch     int // records per transaction (default 100)
	Dims      int // embedding dimension (default 384)
	TextBytes int // size of each record's text (default 1,000)
}

// StoreResult holds the measured rates.
type StoreResult struct {
	Engine          string
	Records, Batch  int
	RawRowsPerSec   float64 // prepared single-row INSERTs, one transaction per batch
	StoreRowsPerSec float64 // UpsertRecords + PutEmbeddings in one transaction per batch
	StoreRatio      float64 // StoreRowsPerSec / RawRowsPerSec
	RawElapsed      time.Duration
	StoreElapsed    time.Duration
}

// Store measures upserts of ~1 KB records carrying an embedding through the
// store layer, and raw batched inserts of rows of the same size into a plain
// table of the same database as the baseline. db must be a migrated, empty
// scratch database: the benchmark writes to it. raw is its writing pool.
func Store(ctx context.Context, db hypha.Store, raw *sql.DB, opts StoreOptions) (*StoreResult, error) {
	if opts.Records <= 0 {
		opts.Records = 50000
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.Dims <= 0 {
		opts.Dims = 384
	}
	if opts.TextBytes <= 0 {
		opts.TextBytes = 1000
	}
	res := &StoreResult{Engine: db.Engine(), Records: opts.Records, Batch: opts.Batch}
	rng := rand.New(rand.NewPCG(1, 2))
	texts := make([]string, 256)
	for i := range texts {
		texts[i] = randomText(rng, opts.TextBytes)
	}
	vec := make([]float32, opts.Dims)
	for i := range vec {
		vec[i] = rng.Float32()*2 - 1
	}
	blob := hypha.EncodeVector(vec)

	// Baseline: the same payload straight into a plain table.
	ph := "?, ?, ?"
	if db.Engine() == "postgres" {
		ph = "$1, $2, $3"
	}
	blobType := "BLOB"
	if db.Engine() == "postgres" {
		blobType = "BYTEA"
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_raw (id TEXT PRIMARY KEY, body TEXT NOT NULL, embedding `+blobType+` NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create baseline table: %w", err)
	}
	start := time.Now()
	for lo := 0; lo < opts.Records; lo += opts.Batch {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO bench_raw (id, body, embedding) VALUES (`+ph+`)`)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		for i := lo; i < min(lo+opts.Batch, opts.Records); i++ {
			if _, err := stmt.ExecContext(ctx, fmt.Sprintf("raw-%08d", i), texts[i%len(texts)], blob); err != nil {
				tx.Rollback()
				return nil, err
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	res.RawElapsed = time.Since(start)
	res.RawRowsPerSec = float64(opts.Records) / res.RawElapsed.Seconds()

	// The store layer: spores with content, content hash and a vector.
	// The records are built first, as the raw rows are: the clock measures
	// storage, not the caller's JSON decoding.
	table := hypha.LookupTable("spores")
	project := "proj_" + strings.Repeat("ab", 16)
	recs := make([]*hypha.Record, opts.Records)
	embs := make([]*hypha.Embedding, opts.Records)
	for i := range recs {
		text := texts[i%len(texts)]
		sum := sha256.Sum256([]byte(fmt.Sprintf("%d:%s", i, text)))
		r, err := hypha.NewRecord(table, hypha.DefaultGroveID, "bench-machine", fmt.Sprintf("spore-%08d", i), map[string]any{
			"project_id": project, "agent_id": "bench", "observation_type": "discovery", "status": "active",
			"content": text, "content_hash": hex.EncodeToString(sum[:]), "created_at": int64(1700000000 + i), "importance": int64(5),
		})
		if err != nil {
			return nil, err
		}
		recs[i] = r
		embs[i] = &hypha.Embedding{Key: r.Key(), Model: "bench", Vector: vec, ContentHash: r.ContentHash}
	}
	start = time.Now()
	for lo := 0; lo < opts.Records; lo += opts.Batch {
		hi := min(lo+opts.Batch, opts.Records)
		err := db.InTx(ctx, func(tx hypha.Queries) error {
			if _, err := tx.UpsertRecords(ctx, recs[lo:hi]); err != nil {
				return err
			}
			return tx.PutEmbeddings(ctx, embs[lo:hi])
		})
		if err != nil {
			return nil, err
		}
	}
	res.StoreElapsed = time.Since(start)
	res.StoreRowsPerSec = float64(opts.Records) / res.StoreElapsed.Seconds()
	res.StoreRatio = res.StoreRowsPerSec / res.RawRowsPerSec
	return res, nil
}

// String renders the result as the lines BENCHMARKS.md quotes.
func (r *StoreResult) String() string {
	return fmt.Sprintf("engine=%s records=%d batch=%d\n  raw inserts:   %9.0f rows/s (%s)\n  store upserts: %9.0f rows/s (%s) = %.0f%% of raw\n",
		r.Engine, r.Records, r.Batch, r.RawRowsPerSec, r.RawElapsed.Round(time.Millisecond),
		r.StoreRowsPerSec, r.StoreElapsed.Round(time.Millisecond), 100*r.StoreRatio)
}

const words = "grove spore hypha mycelium session plan skill agent memory sync vector index search token project node team daemon outbox schema"

func randomText(rng *rand.Rand, n int) string {
	ws := strings.Fields(words)
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(ws[rng.IntN(len(ws))])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}
