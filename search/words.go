package search

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
	"github.com/kljensen/snowball/english"
)

// The keyword index's words are those of hypha.KeywordTerms: runs of
// letters, digits and combining marks holding a letter or digit,
// lower-cased, without English stop words and without words longer than
// hypha.MaxKeywordTermRunes. Words of ASCII letters are then reduced to
// their stem by the Snowball English (Porter2) stemmer, the one
// PostgreSQL's 'english' configuration uses, so "indexing", "indexed" and
// "indexes" are one term; other words (numbers, identifiers with digits,
// other scripts) are kept as they are.

// stemCacheMax bounds the stem cache: past it, new words are stemmed
// every time instead of being remembered, so text full of unique tokens
// (hashes, ids) cannot grow it without end. Only the words of documents
// (synced by members) are remembered, never those of queries (which
// anyone allowed to search, the anonymous tier included, chooses), and
// only words of at most stemCacheWordMax bytes.
const (
	stemCacheMax     = 1 << 18
	stemCacheWordMax = 32
)

// stemmer stems words, remembering the stems of document words it saw.
type stemmer struct {
	mu    sync.RWMutex
	cache map[string]string
}

func newStemmer() *stemmer { return &stemmer{cache: map[string]string{}} }

// stem returns the term of lower-cased word w; remember adds it to the
// cache.
func (s *stemmer) stem(w string, remember bool) string {
	if !stemmable(w) {
		return w
	}
	s.mu.RLock()
	t, ok := s.cache[w]
	s.mu.RUnlock()
	if ok {
		return t
	}
	t = english.Stem(w, true)
	if t == "" {
		t = w
	}
	if !remember || len(w) > stemCacheWordMax {
		return t
	}
	s.mu.Lock()
	if len(s.cache) < stemCacheMax {
		w = strings.Clone(w) // w may point into a large text
		if t == w {
			t = w
		} else {
			t = strings.Clone(t)
		}
		s.cache[w] = t
	}
	s.mu.Unlock()
	return t
}

// stemBytes is stem for a document word in a scratch buffer: a word seen
// before costs no allocation.
func (s *stemmer) stemBytes(w []byte) string {
	if stemmable(w) {
		s.mu.RLock()
		t, ok := s.cache[string(w)]
		s.mu.RUnlock()
		if ok {
			return t
		}
	}
	return s.stem(string(w), true)
}

// stemmable reports whether w is made of ASCII letters only, at least
// three (the stemmer leaves shorter words alone).
func stemmable[S string | []byte](w S) bool {
	if len(w) < 3 {
		return false
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// docTerms counts the terms of a document's text: the term frequencies
// and the number of terms indexed (the document's length for BM25).
func (s *stemmer) docTerms(text string) (tf map[string]uint32, length uint32) {
	tf = map[string]uint32{}
	s.eachTerm(text, false, func(t string) {
		tf[t]++
		length++
	})
	return tf, length
}

// queryTerms returns the distinct terms of a keyword query, in the order
// of its words, at most hypha.MaxKeywordTerms.
func (s *stemmer) queryTerms(query string) []string {
	var out []string
	s.eachTerm(query, true, func(t string) {
		if len(out) < hypha.MaxKeywordTerms && !slices.Contains(out, t) {
			out = append(out, t)
		}
	})
	return out
}

// eachTerm calls fn for each term of text, a document's (query false) or a
// query's. A word is lower-cased; a stop word or a word over
// hypha.MaxKeywordTermRunes is left out; the rest is stemmed. Chinese and
// Japanese write no spaces between words, so a run of their characters
// inside a word is indexed as its characters and each pair of neighbours,
// and searched as its pairs (a lone character as itself): a query of two
// or more characters finds the texts holding them side by side. Plain
// words are lower-cased into a scratch buffer, so a document word seen
// before costs no allocation.
func (s *stemmer) eachTerm(text string, query bool, fn func(term string)) {
	var buf []byte
	plain := func(w string) {
		buf = appendLower(buf[:0], w)
		if stopWordBytes(buf) || utf8.RuneCount(buf) > hypha.MaxKeywordTermRunes {
			return
		}
		if query {
			fn(s.stem(string(buf), false))
		} else {
			fn(s.stemBytes(buf))
		}
	}
	eachWord(text, func(w string) {
		if !hasCJK(w) {
			plain(w)
			return
		}
		// Runs of CJK characters and of the rest, in turn.
		segStart, segCJK := 0, false
		flush := func(end int) {
			seg := w[segStart:end]
			switch {
			case seg == "":
			case segCJK:
				cjkGrams(seg, query, fn)
			case strings.ContainsFunc(seg, func(r rune) bool { return unicode.In(r, unicode.L, unicode.N) }):
				plain(seg)
			}
		}
		for i, r := range w {
			if c := isCJK(r); c != segCJK {
				flush(i)
				segStart, segCJK = i, c
			}
		}
		flush(len(w))
	})
}

// hasCJK reports whether w holds a Chinese or Japanese character.
func hasCJK(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			return strings.ContainsFunc(w[i:], isCJK)
		}
	}
	return false
}

// isCJK reports whether r is a Han, Hiragana or Katakana character, or
// the Katakana prolonged sound mark.
func isCJK(r rune) bool {
	return r >= 0x2E80 && (unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) || r == 0x30FC)
}

// cjkGrams calls fn with the terms of a run of CJK characters: a lone
// character itself; else each pair of neighbours, and in a document each
// character as well.
func cjkGrams(run string, query bool, fn func(string)) {
	rs := []rune(run)
	if len(rs) == 1 {
		fn(run)
		return
	}
	if !query {
		for _, r := range rs {
			fn(string(r))
		}
	}
	for i := 0; i+1 < len(rs); i++ {
		fn(string(rs[i : i+2]))
	}
}

// eachWord calls fn for each word of text as hypha.KeywordTerms splits
// a query: maximal runs of letters, digits and marks that hold at least
// one letter or digit.
func eachWord(text string, fn func(w string)) {
	start, hasAlnum := -1, false
	for i, r := range text {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'):
			if start < 0 {
				start = i
			}
			hasAlnum = true
		case r >= utf8.RuneSelf && unicode.In(r, unicode.L, unicode.N, unicode.M):
			if start < 0 {
				start = i
			}
			hasAlnum = hasAlnum || !unicode.Is(unicode.M, r)
		default:
			if start >= 0 && hasAlnum {
				fn(text[start:i])
			}
			start, hasAlnum = -1, false
		}
	}
	if start >= 0 && hasAlnum {
		fn(text[start:])
	}
}

// appendLower appends w lower-cased as strings.ToLower would.
func appendLower(buf []byte, w string) []byte {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= utf8.RuneSelf {
			return append(buf, strings.ToLower(w)...)
		}
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

func stopWordBytes(b []byte) bool { return len(b) <= 10 && hypha.IsStopWord(string(b)) }
