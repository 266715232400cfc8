package search

// MaxEmbeddingUnits is the Myco worker's MAX_EMBEDDING_TEXT_CHARS: the
// longest text embedded as it is, in UTF-16 code units (JavaScript string
// length), so a text is cut at the same place as on the worker.
const MaxEmbeddingUnits = 8000

// TruncationSuffix follows a text that was cut.
const TruncationSuffix = "\n\n[truncated for embedding]"

// TruncateForEmbedding applies the reference's rule to stored texts and to
// queries alike: a text longer than MaxEmbeddingUnits UTF-16 code units is
// cut to its first MaxEmbeddingUnits units and followed by
// TruncationSuffix; a shorter one is returned unchanged. A character outside
// the Basic Multilingual Plane counts two units. Where JavaScript's slice
// would split such a character and keep half a surrogate pair, the whole
// character is dropped, so the result stays valid UTF-8 and is one unit
// shorter than the worker's.
func TruncateForEmbedding(text string) string {
	units := 0
	for i, r := range text {
		n := 1
		if r >= 0x10000 {
			n = 2
		}
		if units+n > MaxEmbeddingUnits {
			return text[:i] + TruncationSuffix
		}
		units += n
	}
	return text
}

// UTF16Len returns the length of text in UTF-16 code units.
func UTF16Len(text string) int {
	n := 0
	for _, r := range text {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}
