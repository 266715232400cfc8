//go:build amd64 && !purego

package search

import "golang.org/x/sys/cpu"

// useAVX2 selects the vector instructions for the 8-bit scan.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotI8AVX2 is the inner product of n float32 values at q and n int8 values
// at r, n a positive multiple of 32 (quant_amd64.s).
//
//go:noescape
func dotI8AVX2(q *float32, r *int8, n int) float32

// dotI8 is the inner product of a float32 query and an 8-bit row
// (len(r) ≥ len(q)): eight lanes at a time with AVX2 and FMA where the CPU
// has them.
func dotI8(q []float32, r []int8) float32 {
	n := len(q) &^ 31
	if !useAVX2 || n == 0 {
		return dotI8Go(q, r)
	}
	r = r[:len(q)]
	s := dotI8AVX2(&q[0], &r[0], n)
	if n < len(q) {
		s += dotI8Go(q[n:], r[n:])
	}
	return s
}
