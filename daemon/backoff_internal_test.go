package daemon

import (
	"net/http"
	"testing"
	"time"

	"github.com/hyphateam/hypha/wire"
)

func TestBackoff_GrowsCapsAndJitters(t *testing.T) {
	max := 5 * time.Minute
	for n, want := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 6: 16 * time.Second, 30: max} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(n, max)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v; want within [%v, %v]", n, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("backoff(%d) took %d distinct values in 200 draws; want jitter", n, len(seen))
		}
	}
	if d := backoff(3, 100*time.Millisecond); d > 100*time.Millisecond {
		t.Fatalf("backoff over the cap: %v", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{"7": 7 * time.Second, "": 0, "soon": 0, "-1": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second} {
		if got := wire.ParseRetryAfter(in, now); got != want {
			t.Errorf("wire.ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
