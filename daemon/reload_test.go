package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha/daemon"
	"go.uber.org/goleak"
)

// TestDaemon_ConcurrentReloadsOpenEachGroveOnce installs three groves
// while the daemon runs, then reloads 20 times at once through the three
// callers of Reload (POST /v1/reload, a request for a grove not open yet,
// the grove watcher). Each grove must be opened once, run one flusher and
// one watcher, and every store must be closed when the daemon stops.
func TestDaemon_ConcurrentReloadsOpenEachGroveOnce(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx := context.Background()
	home := newHome(t)
	install(t, home, "ga", nil)

	var mu sync.Mutex
	opened := map[string][]*daemon.Store{}
	d := daemon.New(daemon.Options{Home: home, Version: "test", PollInterval: 50 * time.Millisecond, FlushInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	daemon.SetStoreOpenerForTest(d, func(ctx context.Context, path, machineID string) (*daemon.Store, error) {
		st, err := daemon.OpenStore(ctx, path, machineID)
		if err == nil {
			mu.Lock()
			g := filepath.Base(filepath.Dir(path))
			opened[g] = append(opened[g], st)
			mu.Unlock()
		}
		return st, err
	})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	c := daemon.NewClient(home)
	t.Cleanup(c.Close)

	groves := []string{"ga", "gb", "gc", "gd"}
	for _, g := range groves[1:] {
		install(t, home, g, nil)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var err error
			if i%2 == 0 {
				err = c.Reload(ctx)
			} else {
				_, err = c.GroveStatus(ctx, groves[1+i%3])
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()

	running := daemon.GroveStoresForTest(d)
	if len(running) != len(groves) {
		t.Fatalf("running groves %v; want %v", running, groves)
	}
	mu.Lock()
	for _, g := range groves {
		if running[g] == nil {
			t.Errorf("grove %s does not run", g)
		}
		leaked := 0
		for _, st := range opened[g] {
			if st != running[g] && st.DBForTest().Ping() == nil {
				leaked++
			}
		}
		if leaked > 0 {
			t.Errorf("grove %s: %d of the %d stores opened are open but not installed", g, leaked, len(opened[g]))
		}
	}
	mu.Unlock()
	for _, loop := range []string{"runFlusher", "runWatcher"} {
		waitLoops(t, loop, len(groves))
	}

	d.Stop()
	mu.Lock()
	defer mu.Unlock()
	for g, sts := range opened {
		for i, st := range sts {
			if st.DBForTest().Ping() == nil {
				t.Errorf("grove %s: store %d of %d is still open after Stop", g, i+1, len(sts))
			}
		}
	}
}

// waitLoops waits until exactly want goroutines run grove loop fn (their
// goroutines may not have been scheduled yet when Reload returns).
func waitLoops(t *testing.T, fn string, want int) {
	t.Helper()
	eventually(t, fmt.Sprintf("exactly %d goroutines running %s, one per grove", want, fn), func() bool {
		return countFrames("daemon.(*grove)."+fn+"(") == want
	})
}

// countFrames counts the goroutines whose stack has a frame of fn.
func countFrames(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}
