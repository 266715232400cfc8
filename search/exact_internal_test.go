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
		a, err := search(context.Background(), q, k, &f, parts, false)
		if err != nil {
			t.Fatal(err)
		}
		b, err := search(context.Background(), q, k, &f, parts, true)
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
	if _, err := scanUnits(context.Background(), q, 10, unitsOf(nil, &pl), pl.rows, true); !errors.Is(err, errCompacted) {
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
