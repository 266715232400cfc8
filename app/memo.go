package app

import "sync"

// maxMemoEntries bounds each of the ingest service's memos: past it a memo
// starts over, which costs some extra writes and lookups, never a wrong
// answer (memos only let known facts skip the store).
const maxMemoEntries = 100_000

// memo is a bounded map of facts learned from the store (a project's
// owner, a grove that exists, when a row was last touched), safe for
// concurrent use. A memo that reaches its bound is cleared, so memory stays
// in proportion to recent work, not to every project or machine ever seen.
type memo[K comparable, V any] struct {
	mu  sync.Mutex
	m   map[K]V
	max int // 0: maxMemoEntries
}

// Load returns the value of k, if remembered.
func (c *memo[K, V]) Load(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// Store remembers v for k.
func (c *memo[K, V]) Store(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.max
	if limit <= 0 {
		limit = maxMemoEntries
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= limit {
		c.m = nil
	}
	if c.m == nil {
		c.m = map[K]V{}
	}
	c.m[k] = v
}

// Len returns how many entries the memo holds.
func (c *memo[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
