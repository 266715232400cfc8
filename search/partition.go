package search

import (
	"sync"
	"unsafe"

	"github.com/hyphateam/hypha"
)

// blockRows is the number of vectors per storage block. Vectors live in
// blocks of blockRows × dims contiguous float32 values: appending never
// copies what is stored (no doubling, no transient 2× memory), a block is
// the unit of work a search hands to a core and holds a read lock for, and
// 1,024 × 384 floats (1.5 MiB) scan in about 0.1 ms.
const blockRows = 1024

// The filterable string fields of a row, as indexes into row.codes.
const (
	fTable = iota
	fProject
	fMachine
	fStatus
	fObservationType
	fSession
	fSourcePath
	fName
	numFields
)

// row is a vector's filterable metadata in compact form: strings replaced
// by per-partition dictionary codes (0 is the empty string), so a filter
// compares integers while it walks a partition.
type row struct {
	codes     [numFields]uint32
	createdAt int64
	shared    bool
	public    bool
	scale     float32 // of the row's 8-bit copy (see quant.go)
	live      bool    // false: a deleted row (a tombstone) until compaction
}

// rowKey identifies a record within its grove's partition.
type rowKey struct{ table, machineID, id string }

// partition holds the vectors of one grove.
//
// Rows never move while the partition is in use: an upsert replaces a
// record in place or appends it, a delete leaves a tombstone. So a search
// that read-locks one block at a time sees every record that exists for
// its whole duration exactly once (as it was before or after each
// concurrent write), never a record twice, and writers wait for at most
// one block's scan instead of a whole search. Tombstones are reclaimed by
// compact, which moves rows and therefore bumps epoch: a search that finds
// the epoch changed under it starts again.
type partition struct {
	mu      sync.RWMutex
	groveID string
	dims    int
	epoch   uint64             // bumped by every compaction
	blocks  [][]float32        // len(blocks) = ceil(len(rows) / blockRows)
	qblocks [][]int8           // the 8-bit copies, block for block
	rows    []row              // live rows and tombstones
	metas   []hypha.VectorMeta // strings shared with the dictionary; zero for tombstones
	slots   map[rowKey]int32   // live key → row
	dead    int                // tombstones in rows
	dict    dictionary
}

func newPartition(groveID string, dims int) *partition {
	return &partition{groveID: groveID, dims: dims, slots: map[rowKey]int32{}, dict: newDictionary()}
}

// live is the number of vectors; the caller holds mu.
func (p *partition) live() int { return len(p.rows) - p.dead }

// vector returns row i's stored vector; the caller holds mu.
func (p *partition) vector(i int) []float32 {
	b, off := i/blockRows, (i%blockRows)*p.dims
	return p.blocks[b][off : off+p.dims : off+p.dims]
}

// qvector returns row i's 8-bit copy; the caller holds mu.
func (p *partition) qvector(i int) []int8 {
	b, off := i/blockRows, (i%blockRows)*p.dims
	return p.qblocks[b][off : off+p.dims : off+p.dims]
}

// upsert stores vec (normalised, len dims) under meta's key, replacing the
// record's previous vector and metadata in place. It reports whether the
// record is new. The caller holds mu for writing.
func (p *partition) upsert(meta hypha.VectorMeta, vec []float32) bool {
	k := rowKey{meta.Table, meta.MachineID, meta.ID}
	r, m := p.dict.internRow(meta) // before the release: an unchanged value keeps its code
	i, ok := p.slots[k]
	if ok {
		p.dict.releaseRow(&p.rows[i])
	} else {
		i = int32(len(p.rows))
		if int(i)/blockRows == len(p.blocks) {
			p.blocks = append(p.blocks, make([]float32, blockRows*p.dims))
			p.qblocks = append(p.qblocks, make([]int8, blockRows*p.dims))
		}
		p.rows = append(p.rows, row{})
		p.metas = append(p.metas, hypha.VectorMeta{})
		p.slots[k] = i
	}
	r.live = true
	copy(p.vector(int(i)), vec)
	r.scale = quantize(vec, p.qvector(int(i)))
	p.rows[i], p.metas[i] = r, m
	p.maybeCompact()
	return !ok
}

// delete tombstones the record's row and reports whether it was there.
// The caller holds mu for writing.
func (p *partition) delete(table, machineID, id string) bool {
	k := rowKey{table, machineID, id}
	i, ok := p.slots[k]
	if !ok {
		return false
	}
	delete(p.slots, k)
	p.dict.releaseRow(&p.rows[i])
	p.rows[i] = row{}
	p.metas[i] = hypha.VectorMeta{} // drop the strings for the collector
	p.dead++
	p.maybeCompact()
	return true
}

// maybeCompact compacts once a quarter of the rows (and at least a block)
// are tombstones, or once most dictionary codes are unused: each
// compaction is paid for by as many writes as it moves rows, and
// tombstones never cost more than a third more scanning.
func (p *partition) maybeCompact() {
	if (p.dead >= blockRows && 4*p.dead >= len(p.rows)) || p.dict.wasted() {
		p.compact()
	}
}

// compact fills the tombstones with the last live rows, so it moves at
// most as many rows as were deleted, frees the blocks left empty, rebuilds
// the dictionary if most of its codes are retired, and bumps the epoch.
// The caller holds mu for writing.
func (p *partition) compact() {
	lo, hi := 0, len(p.rows)-1
	for {
		for lo < hi && p.rows[lo].live {
			lo++
		}
		for hi > lo && !p.rows[hi].live {
			hi--
		}
		if lo >= hi {
			break
		}
		copy(p.vector(lo), p.vector(hi))
		copy(p.qvector(lo), p.qvector(hi))
		p.rows[lo], p.metas[lo] = p.rows[hi], p.metas[hi]
		p.rows[hi], p.metas[hi] = row{}, hypha.VectorMeta{}
		m := &p.metas[lo]
		p.slots[rowKey{m.Table, m.MachineID, m.ID}] = int32(lo)
	}
	w := len(p.rows) - p.dead
	clear(p.metas[w:])
	p.rows, p.metas = p.rows[:w], p.metas[:w]
	nb := (w + blockRows - 1) / blockRows
	clear(p.blocks[nb:])
	p.blocks = p.blocks[:nb]
	clear(p.qblocks[nb:])
	p.qblocks = p.qblocks[:nb]
	if w < cap(p.rows)/4 { // give back most of the memory after a mass delete
		p.rows, p.metas = append([]row(nil), p.rows...), append([]hypha.VectorMeta(nil), p.metas...)
	}
	if p.dict.wasted() {
		p.dict = reintern(p.rows, p.metas)
	}
	p.dead = 0
	p.epoch++
}

// bytes estimates the memory the partition holds: vectors, compact rows,
// metadata (each distinct string counted once), the key map.
func (p *partition) bytes() int64 {
	const slotSize = 64                                             // a map entry: the key's 3 string headers, the value, overhead
	b := int64(len(p.blocks)) * blockRows * int64(p.dims) * (4 + 1) // float32 and 8-bit copies
	b += int64(cap(p.rows))*int64(unsafe.Sizeof(row{})) + int64(cap(p.metas))*int64(unsafe.Sizeof(hypha.VectorMeta{}))
	b += int64(len(p.slots)) * slotSize
	for i := range p.metas {
		b += int64(len(p.metas[i].ID)) // ids are not interned
	}
	return b + p.dict.bytes()
}

// dictionary interns a partition's metadata strings: each distinct value
// is stored once and has a small integer code. Codes are reference-counted
// but never reused until the dictionary is rebuilt by a compaction: a
// search that compiled its filter to codes may still be running, and must
// not see a code change meaning under it.
type dictionary struct {
	codes map[string]uint32
	vals  []string // code → value; vals[0] = ""
	refs  []int32  // code → rows using it
	used  int      // codes with refs > 0
}

func newDictionary() dictionary {
	return dictionary{codes: map[string]uint32{"": 0}, vals: []string{""}, refs: []int32{0}}
}

// code returns the code of s, or false if no row has that value.
func (d *dictionary) code(s string) (uint32, bool) {
	c, ok := d.codes[s]
	return c, ok
}

// intern returns the code of s and the dictionary's copy of it, and
// counts one more reference.
func (d *dictionary) intern(s string) (uint32, string) {
	if s == "" {
		return 0, ""
	}
	c, ok := d.codes[s]
	if !ok {
		c = uint32(len(d.vals))
		d.vals = append(d.vals, s)
		d.refs = append(d.refs, 0)
		d.codes[s] = c
	}
	if d.refs[c] == 0 {
		d.used++
	}
	d.refs[c]++
	return c, d.vals[c]
}

// release drops one reference to code c; an unused value leaves the map,
// so a filter on it matches nothing, and its code stays retired.
func (d *dictionary) release(c uint32) {
	if c == 0 {
		return
	}
	if d.refs[c]--; d.refs[c] == 0 {
		delete(d.codes, d.vals[c])
		d.vals[c] = ""
		d.used--
	}
}

// wasted reports whether most codes are retired, so a rebuild pays.
func (d *dictionary) wasted() bool {
	retired := len(d.vals) - 1 - d.used
	return retired >= 4096 && retired > d.used
}

// internRow interns meta's filterable fields and returns the compact row
// and a copy of meta whose strings are the dictionary's.
func (d *dictionary) internRow(meta hypha.VectorMeta) (row, hypha.VectorMeta) {
	r := row{createdAt: meta.CreatedAt, shared: meta.Shared, public: meta.Public}
	fields := [numFields]*string{
		fTable: &meta.Table, fProject: &meta.ProjectID, fMachine: &meta.MachineID,
		fStatus: &meta.Status, fObservationType: &meta.ObservationType,
		fSession: &meta.SessionID, fSourcePath: &meta.SourcePath, fName: &meta.Name,
	}
	for f, s := range fields {
		r.codes[f], *s = d.intern(*s)
	}
	return r, meta
}

// reintern returns a new dictionary of the live rows' values, rewriting
// their codes and metadata strings in place: a compaction's rebuild once
// most codes are retired.
func reintern(rows []row, metas []hypha.VectorMeta) dictionary {
	d := newDictionary()
	for i := range rows {
		r, m := d.internRow(metas[i])
		r.live = true
		rows[i], metas[i] = r, m
	}
	return d
}

// releaseRow drops the references of a row that is replaced or deleted.
func (d *dictionary) releaseRow(r *row) {
	for _, c := range r.codes {
		d.release(c)
	}
}

func (d *dictionary) bytes() int64 {
	b := int64(len(d.vals))*(16+4) + int64(len(d.codes))*48
	for _, s := range d.vals {
		b += int64(len(s))
	}
	return b
}
