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

// denseFraction: when at least 1 in denseFraction rows of a block pass the
// filter, the scan scores every row in storage order and keeps the ones
// that pass, instead of jumping from match to match. Measured on the
// development machine (100,000 × 384, one core): scoring every row takes
// 12 ms whatever the filter; jumping over the rows that fail takes 20 ms
// at 50 % matching (each jump restarts the hardware prefetcher, so every
// row scored waits on memory), 12 ms at 25 %, 5.4 ms at 10 %, 0.8 ms at 3 %.
const denseFraction = 4

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
func scanUnits(ctx context.Context, q []float32, k int, units []unit, rows int, lockEach bool) ([]hypha.VectorHit, error) {
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
func scanUnit(q []float32, u *unit, h *topK, sel []int32) []int32 {
	pl, p := u.pl, u.pl.p
	block := p.blocks[u.start/blockRows] // u starts at a block boundary
	dims := p.dims
	rows := p.rows[u.start:u.end]
	offer := func(i int, s float32) {
		if h.full() && s < h.floor() {
			return // cheap rejection before the metadata is looked at
		}
		h.offer(s, &p.metas[u.start+i])
	}
	if pl.all {
		for i := range rows {
			if rows[i].live {
				offer(i, dot(q, block[i*dims:(i+1)*dims]))
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
	if len(sel) == 0 {
		return sel
	}
	if denseFraction*len(sel) < len(rows) {
		for _, i := range sel {
			offer(int(i), dot(q, block[int(i)*dims:int(i+1)*dims]))
		}
		return sel
	}
	next := 0
	for i := range rows[:sel[len(sel)-1]+1] {
		s := dot(q, block[i*dims:(i+1)*dims])
		if int32(i) == sel[next] {
			offer(i, s)
			next++
		}
	}
	return sel
}
