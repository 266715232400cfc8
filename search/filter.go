package search

import (
	"slices"

	"github.com/hyphateam/hypha"
)

// plan is a VectorFilter compiled against one partition: the filter's
// strings turned into that partition's dictionary codes, so testing a row
// is a handful of integer comparisons. The codes are valid while the
// partition's epoch stays the one recorded here.
type plan struct {
	p     *partition
	epoch uint64 // the partition's epoch when the plan was made
	rows  int    // the partition's rows then: the search's extent
	filterPlan
}

// filterPlan is a VectorFilter compiled against one dictionary: the part
// of a plan the vector and keyword indexes share.
type filterPlan struct {
	// all: every row matches, the scan skips the test.
	all bool
	// none: no row can match (a value no row has, an empty table list).
	none bool
	// sharedOnly: the partition is another grove's; only rows it shares.
	sharedOnly bool
	// publicOnly: only rows their grove made public (the anonymous tier).
	publicOnly   bool
	eqFields     [numFields]uint8
	eqCodes      [numFields]uint32
	neq          int
	tables       []uint32 // any of these; nil: any table
	since, until int64    // inclusive; 0: open
}

// compile builds the plan of f for partition p. own says whether p is the
// caller's grove (all rows visible) or one that shares with it (only rows
// marked Shared). The caller holds p's lock for reading.
func compile(f *hypha.VectorFilter, p *partition, own bool) plan {
	return plan{p: p, epoch: p.epoch, rows: len(p.rows), filterPlan: compileFilter(f, &p.dict, p.live(), own)}
}

// compileFilter compiles f against dictionary d of a partition holding
// live rows; own as for compile.
func compileFilter(f *hypha.VectorFilter, d *dictionary, live int, own bool) filterPlan {
	pl := filterPlan{sharedOnly: !own, publicOnly: f.PublicOnly, since: f.Since, until: f.Until}
	eq := func(field int, value string) {
		if value == "" || pl.none {
			return
		}
		c, ok := d.code(value)
		if !ok {
			pl.none = true
			return
		}
		pl.eqFields[pl.neq], pl.eqCodes[pl.neq] = uint8(field), c
		pl.neq++
	}
	switch tables := uniqueNonEmpty(f.Tables); len(tables) {
	case 0:
		if len(f.Tables) > 0 { // only empty names: nothing matches
			pl.none = true
		}
	case 1:
		eq(fTable, tables[0])
	default:
		for _, t := range tables {
			if c, ok := d.code(t); ok {
				pl.tables = append(pl.tables, c)
			}
		}
		pl.none = len(pl.tables) == 0
	}
	eq(fProject, f.ProjectID)
	eq(fMachine, f.MachineID)
	eq(fStatus, f.Status)
	eq(fObservationType, f.ObservationType)
	eq(fSession, f.SessionID)
	eq(fSourcePath, f.SourcePath)
	eq(fName, f.Name)
	if f.Since != 0 && f.Until != 0 && f.Since > f.Until {
		pl.none = true
	}
	pl.none = pl.none || live == 0
	pl.all = !pl.none && own && !f.PublicOnly && pl.neq == 0 && pl.tables == nil && f.Since == 0 && f.Until == 0
	return pl
}

// match reports whether live row r passes the plan.
func (pl *filterPlan) match(r *row) bool {
	if pl.sharedOnly && !r.shared || pl.publicOnly && !r.public {
		return false
	}
	for j := range pl.neq {
		if r.codes[pl.eqFields[j]] != pl.eqCodes[j] {
			return false
		}
	}
	if pl.tables != nil && !slices.Contains(pl.tables, r.codes[fTable]) {
		return false
	}
	if pl.since != 0 || pl.until != 0 {
		// As on the Myco worker, a record without created_at fails
		// either bound.
		if r.createdAt == 0 || (pl.since != 0 && r.createdAt < pl.since) || (pl.until != 0 && r.createdAt > pl.until) {
			return false
		}
	}
	return true
}

// visibleGroves returns the groves f may see, the caller's own first, then
// the granting groves without duplicates.
func visibleGroves(f *hypha.VectorFilter) []string {
	out := []string{f.GroveID}
	for _, g := range f.SharedFrom {
		if g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

func uniqueNonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
