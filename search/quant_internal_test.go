package search

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDotI8MatchesPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 31, 32, 33, 64, 100, 384, 1000, 1536} {
		q := make([]float32, n)
		v := make([]int8, n)
		for i := range q {
			q[i] = float32(r.NormFloat64())
			v[i] = int8(r.IntN(255) - 127)
		}
		got, want := dotI8(q, v), dotI8Go(q, v)
		var ref float64
		for i := range q {
			ref += float64(q[i]) * float64(v[i])
		}
		if math.Abs(float64(got)-ref) > 1e-3*math.Max(1, math.Abs(ref)) || math.Abs(float64(want)-ref) > 1e-3*math.Max(1, math.Abs(ref)) {
			t.Fatalf("n=%d: dotI8 %v, portable %v, float64 %v", n, got, want, ref)
		}
	}
}

// TestQuantizedBound checks the inequality the scan relies on: the exact
// score never exceeds the 8-bit score plus the bound.
func TestQuantizedBound(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const dims = 384
	unit := func() []float32 {
		v := make([]float32, dims)
		var n float64
		for i := range v {
			v[i] = float32(r.NormFloat64())
			n += float64(v[i]) * float64(v[i])
		}
		for i := range v {
			v[i] /= float32(math.Sqrt(n))
		}
		return v
	}
	q8 := make([]int8, dims)
	for range 2000 {
		x, y := unit(), unit()
		if r.IntN(10) == 0 {
			y = x // the query itself: the largest score
		}
		s := quantize(y, q8)
		qv := newQueryVec(x)
		approx := s * dotI8(x, q8)
		exact := dot(x, y)
		if d := float32(math.Abs(float64(exact - approx))); d > s*qv.halfL1+boundMargin {
			t.Fatalf("|exact − approx| = %v exceeds the bound %v", d, s*qv.halfL1+boundMargin)
		}
	}
	if s := quantize(make([]float32, dims), q8); s != 0 {
		t.Fatalf("zero vector: scale %v", s)
	}
}
