package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/hyphateam/hypha"
)

// Index is Hypha's in-process vector index, the replacement for Cloudflare
// Vectorize: upsert (replace), delete, and cosine top-k queries whose
// metadata filters are applied inside the search, so a filtered query
// still returns k hits when k records match.
//
// Vectors are partitioned by grove. A query scans only the partitions it
// may see: the caller's grove, and the groves in SharedFrom restricted to
// their rows marked Shared. A hit from any other grove is impossible by
// construction, not by a post-filter.
//
// The search is exact: every visible row that passes the filter is scored,
// split across the cores for large partitions. See docs/ARCHITECTURE.md
// ("Vector index") for why, and for the size at which an approximate
// structure would take over.
//
// Index is safe for concurrent use. Searches share read locks and never
// wait for each other; an upsert or delete locks one grove's partition for
// a few microseconds, waiting at most for the block (1,024 rows, ~0.1 ms)
// each search in flight is scanning, not for whole searches. A search
// concurrent with writes sees each record as before or after each write;
// records added after it started are not searched.
type Index struct {
	dims   int
	groves groves[partition]
	n      atomic.Int64
}

var _ hypha.VectorIndex = (*Index)(nil)

// NewIndex returns an empty index of dims-dimensional vectors. dims is the
// embedder's Dims(); it must be positive.
func NewIndex(dims int) *Index {
	if dims <= 0 {
		panic(fmt.Sprintf("search: NewIndex(%d): dimension must be positive", dims))
	}
	return &Index{dims: dims}
}

// Load builds an index from stored vectors, for instance the embeddings a
// store holds, at start. scan calls yield once per vector; an error from
// yield (a bad vector, a cancelled ctx) must stop the scan and be returned.
func Load(ctx context.Context, dims int, scan func(yield func(meta hypha.VectorMeta, vec []float32) error) error) (*Index, error) {
	idx := NewIndex(dims)
	var n int
	err := scan(func(meta hypha.VectorMeta, vec []float32) error {
		if n++; n%blockRows == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return idx.Upsert(meta, vec)
	})
	if err != nil {
		return nil, fmt.Errorf("load vector index: %w", err)
	}
	return idx, ctx.Err()
}

// Dims is the length of the vectors the index holds.
func (idx *Index) Dims() int { return idx.dims }

// Len is the number of vectors held.
func (idx *Index) Len() int { return int(idx.n.Load()) }

// Upsert adds or replaces the vector of meta's record, keyed by (GroveID,
// Table, MachineID, ID). The vector is stored L2-normalised, so scores are
// cosines; a zero vector is kept and scores 0 against every query. It
// fails with EInvalid on a missing key field, a vector of the wrong length
// or a non-finite value.
func (idx *Index) Upsert(meta hypha.VectorMeta, vec []float32) error {
	if meta.GroveID == "" || meta.Table == "" || meta.ID == "" {
		return hypha.Errorf(hypha.EInvalid, "vector metadata needs grove_id, table and id")
	}
	nv, err := idx.normalise(vec)
	if err != nil {
		return err
	}
	p := idx.partition(meta.GroveID, true)
	p.mu.Lock()
	added := p.upsert(meta, nv)
	p.mu.Unlock()
	if added {
		idx.n.Add(1)
	}
	return nil
}

// Delete removes a record's vector; a missing one is not an error.
func (idx *Index) Delete(groveID, table, machineID, id string) {
	p := idx.partition(groveID, false)
	if p == nil {
		return
	}
	p.mu.Lock()
	deleted := p.delete(table, machineID, id)
	p.mu.Unlock()
	if deleted {
		idx.n.Add(-1)
	}
}

// Search returns the k records nearest to q by cosine similarity among
// those f selects, best first (ties by record key). Fewer than k come
// back only when fewer match. f.GroveID is required, 1 ≤ k ≤
// hypha.MaxVectorTopK and q must have Dims() values, else EInvalid. A zero
// query is similar to nothing and returns no hits.
func (idx *Index) Search(ctx context.Context, q []float32, k int, f hypha.VectorFilter) ([]hypha.VectorHit, error) {
	if f.GroveID == "" {
		return nil, hypha.Errorf(hypha.EInvalid, "vector search needs a grove")
	}
	if k < 1 || k > hypha.MaxVectorTopK {
		return nil, hypha.Errorf(hypha.EInvalid, "top_k %d is outside 1..%d", k, hypha.MaxVectorTopK)
	}
	qn, err := idx.normalise(q)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if isZero(qn) {
		return []hypha.VectorHit{}, nil
	}

	groves := visibleGroves(&f)
	parts := make([]*partition, 0, len(groves))
	for _, g := range groves {
		if p := idx.partition(g, false); p != nil {
			parts = append(parts, p)
		}
	}
	// A compaction during the search makes it start again; the third
	// attempt holds the read locks throughout, so it cannot be overtaken.
	qv := newQueryVec(qn)
	for attempt := 1; ; attempt++ {
		hits, err := search(ctx, qv, k, &f, parts, attempt >= 3)
		if !errors.Is(err, errCompacted) {
			return hits, err
		}
	}
}

// search is one attempt at Search over the visible partitions. By default
// it read-locks a partition only to compile its plan and then one block at
// a time while it scans, so writers wait for a block, not for the whole
// search. With holdLocks it read-locks every partition for the whole
// search instead, in grove order: a fixed order means two searches can
// never each hold a lock the other waits for behind a writer.
func search(ctx context.Context, q *queryVec, k int, f *hypha.VectorFilter, parts []*partition, holdLocks bool) ([]hypha.VectorHit, error) {
	if holdLocks {
		parts = slices.SortedFunc(slices.Values(parts), func(a, b *partition) int { return strings.Compare(a.groveID, b.groveID) })
		for _, p := range parts {
			p.mu.RLock()
			defer p.mu.RUnlock()
		}
	}
	plans := make([]plan, len(parts))
	var units []unit
	rows := 0
	for i, p := range parts {
		if !holdLocks {
			p.mu.RLock()
		}
		plans[i] = compile(f, p, p.groveID == f.GroveID)
		if !holdLocks {
			p.mu.RUnlock()
		}
		if !plans[i].none {
			units = unitsOf(units, &plans[i])
			rows += plans[i].rows
		}
	}
	if len(units) == 0 {
		return []hypha.VectorHit{}, nil
	}
	return scanUnits(ctx, q, k, units, rows, !holdLocks)
}

// IndexStats describes an index's contents and its memory.
type IndexStats struct {
	Vectors int
	Groves  int
	Dims    int
	// Tombstones counts deleted rows not yet reclaimed: a partition is
	// compacted once they reach a quarter of its rows (and 1,024).
	Tombstones int
	// Bytes estimates the heap the index holds: vectors, metadata,
	// dictionaries and key maps.
	Bytes int64
}

// GroveLen is the number of vectors of one grove.
func (idx *Index) GroveLen(groveID string) int {
	p := idx.partition(groveID, false)
	if p == nil {
		return 0
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.live()
}

// Stats returns the index's current figures.
func (idx *Index) Stats() IndexStats {
	s := IndexStats{Dims: idx.dims}
	for _, p := range idx.groves.all() {
		p.mu.RLock()
		if n := p.live(); n > 0 {
			s.Groves++
			s.Vectors += n
		}
		s.Tombstones += p.dead
		s.Bytes += p.bytes()
		p.mu.RUnlock()
	}
	return s
}

// partition returns grove g's partition, creating it if create is set;
// nil if it does not exist and create is not set.
func (idx *Index) partition(g string, create bool) *partition {
	if !create {
		return idx.groves.get(g)
	}
	return idx.groves.getOrCreate(g, func() *partition { return newPartition(g, idx.dims) })
}

// normalise returns a unit-length copy of v (the zero vector stays zero),
// or EInvalid if v has the wrong length or a value that is not finite.
func (idx *Index) normalise(v []float32) ([]float32, error) {
	if len(v) != idx.dims {
		return nil, hypha.Errorf(hypha.EInvalid, "vector has %d dimensions, the index holds %d", len(v), idx.dims)
	}
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if math.IsNaN(sum) || math.IsInf(sum, 0) {
		return nil, hypha.Errorf(hypha.EInvalid, "vector has a value that is not a finite number")
	}
	out := make([]float32, len(v))
	if sum == 0 {
		return out, nil
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out, nil
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
