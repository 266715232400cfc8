//go:build !amd64

package search

// dotI8 is the inner product of a float32 query and an 8-bit row.
func dotI8(q []float32, r []int8) float32 { return dotI8Go(q, r) }
