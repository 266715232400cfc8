package search

// White-box tests of the two locking modes of a search, which the public
// API reaches only when compactions race with a search.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hyphateam/hypha"
)

func randomIndex(t *testing.T, n, dims int) (*Index, *rand.Rand) {
	t.Helper()
	r := rand.New(rand.NewPCG(12, 12))
	idx := NewIndex(dims)
	for i := range n {
		v := make([]float32, dims)
		for j := range v {
			v[j] = 2*r.Float32() - 1
		}
		m := hypha.VectorMeta{GroveID: fmt.Sprint("g", i%3), Table: "spores", MachineID: "m", ID: fmt.Sprint(i),
			Status: []string{"active", "superseded"}[r.IntN(2)], Shared: r.IntN(2) == 0}
		if err := idx.Upsert(m, v); err != nil {
			t.Fatal(err)
		}
	}
	return idx, r
}

func TestSearchHoldingLocksEqualsBlockLocking(t *testing.T) {
	const dims = 12
	idx, r := randomIndex(t, 9000, dims)
	for range 50 {
		f := hypha.VectorFilter{GroveID: fmt.Sprint("g", r.IntN(3)), SharedFrom: []string{"g2", "g0"}}
		if r.IntN(2) == 0 {
			f.Status = "active"
		}
		q, _ := idx.normalise(randomVector(r, dims))
		var parts []*partition
		for _, g := range visibleGroves(&f) {
			if p := idx.partition(g, false); p != nil {
				parts = append(parts, p)
			}
		}
		k := 1 + r.IntN(hypha.MaxVectorTopK)
		a, err := search(context.Background(), newQueryVec(q), k, &f, parts, false)
		if err != nil {
			t.Fatal(err)
		}
		b, err := search(context.Background(), newQueryVec(q), k, &f, parts, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Fatalf("block locking and holding the locks disagree for %+v", f)
		}
	}
}

func TestScanFailsWhenCompactedUnderIt(t *testing.T) {
	idx, r := randomIndex(t, 3000, 4)
	p := idx.partition("g0", false)
	f := hypha.VectorFilter{GroveID: "g0"}
	p.mu.RLock()
	pl := compile(&f, p, true)
	p.mu.RUnlock()
	p.mu.Lock()
	p.compact()
	p.mu.Unlock()
	q, _ := idx.normalise(randomVector(r, 4))
	if _, err := scanUnits(context.Background(), newQueryVec(q), 10, unitsOf(nil, &pl), pl.rows, true); !errors.Is(err, errCompacted) {
		t.Fatalf("scan over a compacted partition: %v, want errCompacted", err)
	}
}

func randomVector(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return v
}

// checkPartition verifies a partition's bookkeeping: the key map points
// at live rows holding that key, the counts agree, the blocks cover the
// rows, and every code's reference count is the number of rows using it.
func checkPartition(t *testing.T, p *partition) {
	t.Helper()
	live := 0
	refs := make([]int32, len(p.dict.vals))
	for i, r := range p.rows {
		if !r.live {
			continue
		}
		live++
		m := p.metas[i]
		if j, ok := p.slots[rowKey{m.Table, m.MachineID, m.ID}]; !ok || int(j) != i {
			t.Fatalf("row %d (%s) is not in the key map (%d, %v)", i, m.ID, j, ok)
		}
		for f, c := range r.codes {
			refs[c]++
			if got := p.dict.vals[c]; c != 0 && got == "" {
				t.Fatalf("row %d field %d has retired code %d", i, f, c)
			}
		}
	}
	if live != len(p.slots) || live != p.live() {
		t.Fatalf("%d live rows, %d keys, live() = %d", live, len(p.slots), p.live())
	}
	if want := (len(p.rows) + blockRows - 1) / blockRows; len(p.blocks) != want {
		t.Fatalf("%d blocks for %d rows", len(p.blocks), len(p.rows))
	}
	for c := 1; c < len(refs); c++ {
		if refs[c] != p.dict.refs[c] {
			t.Fatalf("code %d (%q): %d rows use it, refs = %d", c, p.dict.vals[c], refs[c], p.dict.refs[c])
		}
	}
}

func TestPartitionBookkeepingThroughCompactions(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	idx := NewIndex(4)
	keys := map[string]bool{}
	epochs := uint64(0)
	for step := range 60_000 {
		id := fmt.Sprint(r.IntN(6000))
		if r.IntN(3) == 0 {
			idx.Delete("g", "spores", "m", id)
			delete(keys, id)
		} else {
			m := hypha.VectorMeta{GroveID: "g", Table: "spores", MachineID: "m", ID: id,
				SessionID: fmt.Sprint("s", step/3), Status: []string{"a", "b"}[r.IntN(2)]}
			if err := idx.Upsert(m, randomVector(r, 4)); err != nil {
				t.Fatal(err)
			}
			keys[id] = true
		}
		if p := idx.partition("g", false); p != nil && (p.epoch != epochs || step%5000 == 0) {
			epochs = p.epoch
			checkPartition(t, p)
		}
	}
	p := idx.partition("g", false)
	checkPartition(t, p)
	if idx.Len() != len(keys) || epochs < 3 {
		t.Fatalf("Len() = %d, want %d; %d compactions", idx.Len(), len(keys), epochs)
	}
}
