package storetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/hyphateam/hypha"
)

// vector returns a dims-long vector that differs with seed and includes
// values that only survive a bit-exact round trip.
func vector(dims, seed int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(math.Sin(float64(seed*dims+i))) / 3
	}
	special := []float32{0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		float32(math.Inf(1)), float32(math.NaN()), 1.0 / 3}
	for i, f := range special {
		if i < dims {
			v[(seed+i*7)%dims] = f
		}
	}
	return v
}

func mustPutEmbeddings(t testing.TB, s hypha.Queries, embs ...*hypha.Embedding) {
	t.Helper()
	if err := s.PutEmbeddings(t.Context(), embs); err != nil {
		t.Fatalf("PutEmbeddings(%d): %v", len(embs), err)
	}
}

// sameEmbedding fails the test unless got equals want, vectors bit for bit.
func sameEmbedding(t testing.TB, got, want *hypha.Embedding) {
	t.Helper()
	if got.Key.GroveID != want.Key.GroveID || got.Key.MachineID != want.Key.MachineID || got.Key.ID != want.Key.ID || got.Key.Table != want.Key.Table {
		t.Fatalf("key = %+v, want %+v", got.Key, want.Key)
	}
	if got.Model != want.Model || got.ContentHash != want.ContentHash || got.UpdatedAt != want.UpdatedAt {
		t.Fatalf("embedding = {Model:%q ContentHash:%q UpdatedAt:%d}, want {Model:%q ContentHash:%q UpdatedAt:%d}",
			got.Model, got.ContentHash, got.UpdatedAt, want.Model, want.ContentHash, want.UpdatedAt)
	}
	if len(got.Vector) != len(want.Vector) {
		t.Fatalf("vector has %d dimensions, want %d", len(got.Vector), len(want.Vector))
	}
	for i := range want.Vector {
		if math.Float32bits(got.Vector[i]) != math.Float32bits(want.Vector[i]) {
			t.Fatalf("vector[%d] = %v (%#x), want %v (%#x)", i, got.Vector[i], math.Float32bits(got.Vector[i]),
				want.Vector[i], math.Float32bits(want.Vector[i]))
		}
	}
}

func mustFindEmbedding(t testing.TB, s hypha.Queries, k hypha.RecordKey) *hypha.Embedding {
	t.Helper()
	e, err := s.FindEmbedding(t.Context(), k)
	if err != nil {
		t.Fatalf("FindEmbedding(%s %s/%s/%s): %v", k.Table.Name, k.GroveID, k.MachineID, k.ID, err)
	}
	return e
}

func wantNoEmbedding(t testing.TB, s hypha.Queries, k hypha.RecordKey) {
	t.Helper()
	e, err := s.FindEmbedding(t.Context(), k)
	if hypha.ErrorCode(err) != hypha.ENotFound {
		t.Fatalf("FindEmbedding(%s %s/%s/%s) = %+v, %v; want not_found", k.Table.Name, k.GroveID, k.MachineID, k.ID, e, err)
	}
}

func testEmbeddings(t *testing.T, open OpenFunc) {
	t.Run("RoundTripBitForBit", func(t *testing.T) {
		s, _ := setup(t, open)
		want := &hypha.Embedding{Key: key(t, "spores", "g", "m", "sp1"), Model: "local/bge-small-en-v1.5", Vector: vector(384, 1),
			ContentHash: "sha256:abc", UpdatedAt: 1_650_000_000}
		mustPutEmbeddings(t, s, want)
		sameEmbedding(t, mustFindEmbedding(t, s, want.Key), want)
	})
	t.Run("UpdatedAtDefaultsToClock", func(t *testing.T) {
		s, c := setup(t, open)
		e := &hypha.Embedding{Key: key(t, "plans", "g", "m", "p1"), Model: "m", Vector: vector(4, 2)}
		mustPutEmbeddings(t, s, e)
		want := *e
		want.UpdatedAt = c.Unix()
		sameEmbedding(t, mustFindEmbedding(t, s, e.Key), &want)
	})
	t.Run("Overwrite", func(t *testing.T) {
		s, _ := setup(t, open)
		k := key(t, "sessions", "g", "m", "s1")
		mustPutEmbeddings(t, s, &hypha.Embedding{Key: k, Model: "old", Vector: vector(384, 1), ContentHash: "h1", UpdatedAt: 1})
		want := &hypha.Embedding{Key: k, Model: "new", Vector: vector(768, 2), UpdatedAt: 2}
		mustPutEmbeddings(t, s, want)
		sameEmbedding(t, mustFindEmbedding(t, s, k), want)
	})
	t.Run("SameKeyTwiceLaterWins", func(t *testing.T) {
		s, _ := setup(t, open)
		k := key(t, "sessions", "g", "m", "s1")
		early := &hypha.Embedding{Key: k, Model: "early", Vector: vector(8, 1), UpdatedAt: 1}
		late := &hypha.Embedding{Key: k, Model: "late", Vector: vector(8, 2), UpdatedAt: 2}
		mustPutEmbeddings(t, s, early, late)
		sameEmbedding(t, mustFindEmbedding(t, s, k), late)
	})
	t.Run("Delete", func(t *testing.T) {
		s, _ := setup(t, open)
		keep := &hypha.Embedding{Key: key(t, "spores", "g", "m", "keep"), Model: "m", Vector: vector(16, 1), UpdatedAt: 1}
		drop := &hypha.Embedding{Key: key(t, "spores", "g", "m", "drop"), Model: "m", Vector: vector(16, 2), UpdatedAt: 1}
		mustPutEmbeddings(t, s, keep, drop)
		if err := s.DeleteEmbeddings(t.Context(), []hypha.RecordKey{drop.Key, key(t, "spores", "g", "m", "never-stored")}); err != nil {
			t.Fatalf("DeleteEmbeddings: %v", err)
		}
		wantNoEmbedding(t, s, drop.Key)
		sameEmbedding(t, mustFindEmbedding(t, s, keep.Key), keep)
	})
	t.Run("KeyIsolation", func(t *testing.T) {
		// Grove, table and machine are all part of the key: vectors that
		// differ only in one of them are separate rows.
		s, _ := setup(t, open)
		embs := []*hypha.Embedding{
			{Key: key(t, "spores", "grove_a", "m", "x"), Model: "a", Vector: vector(32, 1), UpdatedAt: 1},
			{Key: key(t, "spores", "grove_b", "m", "x"), Model: "b", Vector: vector(32, 2), UpdatedAt: 1},
			{Key: key(t, "plans", "grove_a", "m", "x"), Model: "plans", Vector: vector(32, 3), UpdatedAt: 1},
			{Key: key(t, "spores", "grove_a", "m2", "x"), Model: "m2", Vector: vector(32, 4), UpdatedAt: 1},
		}
		mustPutEmbeddings(t, s, embs...)
		for _, e := range embs {
			sameEmbedding(t, mustFindEmbedding(t, s, e.Key), e)
		}
		wantNoEmbedding(t, s, key(t, "spores", "grove_c", "m", "x"))
		if err := s.DeleteEmbeddings(t.Context(), []hypha.RecordKey{embs[0].Key}); err != nil {
			t.Fatalf("DeleteEmbeddings: %v", err)
		}
		wantNoEmbedding(t, s, embs[0].Key)
		for _, e := range embs[1:] {
			sameEmbedding(t, mustFindEmbedding(t, s, e.Key), e)
		}
	})
	t.Run("LargerThanOneStatement", func(t *testing.T) {
		s, _ := setup(t, open)
		embs := make([]*hypha.Embedding, 2000)
		for i := range embs {
			embs[i] = &hypha.Embedding{Key: key(t, "spores", "g", "m", fmt.Sprintf("sp%04d", i)), Model: "m", Vector: vector(8, i), UpdatedAt: int64(i + 1)}
		}
		mustPutEmbeddings(t, s, embs...)
		for _, i := range []int{0, 887, 888, 889, 1776, 1999} {
			sameEmbedding(t, mustFindEmbedding(t, s, embs[i].Key), embs[i])
		}
	})
	t.Run("EmptyVector", func(t *testing.T) {
		s, _ := setup(t, open)
		e := &hypha.Embedding{Key: key(t, "spores", "g", "m", "empty"), Model: "m", Vector: []float32{}, UpdatedAt: 1}
		mustPutEmbeddings(t, s, e)
		sameEmbedding(t, mustFindEmbedding(t, s, e.Key), e)
	})
}
