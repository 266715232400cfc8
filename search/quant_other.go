//go:build !amd64 || purego

package search

// dotI8 is the inner product of a float32 query and an 8-bit row: the
// portable loop, used off amd64 and on amd64 with -tags purego (the
// golang.org/x/crypto convention), so the Go path is testable everywhere.
func dotI8(q []float32, r []int8) float32 { return dotI8Go(q, r) }
