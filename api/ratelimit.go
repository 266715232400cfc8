package api

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter is a token bucket per key (a grove): perSecond requests a
// second on average, bursts of twice that. It lives in this process: each
// server sharing a database limits on its own. Buckets idle for a minute
// are forgotten, so the map holds only the keys in recent use.
type keyedLimiter struct {
	perSecond float64
	burst     int
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// maxBuckets bounds the buckets a limiter keeps.
const maxBuckets = 100_000

// idleBucket is how long an unused bucket is kept (by then it is full
// again, so forgetting it changes nothing).
const idleBucket = time.Minute

// newKeyedLimiter returns a limiter of perSecond requests a second per
// key, or nil (no limit) when perSecond ≤ 0.
func newKeyedLimiter(perSecond float64, now func() time.Time) *keyedLimiter {
	if perSecond <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &keyedLimiter{perSecond: perSecond, burst: max(1, int(math.Ceil(2*perSecond))), now: now, buckets: map[string]*bucket{}}
}

// allow takes one request of key, or reports how long to wait for one.
// A nil limiter allows everything.
func (l *keyedLimiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleBucket {
		for k, b := range l.buckets {
			if now.Sub(b.used) > idleBucket {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil && len(l.buckets) >= maxBuckets {
		// Every bucket is in use: start over rather than grow. The keys
		// are groves callers proved they may use, so this takes more
		// groves than a server holds.
		clear(l.buckets)
	}
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.perSecond), l.burst)}
		l.buckets[key] = b
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
