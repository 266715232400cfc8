package daemon_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyphateam/hypha/daemon"
)

func TestZZPerfLocal(t *testing.T) {
	if os.Getenv("ZZPERF") == "" {
		t.Skip()
	}
	home := newHome(t)
	var ts *teamServer
	if os.Getenv("ZZSERVER") != "" {
		ts = newTeamServer(t)
	}
	install(t, home, "g1", ts)
	d := daemon.New(daemon.Options{Home: home, Version: "test", FlushInterval: 50 * time.Millisecond})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	c := daemon.NewClient(home)
	defer c.Close()
	filler := strings.Repeat("mycelium network carries nutrients ", 30)[:1000]
	n := 5000
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				data := map[string]any{"project_id": project, "status": "active", "content": fmt.Sprintf("spore %d %s", i, filler), "content_hash": fmt.Sprintf("h%d", i)}
				if _, err := c.Put(context.Background(), "g1", "spores", fmt.Sprintf("b-%07d", i), data, false); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	t.Logf("%d writes in %v: %.0f/s", n, el, float64(n)/el.Seconds())
}

func TestZZPerfDrain(t *testing.T) {
	if os.Getenv("ZZPERF") == "" {
		t.Skip()
	}
	home := newHome(t)
	ts := newTeamServer(t)
	install(t, home, "g1", ts)
	filler := strings.Repeat("mycelium network carries nutrients ", 30)[:1000]
	n := 20000
	var ws []daemon.Write
	for i := range n {
		ws = append(ws, daemon.Write{Table: "spores", Data: map[string]any{"id": fmt.Sprintf("b-%07d", i), "project_id": project, "status": "active", "content": fmt.Sprintf("spore %d %s", i, filler), "content_hash": fmt.Sprintf("h%d", i)}})
	}
	if _, err := daemon.LocalWrite(context.Background(), home, "g1", ws, false); err != nil {
		t.Fatal(err)
	}
	d := daemon.New(daemon.Options{Home: home, Version: "test", FlushInterval: 50 * time.Millisecond})
	start := time.Now()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	for ts.count(t, "g1", "m1", "spores") < n {
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	t.Logf("drained %d in %v: %.0f/s", n, el, float64(n)/el.Seconds())
}
