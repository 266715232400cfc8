package search_test

import (
	"testing"

	"github.com/hyphateam/hypha/search"
)

func TestVectorID(t *testing.T) {
	// The reference's test vector.
	if got := search.VectorID("spores", "spore-abc123", "chris_a7b3c2"); got != "v1:x4IM49CHptnKYnt7c7M6TA" {
		t.Fatalf("VectorID = %q, want v1:x4IM49CHptnKYnt7c7M6TA", got)
	}
	if got := search.VectorID("plans", "p1", "m1"); len(got) != 25 {
		t.Fatalf("VectorID has %d characters, want 25", len(got))
	}
}
