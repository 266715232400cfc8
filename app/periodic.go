package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// periodic runs a function once at start, then every interval in the
// background until stop, which waits for it. Each run gets a 10 s deadline.
type periodic struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (p *periodic) start(ctx context.Context, interval time.Duration, fn func(ctx context.Context)) {
	run := func() {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		fn(rctx)
	}
	run()
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				run()
			}
		}
	}()
}

func (p *periodic) stop() {
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
	})
}

// failureLog logs the changes of a background task's state only: a warning
// when it starts failing, a note when it works again. While the database
// is down or behind, a refresh fails every tick, and the schema gate
// already says why.
type failureLog struct{ failing atomic.Bool }

// note records the outcome of one run; recovered may be "" (no message).
func (f *failureLog) note(log *slog.Logger, err error, failed, recovered string) {
	switch was := f.failing.Swap(err != nil); {
	case err != nil && !was:
		log.Warn(failed, "err", err)
	case err == nil && was && recovered != "":
		log.Info(recovered)
	}
}
