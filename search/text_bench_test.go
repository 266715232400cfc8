package search_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/search"
)

// The keyword index benchmarks use texts of 20–200 words drawn from a
// Zipf distribution over a 20,000-word vocabulary whose most frequent
// ranks are stop words, as in real text. HYPHA_BENCH_TEXT_DOCS sets the
// number of documents (default 100,000).
func benchTextDocs() int {
	if n, err := strconv.Atoi(os.Getenv("HYPHA_BENCH_TEXT_DOCS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

type textCorpus struct {
	words []string
	zipf  *rand.Zipf
	r     *rand.Rand
}

func newTextCorpus(seed uint64) *textCorpus {
	r := rand.New(rand.NewPCG(seed, 1))
	words := strings.Fields("the of and to a in is that for it as was with be by on not this are or from at which but have an")
	for len(words) < 20_000 {
		words = append(words, fmt.Sprintf("w%dx%s", len(words), []string{"ing", "ed", "s", "", "ion"}[len(words)%5]))
	}
	return &textCorpus{words: words, zipf: rand.NewZipf(r, 1.07, 2, uint64(len(words)-1)), r: r}
}

func (c *textCorpus) text(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.words[c.zipf.Uint64()])
	}
	return b.String()
}

var (
	benchTextOnce sync.Once
	benchText     *search.TextIndex
	benchTextLoad time.Duration
)

func mustBenchText(b *testing.B) *search.TextIndex {
	benchTextOnce.Do(func() {
		c := newTextCorpus(1)
		idx := search.NewTextIndex()
		start := time.Now()
		for i := range benchTextDocs() {
			d := &hypha.SearchDoc{Key: hypha.RecordKey{Table: hypha.LookupTable("spores"), GroveID: "g", MachineID: "m", ID: strconv.Itoa(i)},
				Status: "active", Text: c.text(20 + c.r.IntN(180))}
			if i%10 == 0 {
				d.Key.GroveID = "other"
			}
			if err := idx.Upsert(d); err != nil {
				b.Fatal(err)
			}
		}
		benchTextLoad = time.Since(start)
		benchText = idx
	})
	return benchText
}

// BenchmarkTextSearch times keyword queries of 1, 3 and 8 words drawn from
// the corpus's distribution, and a pasted query of 32 frequent words (the
// most a query searches), at the default page (k = 40, the over-fetch of
// a 10-result search).
func BenchmarkTextSearch(b *testing.B) {
	idx := mustBenchText(b)
	st := idx.Stats()
	b.Logf("%d documents loaded in %v; %d terms, %d postings, ~%.1f MiB", st.Docs, benchTextLoad.Round(time.Millisecond),
		st.Terms, st.Postings, float64(st.Bytes)/(1<<20))
	c := newTextCorpus(2)
	for _, words := range []int{1, 3, 8, 32} {
		b.Run(fmt.Sprintf("words=%d", words), func(b *testing.B) {
			queries := make([]string, 256)
			for i := range queries {
				if words == 32 {
					// The 32 most frequent content words: the longest lists.
					queries[i] = strings.Join(c.words[25:57], " ")
				} else {
					queries[i] = c.text(words)
				}
			}
			f := hypha.VectorFilter{GroveID: "g", SharedFrom: []string{"other"}}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if _, err := idx.Search(b.Context(), queries[i%len(queries)], 40, f); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			reportLatency(b, lat)
		})
	}
}
