package search

import "sync"

// groves maps grove ids to the partitions of an index (vector or keyword).
// Partitions are never removed, so a writer that looked one up can never
// write into a partition that has left the map.
type groves[P any] struct {
	mu sync.RWMutex
	m  map[string]*P
}

// get returns grove g's partition, or nil.
func (gs *groves[P]) get(g string) *P {
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	return gs.m[g]
}

// getOrCreate returns grove g's partition, made by create if it has none.
func (gs *groves[P]) getOrCreate(g string, create func() *P) *P {
	if p := gs.get(g); p != nil {
		return p
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	p := gs.m[g]
	if p == nil {
		if gs.m == nil {
			gs.m = map[string]*P{}
		}
		p = create()
		gs.m[g] = p
	}
	return p
}

// all returns every partition, in no order.
func (gs *groves[P]) all() []*P {
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	out := make([]*P, 0, len(gs.m))
	for _, p := range gs.m {
		out = append(out, p)
	}
	return out
}
