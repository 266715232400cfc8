// Package testclock is a clock tests move by hand.
package testclock

import (
	"sync"
	"time"
)

// Start is where every test clock starts: a whole second, so epoch-second
// columns compare exactly.
var Start = time.Unix(1_700_000_000, 0).UTC()

// Clock is a clock tests move by hand, shared by a store and the services
// over it. The zero value starts at Start.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at Start.
func NewClock() *Clock { return &Clock{now: Start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Start
	}
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Start
	}
	c.now = c.now.Add(d)
}

// Unix returns the clock's time in epoch seconds.
func (c *Clock) Unix() int64 { return c.Now().Unix() }
