package search

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hyphateam/hypha"
)

// parallelMinRows is the number of candidate rows from which a search
// splits its scan across cores. Below it, starting goroutines costs more
// than it saves (a 384-d block of 1,024 rows scans in about 0.1 ms).
const parallelMinRows = 4 * blockRows

// errCompacted aborts a scan that found a partition compacted under it
// (rows moved, codes changed); the search starts again.
var errCompacted = errors.New("partition compacted during the search")

// dot is the inner product of a and b (len(b) ≥ len(a)). Four
// independent accumulators let the CPU overlap the multiply-adds instead of
// waiting on one running sum; the re-sliced windows let the compiler drop
// the bounds checks. Measured on the development machine this runs at
// about one multiply-add per cycle per core (100,000 × 384 in ~11.5 ms),
// three times a naive loop; eight accumulators, or scoring two or four
// rows per pass to share the loads of q, were no faster.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x := a[i : i+4 : i+4]
		y := b[i : i+4 : i+4]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// unit is one block of a partition scanned under one plan: the piece of
// work a core takes at a time, and the span of one read lock.
type unit struct {
	pl         *plan
	start, end int // rows [start, end), inside one block
}

// unitsOf appends the units covering pl's rows (as many as the partition
// had when pl was compiled: rows appended later are not searched).
func unitsOf(units []unit, pl *plan) []unit {
	for s := 0; s < pl.rows; s += blockRows {
		units = append(units, unit{pl: pl, start: s, end: min(s+blockRows, pl.rows)})
	}
	return units
}

// scanUnits scores every row of units that passes its plan against q and
// returns the k best, best first. Large scans are split across the cores:
// each worker takes the next unit from a shared counter (a selective
// filter makes units uneven) and keeps its own top k; the heaps are merged
// at the end. With lockEach, a worker read-locks a unit's partition while
// it scans the unit and fails with errCompacted if the partition was
// compacted since the plan was made; otherwise the caller holds the locks.
func scanUnits(ctx context.Context, q *queryVec, k int, units []unit, rows int, lockEach bool) ([]hypha.VectorHit, error) {
	workers := min(runtime.GOMAXPROCS(0), len(units))
	if rows < parallelMinRows {
		workers = 1
	}
	var next atomic.Int64
	heaps := make([]*topK, workers)
	errs := make([]error, workers)
	work := func(w int) {
		h := newTopK(k)
		heaps[w] = h
		var sel []int32
		for {
			i := int(next.Add(1) - 1)
			if i >= len(units) {
				return
			}
			if err := ctx.Err(); err != nil {
				errs[w] = err
				return
			}
			u := &units[i]
			p := u.pl.p
			if lockEach {
				p.mu.RLock()
				if p.epoch != u.pl.epoch {
					p.mu.RUnlock()
					errs[w] = errCompacted
					next.Store(int64(len(units))) // stop the other workers too
					return
				}
			}
			sel = scanUnit(q, u, h, sel)
			if lockEach {
				p.mu.RUnlock()
			}
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(w)
		}()
	}
	work(0)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	all := heaps[0]
	for _, h := range heaps[1:] {
		all.merge(h)
	}
	return all.sorted(), nil
}

// scanUnit offers the rows of u that pass its plan to h. sel is scratch
// space for the matching rows' positions. The caller holds u's partition
// read lock.
//
// A row is scored on its 8-bit copy first; only a row that could still
// beat h's floor given the bound of quant.go is scored exactly and
// offered, so what h keeps is what an exact scan keeps.
func scanUnit(q *queryVec, u *unit, h *topK, sel []int32) []int32 {
	pl, p := u.pl, u.pl.p
	b := u.start / blockRows // u starts at a block boundary
	block, qblock := p.blocks[b], p.qblocks[b]
	dims := p.dims
	rows := p.rows[u.start:u.end]
	score := func(i int) {
		if h.full() {
			s := rows[i].scale
			if s*dotI8(q.v, qblock[i*dims:(i+1)*dims])+s*q.halfL1+boundMargin < h.floor() {
				return // cannot enter the top k
			}
		}
		e := dot(q.v, block[i*dims:(i+1)*dims])
		if h.full() && e < h.floor() {
			return // cheap rejection before the metadata is looked at
		}
		h.offer(e, &p.metas[u.start+i])
	}
	if pl.all {
		for i := range rows {
			if rows[i].live {
				score(i)
			}
		}
		return sel
	}
	sel = sel[:0]
	for i := range rows {
		if rows[i].live && pl.match(&rows[i]) {
			sel = append(sel, int32(i))
		}
	}
	for _, i := range sel {
		score(int(i))
	}
	return sel
}
