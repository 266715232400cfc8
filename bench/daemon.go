package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyphateam/hypha/daemon"
)

// DaemonOptions configures the daemon benchmark.
type DaemonOptions struct {
	Records   int // total records (default 20,000)
	Writers   int // concurrent local writers (default 4)
	TextBytes int // size of each spore's content (default 1,000)
}

// DaemonResult holds the measured figures: local writes through the
// daemon's socket, and the time until the team server has them all.
type DaemonResult struct {
	Records          int
	WriteElapsed     time.Duration // first local write to last one acknowledged by the daemon
	VisibleElapsed   time.Duration // first local write to every record readable on the server
	SearchableAfter  time.Duration // first local write to every record embedded (in the vector index)
	WritesPerSec     float64
	VisiblePerSec    float64
	SearchablePerSec float64
}

func (r *DaemonResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "local writes:  %d records in %v: %.0f records/s (one record per write, through the control socket)\n",
		r.Records, r.WriteElapsed.Round(time.Millisecond), r.WritesPerSec)
	if r.VisibleElapsed > 0 {
		fmt.Fprintf(&b, "visible:       all on the server after %v: %.0f records/s from local write to readable on the server\n",
			r.VisibleElapsed.Round(time.Millisecond), r.VisiblePerSec)
	}
	if r.SearchableAfter > 0 {
		fmt.Fprintf(&b, "searchable:    all embedded after %v: %.0f records/s from local write to searchable\n",
			r.SearchableAfter.Round(time.Millisecond), r.SearchablePerSec)
	}
	return b.String()
}

// Daemon writes opts.Records spores into grove through the daemon's control
// socket, one record per local write from opts.Writers writers, and waits
// until visible (the server's count of the grove's records) and then
// searchable (its count of embedded ones) reach the total; nil skips them.
func Daemon(ctx context.Context, c *daemon.Client, grove string, visible, searchable func(context.Context) (int, error), opts DaemonOptions) (*DaemonResult, error) {
	if opts.Records <= 0 {
		opts.Records = 20_000
	}
	if opts.Writers <= 0 {
		opts.Writers = 4
	}
	if opts.TextBytes <= 0 {
		opts.TextBytes = 1000
	}
	filler := strings.Repeat("mycelium network carries nutrients ", opts.TextBytes/35+1)[:opts.TextBytes]
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, opts.Writers)
	start := time.Now()
	for range opts.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= opts.Records {
					return
				}
				data := map[string]any{"project_id": "proj_0123456789abcdef0123456789abcdef", "status": "active",
					"content": fmt.Sprintf("spore %d %s", i, filler), "content_hash": fmt.Sprintf("h%d", i)}
				if _, err := c.Put(ctx, grove, "spores", fmt.Sprintf("bench-%07d", i), data, false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("local write: %w", err)
	}
	res := &DaemonResult{Records: opts.Records, WriteElapsed: time.Since(start)}
	wait := func(count func(context.Context) (int, error)) (time.Duration, error) {
		for {
			n, err := count(ctx)
			if err != nil {
				return 0, err
			}
			if n >= opts.Records {
				return time.Since(start), nil
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	res.WritesPerSec = float64(opts.Records) / res.WriteElapsed.Seconds()
	if visible == nil {
		return res, nil // no server: the local writes alone
	}
	var err error
	if res.VisibleElapsed, err = wait(visible); err != nil {
		return nil, err
	}
	if searchable != nil {
		if res.SearchableAfter, err = wait(searchable); err != nil {
			return nil, err
		}
		res.SearchablePerSec = float64(opts.Records) / res.SearchableAfter.Seconds()
	}
	res.VisiblePerSec = float64(opts.Records) / res.VisibleElapsed.Seconds()
	return res, nil
}
