// Package search holds what turns text into something searchable and finds
// it again: the built-in lexical embedder, the OpenAI-compatible provider,
// the reference's truncation rule, and the in-process vector index (exact,
// filter-aware search over per-grove partitions).
package search

import (
	"context"
	"math"
	"strings"
	"unicode"

	"github.com/hyphateam/hypha"
)

// DefaultHashDims is the dimension of the built-in embedder's vectors.
const DefaultHashDims = 384

// HashModel names the built-in embedder and the version of its algorithm
// (v2 leaves stop words out); a new version is a new model, answered by a
// reindex. It is lexical: vectors capture
// shared words and spellings, not meaning, so "car" and "automobile" are
// not close. Point Hypha at a real embedding model for semantic search.
const HashModel = "hypha-lexical-hash-v2"

// ProviderHash names the built-in embedder in the embedder setting and
// /health.
const ProviderHash = "hash"

// Feature weights: whole words carry most of the signal, character
// trigrams make inflections and typos ("embedding", "embeddings",
// "embeding") land near each other.
const (
	wordWeight    = 1.0
	trigramWeight = 0.5
)

// HashEmbedder is a deterministic, offline, lexical embedder: feature
// hashing of lower-cased word tokens (English stop words left out, as
// keyword search does) and of their character trigrams into
// a fixed number of dimensions, with a hashed sign so collisions cancel out
// on average instead of piling up, and L2-normalised so the dot product is
// the cosine. The same text gives the same vector on every machine and in
// every version with the same Model().
type HashEmbedder struct {
	dims int
}

var _ hypha.Embedder = (*HashEmbedder)(nil)

// NewHashEmbedder returns a hash embedder of dims dimensions
// (DefaultHashDims if dims <= 0).
func NewHashEmbedder(dims int) *HashEmbedder {
	if dims <= 0 {
		dims = DefaultHashDims
	}
	return &HashEmbedder{dims: dims}
}

// Model names the embedder and its algorithm version.
func (h *HashEmbedder) Model() string { return HashModel }

// Dims is the vector length.
func (h *HashEmbedder) Dims() int { return h.dims }

// Info describes the embedder as lexical: provider "hash".
func (h *HashEmbedder) Info() hypha.EmbedderInfo {
	return hypha.EmbedderInfo{Provider: ProviderHash, Model: HashModel, Dims: h.dims, Lexical: true}
}

// Embed returns the unit vector of text; a text without any letter or
// digit gives the zero vector.
func (h *HashEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	acc := make([]float64, h.dims)
	var starts []int
	words := Tokens(text)
	// Stop words say nothing about a text's subject; they are left out
	// unless the text has nothing else.
	content := words[:0:0]
	for _, w := range words {
		if !hypha.IsStopWord(w) {
			content = append(content, w)
		}
	}
	if len(content) > 0 {
		words = content
	}
	for _, w := range words {
		h.add(acc, fnv64(fnv64(fnvOffset, "w\x00"), w), wordWeight)
		// Word boundaries mark prefixes and suffixes among the trigrams.
		b := "\x02" + w + "\x03"
		starts = starts[:0]
		for i := range b {
			starts = append(starts, i)
		}
		starts = append(starts, len(b))
		seed := fnv64(fnvOffset, "c\x00")
		for i := 0; i+3 < len(starts); i++ {
			h.add(acc, fnv64(seed, b[starts[i]:starts[i+3]]), trigramWeight)
		}
	}
	var norm float64
	for _, x := range acc {
		norm += float64(x * x) // the conversion forbids a fused multiply-add: same bits on every CPU
	}
	out := make([]float32, h.dims)
	if norm == 0 {
		return out, nil
	}
	norm = math.Sqrt(norm)
	for i, x := range acc {
		out[i] = float32(x / norm)
	}
	return out, nil
}

// FNV-1a, 64 bits: fixed by its specification, so vectors never depend
// on the Go version or the machine.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv64(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// add adds a feature of hash sum to acc: the low bits choose the
// dimension, the top bit the sign.
func (h *HashEmbedder) add(acc []float64, sum uint64, weight float64) {
	i := int(sum % uint64(len(acc)))
	if sum>>63 == 1 {
		weight = -weight
	}
	acc[i] += weight
}

// Tokens splits text into lower-cased runs of letters and digits.
func Tokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
