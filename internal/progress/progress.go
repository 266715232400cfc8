// Package progress draws a one-line progress bar on a terminal and stays
// silent elsewhere, so logs and pipes get no carriage-return noise.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Bar is a progress line. A zero total draws a counter instead of a bar.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
	verb    string
	total   int64
	done    int64
	current string
	start   time.Time
	last    time.Time
	width   int
}

// New returns a bar that draws on w when enabled (pass whether w is a
// terminal). total is the number of units expected, or 0 if unknown.
func New(w io.Writer, enabled bool, verb string, total int64) *Bar {
	return &Bar{w: w, on: enabled, verb: verb, total: total, start: time.Now()}
}

// Set records that done units are complete, the current one being item,
// and redraws at most ten times a second.
func (b *Bar) Set(item string, done int64) {
	if b == nil || !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.current, b.done = item, done
	if time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.draw()
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	if b == nil || !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total > 0 {
		b.done = b.total
	}
	b.current = ""
	b.draw()
	fmt.Fprintln(b.w)
}

func (b *Bar) draw() {
	b.last = time.Now()
	elapsed := time.Since(b.start).Round(100 * time.Millisecond)
	var line string
	if b.total > 0 {
		frac := float64(b.done) / float64(b.total)
		frac = min(max(frac, 0), 1)
		const width = 30
		filled := int(frac * width)
		line = fmt.Sprintf("%s [%s%s] %3.0f%% %d/%d rows %s", b.verb, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), 100*frac, b.done, b.total, elapsed)
	} else {
		line = fmt.Sprintf("%s %d rows %s", b.verb, b.done, elapsed)
	}
	if b.current != "" {
		line += " (" + b.current + ")"
	}
	pad := ""
	if n := b.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	b.width = len(line)
	fmt.Fprint(b.w, "\r"+line+pad)
}
