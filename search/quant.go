package search

import "math"

// The index keeps, beside each float32 vector, an 8-bit copy: the vector
// divided by its own scale (its largest absolute value / 127) and rounded.
// A scan scores rows on the 8-bit copy first — a quarter of the memory
// traffic, which is what bounds a scan of a large grove — and computes the
// exact float32 score only for rows that might enter the top k. The check
// is exact, not a heuristic: with query x and row y ≈ s·q,
//
//	|x·y − s·(x·q)| = |Σ xᵢ(yᵢ − s·qᵢ)| ≤ (s/2)·Σ|xᵢ|
//
// because rounding moves each component by at most half a step s. A row
// whose 8-bit score plus that bound (plus a margin for float32 rounding)
// is below the k-th best exact score so far cannot be in the top k, so the
// results and their scores are those of an exact search.

// quantize writes the 8-bit copy of v into q and returns its scale.
func quantize(v []float32, q []int8) float32 {
	var m float32
	for _, x := range v {
		m = max(m, float32(math.Abs(float64(x))))
	}
	if m == 0 {
		clear(q)
		return 0
	}
	s := m / 127
	for i, x := range v {
		q[i] = int8(max(-127, min(127, math.Round(float64(x/s)))))
	}
	return s
}

// boundMargin absorbs float32 rounding in the two scores the bound
// compares (each a sum of a few hundred products of values ≤ 1).
const boundMargin = 1e-4

// queryVec is a normalised query with what the bound needs.
type queryVec struct {
	v      []float32
	halfL1 float32 // Σ|xᵢ| / 2
}

func newQueryVec(v []float32) *queryVec {
	var l1 float32
	for _, x := range v {
		l1 += float32(math.Abs(float64(x)))
	}
	return &queryVec{v: v, halfL1: l1 / 2}
}

// dotI8Go is the portable inner product of a float32 query and an 8-bit
// row (len(r) ≥ len(q)).
func dotI8Go(q []float32, r []int8) float32 {
	r = r[:len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(q); i += 4 {
		x := q[i : i+4 : i+4]
		y := r[i : i+4 : i+4]
		s0 += x[0] * float32(y[0])
		s1 += x[1] * float32(y[1])
		s2 += x[2] * float32(y[2])
		s3 += x[3] * float32(y[3])
	}
	for ; i < len(q); i++ {
		s0 += q[i] * float32(r[i])
	}
	return (s0 + s1) + (s2 + s3)
}
