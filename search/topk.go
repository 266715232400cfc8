package search

import (
	"cmp"
	"slices"

	"github.com/hyphateam/hypha"
)

// topK keeps the k best hits offered to it: a min-heap of (score, slot)
// whose root is the worst kept, so a hit that cannot enter costs one
// comparison, and the metadata of each kept hit in a slot of its own, so
// heap moves stay small. The metadata is copied when the hit enters, under
// the partition's read lock: a record changed or deleted after it was
// scored cannot tear the hit.
type topK struct {
	k     int
	h     []entry
	metas []hypha.VectorMeta // slot → metadata
}

type entry struct {
	score float32
	slot  int32
}

func newTopK(k int) *topK {
	return &topK{k: k, h: make([]entry, 0, k), metas: make([]hypha.VectorMeta, 0, k)}
}

// full reports whether k hits are kept: from then on a hit must beat the
// root to enter.
func (t *topK) full() bool { return len(t.h) == t.k }

// floor is the worst kept score; only meaningful when full.
func (t *topK) floor() float32 { return t.h[0].score }

// offer adds the hit (s, m) if it is among the k best so far.
func (t *topK) offer(s float32, m *hypha.VectorMeta) {
	if len(t.h) < t.k {
		t.metas = append(t.metas, *m)
		t.h = append(t.h, entry{s, int32(len(t.metas) - 1)})
		t.up(len(t.h) - 1)
		return
	}
	root := t.h[0]
	if s < root.score || (s == root.score && compareKeys(m, &t.metas[root.slot]) >= 0) {
		return
	}
	t.metas[root.slot] = *m
	t.h[0].score = s
	t.down(0)
}

// merge offers every hit kept by o.
func (t *topK) merge(o *topK) {
	for _, e := range o.h {
		t.offer(e.score, &o.metas[e.slot])
	}
}

// sorted returns the kept hits best first.
func (t *topK) sorted() []hypha.VectorHit {
	es := slices.Clone(t.h)
	slices.SortFunc(es, func(a, b entry) int {
		if t.better(a, b) {
			return -1
		}
		return 1
	})
	hits := make([]hypha.VectorHit, len(es))
	for i, e := range es {
		hits[i] = hypha.VectorHit{Meta: t.metas[e.slot], Score: e.score}
	}
	return hits
}

// better orders hits best first: higher score, then the record key
// ascending, so equal scores come out in the same order however the scan
// was split.
func (t *topK) better(a, b entry) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return compareKeys(&t.metas[a.slot], &t.metas[b.slot]) < 0
}

func compareKeys(a, b *hypha.VectorMeta) int {
	if c := cmp.Compare(a.GroveID, b.GroveID); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Table, b.Table); c != 0 {
		return c
	}
	if c := cmp.Compare(a.MachineID, b.MachineID); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func (t *topK) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !t.better(t.h[parent], t.h[i]) {
			return
		}
		t.h[parent], t.h[i] = t.h[i], t.h[parent]
		i = parent
	}
}

func (t *topK) down(i int) {
	n := len(t.h)
	for {
		worst, l, r := i, 2*i+1, 2*i+2
		if l < n && t.better(t.h[worst], t.h[l]) {
			worst = l
		}
		if r < n && t.better(t.h[worst], t.h[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		t.h[worst], t.h[i] = t.h[i], t.h[worst]
		i = worst
	}
}
