package app

import "testing"

// TestMemo_Bounded: a memo never holds more than its bound; past it, it
// starts over and keeps the newest fact.
func TestMemo_Bounded(t *testing.T) {
	m := memo[int, int]{max: 3}
	for i := range 10 {
		m.Store(i, i*i)
		if n := m.Len(); n > 3 {
			t.Fatalf("after %d stores the memo holds %d entries", i+1, n)
		}
		if v, ok := m.Load(i); !ok || v != i*i {
			t.Fatalf("Load(%d) = %d, %v just after storing it", i, v, ok)
		}
	}
	// Rewriting a known key never clears.
	m2 := memo[string, int]{max: 2}
	m2.Store("a", 1)
	m2.Store("b", 1)
	m2.Store("a", 2)
	if v, ok := m2.Load("b"); !ok || v != 1 || m2.Len() != 2 {
		t.Fatalf("rewriting a key cleared the memo")
	}
}
