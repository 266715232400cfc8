package app

import (
	"sync"
	"time"
)

// refreshedMap is an in-memory copy of some stored state, reloaded whole by
// a background refresh and updated in place by this process's own writes,
// so readers never touch storage. A write made while a refresh is loading
// is re-applied to the refresh's result, so a refresh that read storage
// just before the write cannot undo it.
type refreshedMap[V any] struct {
	mu         sync.RWMutex
	m          map[string]V
	loaded     time.Time // when the last refresh finished, by the store clock; zero: never
	refreshing bool
	pending    []func(map[string]V) // local writes made during the running refresh

	refreshMu sync.Mutex // one refresh at a time
}

// get returns the value of key.
func (r *refreshedMap[V]) get(key string) (V, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.m[key]
	return v, ok
}

// each calls fn for every entry under the read lock; fn must not block.
func (r *refreshedMap[V]) each(fn func(key string, v V)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for k, v := range r.m {
		fn(k, v)
	}
}

// age returns how long ago the last refresh finished, and false if none
// has.
func (r *refreshedMap[V]) age(now time.Time) (time.Duration, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.loaded.IsZero() {
		return 0, false
	}
	return now.Sub(r.loaded), true
}

// update applies a local write to the map.
func (r *refreshedMap[V]) update(fn func(map[string]V)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]V{}
	}
	fn(r.m)
	if r.refreshing {
		r.pending = append(r.pending, fn)
	}
}

// refresh replaces the map with what load reads, then re-applies the local
// writes made meanwhile. On error the map is left as it was.
func (r *refreshedMap[V]) refresh(load func() (map[string]V, error), now func() time.Time) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	r.mu.Lock()
	r.refreshing, r.pending = true, nil
	r.mu.Unlock()
	m, err := load()
	r.mu.Lock()
	defer r.mu.Unlock()
	pending := r.pending
	r.refreshing, r.pending = false, nil
	if err != nil {
		return err
	}
	for _, fn := range pending {
		fn(m)
	}
	r.m, r.loaded = m, now()
	return nil
}

// ensure refreshes when the map was never loaded or is older than maxAge.
// A concurrent caller that finds a refresh running waits for it rather
// than starting another.
func (r *refreshedMap[V]) ensure(maxAge time.Duration, load func() (map[string]V, error), now func() time.Time) error {
	if age, ok := r.age(now()); ok && age < maxAge {
		return nil
	}
	r.refreshMu.Lock()
	// Someone else may have refreshed while this caller waited.
	age, ok := r.age(now())
	r.refreshMu.Unlock()
	if ok && age < maxAge {
		return nil
	}
	return r.refresh(load, now)
}
