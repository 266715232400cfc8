package api

import (
	"fmt"
	"testing"
	"time"
)

func TestKeyedLimiter(t *testing.T) {
	if l := newKeyedLimiter(0, nil); l != nil {
		t.Fatal("a limit of 0 is no limiter")
	}
	var nilLimiter *keyedLimiter
	if ok, _ := nilLimiter.allow("g"); !ok {
		t.Fatal("no limiter refused a request")
	}
	now := time.Unix(1_000, 0)
	l := newKeyedLimiter(10, func() time.Time { return now })
	// A burst of 20, then a refusal that says to wait a tenth of a second.
	for i := range 20 {
		if ok, _ := l.allow("g"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("g")
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("21st request: allowed %v, wait %v; want a refusal for ≤ 100 ms", ok, wait)
	}
	// A refused request takes nothing: after 100 ms exactly one fits.
	now = now.Add(100 * time.Millisecond)
	if ok, _ := l.allow("g"); !ok {
		t.Fatal("the refilled token was refused")
	}
	if ok, _ := l.allow("g"); ok {
		t.Fatal("a second request fit in one refill")
	}
	// Other keys have their own buckets.
	if ok, _ := l.allow("h"); !ok {
		t.Fatal("another key was refused")
	}
	// Idle buckets are forgotten after a minute.
	for i := range 100 {
		l.allow(fmt.Sprint("k", i))
	}
	now = now.Add(2 * time.Minute)
	l.allow("g")
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets after a minute idle, want only the one just used", n)
	}
	// However many keys are in use at once, the limiter stays bounded.
	for i := range maxBuckets + 10 {
		l.allow(fmt.Sprint("busy", i))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Fatalf("%d buckets, more than the bound %d", n, maxBuckets)
	}
}
