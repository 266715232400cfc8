package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/hyphateam/hypha"
)

// testConcurrency has several writers store overlapping keys at once, half
// of them in reverse order: every call must succeed (a store that locks rows
// in input order deadlocks here on PostgreSQL).
func testConcurrency(t *testing.T, open OpenFunc) {
	const writers, rounds, n = 4, 5, 300
	// together runs fn once per writer, all at once, and fails on any error.
	together := func(t *testing.T, round int, fn func(writer int, reverse bool) error) {
		t.Helper()
		errs := make([]error, writers)
		ready := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-ready
				errs[w] = fn(w, w%2 == 1)
			})
		}
		close(ready)
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("round %d, writer %d: %v", round, w, err)
			}
		}
	}
	order := func(reverse bool) []int {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		if reverse {
			slices.Reverse(idx)
		}
		return idx
	}
	t.Run("UpsertRecords", func(t *testing.T) {
		s, _ := setup(t, open)
		for round := range rounds {
			together(t, round, func(w int, reverse bool) error {
				var recs []*hypha.Record
				for _, i := range order(reverse) {
					data := map[string]any{"summary": fmt.Sprintf("round %d writer %d", round, w), "content_hash": fmt.Sprint(round, w)}
					recs = append(recs, record(t, "sessions", "g", "m", fmt.Sprintf("s%03d", i), data))
					recs = append(recs, record(t, "spores", "g", "m", fmt.Sprintf("sp%03d", i), data))
				}
				_, err := s.UpsertRecords(t.Context(), recs)
				return err
			})
		}
		if got := countRecords(t, s, "g", ""); got["sessions"] != n || got["spores"] != n {
			t.Fatalf("counts = %v, want %d sessions and spores", got, n)
		}
	})
	t.Run("PutEmbeddings", func(t *testing.T) {
		s, _ := setup(t, open)
		for round := range rounds {
			together(t, round, func(w int, reverse bool) error {
				var embs []*hypha.Embedding
				for _, i := range order(reverse) {
					embs = append(embs, &hypha.Embedding{Key: key(t, "spores", "g", "m", fmt.Sprintf("sp%03d", i)),
						Model: fmt.Sprint(round, w), Vector: vector(8, i)})
				}
				return s.PutEmbeddings(t.Context(), embs)
			})
		}
		mustFindEmbedding(t, s, key(t, "spores", "g", "m", "sp000"))
	})
	t.Run("ClaimProjects", func(t *testing.T) {
		s, _ := setup(t, open)
		for w := range writers {
			mustGrove(t, s, fmt.Sprint("grove_", w))
		}
		for round := range rounds {
			together(t, round, func(w int, reverse bool) error {
				var ids []string
				for _, i := range order(reverse) {
					ids = append(ids, projectID(round*n+i))
				}
				owners, err := s.ClaimProjects(t.Context(), fmt.Sprint("grove_", w), ids)
				if err == nil && len(owners) != n {
					err = fmt.Errorf("%d owners for %d ids", len(owners), n)
				}
				return err
			})
		}
		total := 0
		for w := range writers {
			total += len(projectIDs(t, s, fmt.Sprint("grove_", w)))
		}
		if total != rounds*n {
			t.Fatalf("%d projects registered, want %d, each in exactly one grove", total, rounds*n)
		}
	})
}
