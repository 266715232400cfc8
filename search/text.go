package search

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hyphateam/hypha"
)

// BM25 parameters, the usual ones (and SQLite FTS5's defaults).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// TextIndex is Hypha's in-process keyword index: an inverted index of the
// search documents' words, ranked by BM25, with the metadata filters of
// Index applied inside the search.
//
// Like Index it is partitioned by grove, and a query reads only the
// partitions it may see: the caller's grove, and the groves in SharedFrom
// restricted to their rows marked Shared. The statistics BM25 weighs
// words by (how many documents hold a word, the average length) are those
// of the rows the caller may see (a granting grove's shared rows, only
// public rows on the anonymous tier), so a document the caller may not
// read never changes a score either.
//
// A query is scored term at a time into an accumulator per partition,
// then the k best documents that pass the filter are kept: the work is the
// length of the query words' posting lists, with no database round trip,
// which is what makes keyword and hybrid search fast at 100,000 records
// (docs/BENCHMARKS.md). The store's own full-text index (FTS5 or tsvector)
// is the durable copy and answers while this one is being built.
//
// TextIndex is safe for concurrent use. A search read-locks the
// partitions it reads for its duration; a write locks one partition.
type TextIndex struct {
	groves groves[textPartition]
	n      atomic.Int64
	stems  *stemmer
}

// posting is one document holding a term, and how often it does.
type posting struct {
	doc uint32 // the document's row in its partition
	tf  uint32
}

// textPartition holds the keyword index of one grove. Rows are appended
// and never move until a compaction: an update tombstones the old row and
// appends the new one, so every posting list stays sorted by row.
type textPartition struct {
	mu      sync.RWMutex
	groveID string
	rows    []row              // filter metadata, live flag
	metas   []hypha.VectorMeta // keys and metadata; zero for tombstones
	lens    []uint32           // words per row (BM25's document length)
	slots   map[rowKey]uint32  // live key → row
	terms   map[string]uint32  // term → id
	post    [][]posting        // id → posting list (tombstones' postings too, until compaction)
	termsOf [][]uint32         // row → ids of its terms; nil for tombstones
	dead    int                // tombstones in rows
	// stats are BM25's collection statistics of the live rows a caller may
	// see: all of them (the grove's own caller), those shared across
	// groves (a granted grove) and those public (the anonymous tier), so
	// no score depends on a document its caller may not read.
	stats [numScopes]textStats
	dict  dictionary
}

// The sets of rows a caller may see in a partition.
const (
	scopeAll = iota
	scopeShared
	scopePublic
	numScopes
)

// textStats are the collection statistics of one set of rows.
type textStats struct {
	docs  int
	words int64
	df    []uint32 // term id → rows of the set holding the term
}

// scopesOf returns the sets a row with these flags belongs to.
func scopesOf(shared, public bool) []int {
	switch {
	case shared:
		return []int{scopeAll, scopeShared}
	case public:
		return []int{scopeAll, scopePublic}
	}
	return []int{scopeAll}
}

// scopeOf returns the set of p's rows the caller of f sees, or -1 for none.
func scopeOf(f *hypha.VectorFilter, own bool) int {
	switch {
	case own && f.PublicOnly:
		return scopePublic
	case own:
		return scopeAll
	case f.PublicOnly: // another grove's rows are shared or public, never both
		return -1
	}
	return scopeShared
}

// NewTextIndex returns an empty keyword index.
func NewTextIndex() *TextIndex {
	return &TextIndex{stems: newStemmer()}
}

// Len is the number of documents held.
func (t *TextIndex) Len() int { return int(t.n.Load()) }

// GroveLen is the number of documents of one grove.
func (t *TextIndex) GroveLen(groveID string) int {
	p := t.partition(groveID, false)
	if p == nil {
		return 0
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.live()
}

// Upsert adds or replaces the document of d's record: its metadata and the
// words of its text. A document without words is removed instead: it can
// match no query. It fails with EInvalid on a missing key field.
func (t *TextIndex) Upsert(d *hypha.SearchDoc) error {
	if d.Key.GroveID == "" || d.Key.Table == nil || d.Key.ID == "" {
		return hypha.Errorf(hypha.EInvalid, "search document needs grove_id, table and id")
	}
	tf, length := t.stems.docTerms(d.Text)
	if length == 0 {
		t.Delete(d.Key.GroveID, d.Key.Table.Name, d.Key.MachineID, d.Key.ID)
		return nil
	}
	p := t.partition(d.Key.GroveID, true)
	p.mu.Lock()
	added := p.upsert(d.Meta(), tf, length)
	p.mu.Unlock()
	if added {
		t.n.Add(1)
	}
	return nil
}

// Delete removes a record's document; a missing one is not an error.
func (t *TextIndex) Delete(groveID, table, machineID, id string) {
	p := t.partition(groveID, false)
	if p == nil {
		return
	}
	p.mu.Lock()
	deleted := p.delete(rowKey{table, machineID, id})
	p.mu.Unlock()
	if deleted {
		t.n.Add(-1)
	}
}

// Search returns at most k documents holding words of query, best first by
// BM25 (ties by record key), among those f selects. A document matches
// when it holds any of the query's terms (hypha.KeywordTerms, stemmed);
// one holding more of them, more often, and rarer ones, ranks higher. A
// query without terms has no hits. f.GroveID is required and 1 ≤ k ≤
// hypha.MaxVectorTopK, else EInvalid.
func (t *TextIndex) Search(ctx context.Context, query string, k int, f hypha.VectorFilter) ([]hypha.KeywordHit, error) {
	if f.GroveID == "" {
		return nil, hypha.Errorf(hypha.EInvalid, "keyword search needs a grove")
	}
	if k < 1 || k > hypha.MaxVectorTopK {
		return nil, hypha.Errorf(hypha.EInvalid, "limit %d is outside 1..%d", k, hypha.MaxVectorTopK)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	terms := t.stems.queryTerms(query)
	if len(terms) == 0 {
		return []hypha.KeywordHit{}, nil
	}
	var parts []*textPartition
	for _, g := range visibleGroves(&f) {
		if p := t.partition(g, false); p != nil {
			parts = append(parts, p)
		}
	}
	// Read-locked in grove order, so two searches never each hold a lock
	// the other waits for behind a writer.
	slices.SortFunc(parts, func(a, b *textPartition) int { return strings.Compare(a.groveID, b.groveID) })
	for _, p := range parts {
		p.mu.RLock()
		defer p.mu.RUnlock()
	}

	// Collection statistics over the rows the caller may see.
	var docs, words int64
	df := make([]int64, len(terms))
	lists := make([][][]posting, len(parts)) // partition → term → postings
	for i, p := range parts {
		sc := scopeOf(&f, p.groveID == f.GroveID)
		if sc < 0 {
			continue
		}
		st := &p.stats[sc]
		docs += int64(st.docs)
		words += st.words
		lists[i] = make([][]posting, len(terms))
		for j, term := range terms {
			if id, ok := p.terms[term]; ok {
				lists[i][j] = p.post[id]
				df[j] += int64(st.df[id])
			}
		}
	}
	if docs == 0 {
		return []hypha.KeywordHit{}, nil
	}
	avgdl := float64(words) / float64(docs)
	idf := make([]float64, len(terms))
	for j := range terms {
		n := float64(df[j])
		idf[j] = math.Log(1 + (float64(docs)-n+0.5)/(n+0.5))
	}

	h := newTopK(k)
	for i, p := range parts {
		pl := compileFilter(&f, &p.dict, p.live(), p.groveID == f.GroveID)
		if pl.none || lists[i] == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.score(lists[i], idf, avgdl, &pl, h)
	}
	hits := h.sorted()
	out := make([]hypha.KeywordHit, 0, len(hits))
	for _, hit := range hits {
		table := hypha.LookupTable(hit.Meta.Table)
		if table == nil {
			continue
		}
		out = append(out, hypha.KeywordHit{Key: hypha.RecordKey{Table: table, GroveID: hit.Meta.GroveID,
			MachineID: hit.Meta.MachineID, ID: hit.Meta.ID}, Score: float64(hit.Score)})
	}
	return out, nil
}

// scratch is a search's reusable memory: the score accumulator (zeroed
// between uses) and the rows a sparse search touched.
type scratch struct {
	acc     []float32
	touched []uint32
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// score adds the BM25 score of every row on lists (one posting list per
// query term, nil where the partition lacks the term) into an accumulator,
// then offers the rows that pass pl to h. When the lists are short against
// the partition (rare words), only the rows they touched are visited and
// cleared, so a search costs its postings, not the partition's size. The
// caller holds p.mu for reading.
func (p *textPartition) score(lists [][]posting, idf []float64, avgdl float64, pl *filterPlan, h *topK) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if cap(sc.acc) < len(p.rows) {
		sc.acc = make([]float32, len(p.rows))
	}
	acc := sc.acc[:len(p.rows)]
	postings := 0
	for _, list := range lists {
		postings += len(list)
	}
	sparse := postings < len(acc)/8
	// BM25: idf · tf·(k1+1) / (tf + k1·(1−b+b·len/avgdl)).
	c1, c2 := float32(bm25K1*(1-bm25B)), float32(bm25K1*bm25B/avgdl)
	lens, rows := p.lens, p.rows
	if sparse {
		// Every term adds a positive amount: a row is new while its
		// score is 0.
		touched := sc.touched[:0]
		for j, list := range lists {
			w := float32(idf[j] * (bm25K1 + 1))
			for _, ps := range list {
				if acc[ps.doc] == 0 {
					touched = append(touched, ps.doc)
				}
				tf := float32(ps.tf)
				acc[ps.doc] += w * tf / (tf + c1 + c2*float32(lens[ps.doc]))
			}
		}
		for _, i := range touched {
			if s := acc[i]; rows[i].live && !(h.full() && s < h.floor()) && (pl.all || pl.match(&rows[i])) {
				h.offer(s, &p.metas[i])
			}
			acc[i] = 0
		}
		sc.touched = touched
		return
	}
	for j, list := range lists {
		w := float32(idf[j] * (bm25K1 + 1))
		for _, ps := range list {
			tf := float32(ps.tf)
			acc[ps.doc] += w * tf / (tf + c1 + c2*float32(lens[ps.doc]))
		}
	}
	for i, s := range acc {
		if s == 0 || !rows[i].live || h.full() && s < h.floor() || !pl.all && !pl.match(&rows[i]) {
			continue
		}
		h.offer(s, &p.metas[i])
	}
	clear(acc)
}

// live is the number of documents; the caller holds mu.
func (p *textPartition) live() int { return len(p.rows) - p.dead }

// upsert stores a document's terms under meta's key, tombstoning the
// record's previous row. It reports whether the record is new. The caller
// holds mu for writing.
func (p *textPartition) upsert(meta hypha.VectorMeta, tf map[string]uint32, length uint32) bool {
	k := rowKey{meta.Table, meta.MachineID, meta.ID}
	r, m := p.dict.internRow(meta) // before the release: an unchanged value keeps its code
	_, existed := p.slots[k]
	if existed {
		p.tombstone(k)
	}
	i := uint32(len(p.rows))
	r.live = true
	p.rows = append(p.rows, r)
	p.metas = append(p.metas, m)
	p.lens = append(p.lens, length)
	p.slots[rowKey{m.Table, m.MachineID, m.ID}] = i
	scopes := scopesOf(r.shared, r.public)
	ids := make([]uint32, 0, len(tf))
	for term, n := range tf {
		id, ok := p.terms[term]
		if !ok {
			id = uint32(len(p.post))
			p.terms[term] = id
			p.post = append(p.post, nil)
			for sc := range p.stats {
				p.stats[sc].df = append(p.stats[sc].df, 0)
			}
		}
		p.post[id] = append(p.post[id], posting{doc: i, tf: n})
		ids = append(ids, id)
	}
	for _, sc := range scopes {
		st := &p.stats[sc]
		st.docs++
		st.words += int64(length)
		for _, id := range ids {
			st.df[id]++
		}
	}
	p.termsOf = append(p.termsOf, ids)
	p.maybeCompact()
	return !existed
}

// delete tombstones the record's row and reports whether it was there.
// The caller holds mu for writing.
func (p *textPartition) delete(k rowKey) bool {
	if !p.tombstone(k) {
		return false
	}
	p.maybeCompact()
	return true
}

func (p *textPartition) tombstone(k rowKey) bool {
	i, ok := p.slots[k]
	if !ok {
		return false
	}
	delete(p.slots, k)
	for _, sc := range scopesOf(p.rows[i].shared, p.rows[i].public) {
		st := &p.stats[sc]
		st.docs--
		st.words -= int64(p.lens[i])
		for _, id := range p.termsOf[i] {
			st.df[id]--
		}
	}
	p.dict.releaseRow(&p.rows[i])
	p.rows[i] = row{}
	p.metas[i] = hypha.VectorMeta{}
	p.termsOf[i] = nil
	p.dead++
	return true
}

// maybeCompact compacts once a quarter of the rows (and at least a block)
// are tombstones, or once most dictionary codes are unused, as Index's
// partitions do.
func (p *textPartition) maybeCompact() {
	if (p.dead >= blockRows && 4*p.dead >= len(p.rows)) || p.dict.wasted() {
		p.compact()
	}
}

// compact drops the tombstones: live rows are renumbered in order (so the
// posting lists stay sorted), every posting list is filtered and
// renumbered, lists left empty and their terms go. It costs one pass over
// every posting, paid for by the quarter of the rows deleted since the
// last one. The caller holds mu for writing.
func (p *textPartition) compact() {
	renum := make([]uint32, len(p.rows))
	w := 0
	for i := range p.rows {
		if !p.rows[i].live {
			renum[i] = math.MaxUint32
			continue
		}
		renum[i] = uint32(w)
		p.rows[w], p.metas[w], p.lens[w], p.termsOf[w] = p.rows[i], p.metas[i], p.lens[i], p.termsOf[i]
		w++
	}
	clear(p.metas[w:])
	clear(p.termsOf[w:])
	p.rows, p.metas, p.lens, p.termsOf = p.rows[:w], p.metas[:w], p.lens[:w], p.termsOf[:w]
	if w < cap(p.rows)/4 { // give back most of the memory after a mass delete
		p.rows, p.metas, p.lens, p.termsOf = slices.Clone(p.rows), slices.Clone(p.metas), slices.Clone(p.lens), slices.Clone(p.termsOf)
	}
	for k, i := range p.slots {
		p.slots[k] = renum[i]
	}
	terms := make(map[string]uint32, len(p.terms))
	post := make([][]posting, 0, len(p.post))
	var dfs [numScopes][]uint32
	for sc := range dfs {
		dfs[sc] = make([]uint32, 0, len(p.post))
	}
	newID := make([]uint32, len(p.post))
	for term, id := range p.terms {
		list := p.post[id][:0]
		for _, ps := range p.post[id] {
			if n := renum[ps.doc]; n != math.MaxUint32 {
				list = append(list, posting{doc: n, tf: ps.tf})
			}
		}
		if len(list) == 0 {
			continue
		}
		if len(list) < cap(list)/4 {
			list = slices.Clone(list)
		}
		newID[id] = uint32(len(post))
		terms[term] = uint32(len(post))
		post = append(post, list)
		for sc := range dfs {
			dfs[sc] = append(dfs[sc], p.stats[sc].df[id])
		}
	}
	p.terms, p.post = terms, post
	for sc := range dfs {
		p.stats[sc].df = dfs[sc]
	}
	for _, ids := range p.termsOf {
		for j, id := range ids {
			ids[j] = newID[id]
		}
	}
	if p.dict.wasted() {
		p.dict = reintern(p.rows, p.metas)
	}
	p.dead = 0
}

// TextStats describes a keyword index's contents and its memory.
type TextStats struct {
	Docs     int
	Groves   int
	Terms    int   // distinct terms, summed over the groves
	Postings int64 // (term, document) pairs, tombstones' included
	Bytes    int64 // estimated heap: postings, terms, rows, metadata, keys
}

// Stats returns the index's current figures.
func (t *TextIndex) Stats() TextStats {
	var s TextStats
	for _, p := range t.groves.all() {
		p.mu.RLock()
		if n := p.live(); n > 0 {
			s.Groves++
			s.Docs += n
		}
		s.Terms += len(p.terms)
		const slotSize, termSize = 64, 48 // a map entry with its key's header and overhead
		b := int64(cap(p.rows))*int64(unsafe.Sizeof(row{})) + int64(cap(p.metas))*int64(unsafe.Sizeof(hypha.VectorMeta{}))
		b += int64(cap(p.lens))*4 + int64(len(p.slots))*slotSize + int64(cap(p.post))*24
		for sc := range p.stats {
			b += int64(cap(p.stats[sc].df)) * 4
		}
		b += int64(cap(p.termsOf)) * 24
		for _, ids := range p.termsOf {
			b += int64(cap(ids)) * 4
		}
		for term, id := range p.terms {
			b += termSize + int64(len(term)) + int64(cap(p.post[id]))*int64(unsafe.Sizeof(posting{}))
			s.Postings += int64(len(p.post[id]))
		}
		for i := range p.metas {
			b += int64(len(p.metas[i].ID))
		}
		s.Bytes += b + p.dict.bytes()
		p.mu.RUnlock()
	}
	return s
}

// partition returns grove g's partition, creating it if create is set.
func (t *TextIndex) partition(g string, create bool) *textPartition {
	if !create {
		return t.groves.get(g)
	}
	return t.groves.getOrCreate(g, func() *textPartition {
		return &textPartition{groveID: g, slots: map[rowKey]uint32{}, terms: map[string]uint32{}, dict: newDictionary()}
	})
}
