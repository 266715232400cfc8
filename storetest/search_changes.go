package storetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
)

func mustSeq(t testing.TB, s hypha.Queries) (seq, pruned int64) {
	t.Helper()
	seq, pruned, err := s.SearchSeq(t.Context())
	if err != nil {
		t.Fatalf("SearchSeq: %v", err)
	}
	return seq, pruned
}

// scanDocs returns the documents ScanSearchDocs reports in (after, upTo],
// by key, failing on a key reported twice or without its synced table.
func scanDocs(t testing.TB, s hypha.Queries, after, upTo int64, dims int) map[string]scanned {
	t.Helper()
	out := map[string]scanned{}
	err := s.ScanSearchDocs(t.Context(), after, upTo, dims, func(d *hypha.SearchDoc, vec []float32) error {
		if d.Key.Table == nil || hypha.LookupTable(d.Key.Table.Name) != d.Key.Table {
			return fmt.Errorf("document %+v without its synced table", d.Key)
		}
		k := keyString(d.Key)
		if _, dup := out[k]; dup {
			return fmt.Errorf("%s reported twice", k)
		}
		out[k] = scanned{doc: d, vec: vec}
		return nil
	})
	if err != nil {
		t.Fatalf("ScanSearchDocs(%d, %d, %d): %v", after, upTo, dims, err)
	}
	return out
}

// scanVectors returns the documents ScanSearchDocs reports in (after, upTo]
// with a vector of dims dimensions.
func scanVectors(t testing.TB, s hypha.Queries, after, upTo int64, dims int) map[string]scanned {
	t.Helper()
	out := scanDocs(t, s, after, upTo, dims)
	for k, sc := range out {
		if sc.vec == nil {
			delete(out, k)
		}
	}
	return out
}

type scanned struct {
	doc *hypha.SearchDoc
	vec []float32
}

// storedDoc writes a record of the named table and returns its search
// document, which the scans report only while the record exists.
func storedDoc(t testing.TB, s hypha.Queries, tableName, grove, machine, id string, data map[string]any) *hypha.SearchDoc {
	t.Helper()
	r := record(t, tableName, grove, machine, id, data)
	mustUpsert(t, s, r)
	return hypha.NewSearchDoc(r)
}

// storedTextDoc is storedDoc of a record holding text and nothing else.
func storedTextDoc(t testing.TB, s hypha.Queries, tableName, grove, machine, id, text string) *hypha.SearchDoc {
	t.Helper()
	return storedDoc(t, s, tableName, grove, machine, id, map[string]any{textColumn(t, tableName): text})
}

// scanTombstones returns the keys ScanSearchTombstones reports in
// (after, upTo].
func scanTombstones(t testing.TB, s hypha.Queries, after, upTo int64) []string {
	t.Helper()
	out := []string{}
	err := s.ScanSearchTombstones(t.Context(), after, upTo, func(k hypha.RecordKey) error {
		if k.Table == nil || hypha.LookupTable(k.Table.Name) != k.Table {
			return fmt.Errorf("tombstone %+v without its synced table", k)
		}
		out = append(out, keyString(k))
		return nil
	})
	if err != nil {
		t.Fatalf("ScanSearchTombstones(%d, %d): %v", after, upTo, err)
	}
	return out
}

// embedding returns a dims-long embedding of the document's key.
func embedding(d *hypha.SearchDoc, dims, seed int) *hypha.Embedding {
	return &hypha.Embedding{Key: d.Key, Model: "test/model", Vector: vector(dims, seed), ContentHash: "h", UpdatedAt: 1}
}

func keysOf(docs ...*hypha.SearchDoc) []hypha.RecordKey {
	out := make([]hypha.RecordKey, len(docs))
	for i, d := range docs {
		out[i] = d.Key
	}
	return out
}

func docKeys(docs ...*hypha.SearchDoc) []string {
	out := []string{}
	for _, d := range docs {
		out = append(out, keyString(d.Key))
	}
	return out
}

func mapKeys[V any](m map[string]V) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	return out
}

// sameBits compares vectors bit for bit.
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func testSearchChanges(t *testing.T, open OpenFunc) {
	t.Run("StartsAtZero", func(t *testing.T) {
		s, _ := setup(t, open)
		if seq, pruned := mustSeq(t, s); seq != 0 || pruned != 0 {
			t.Fatalf("SearchSeq = %d, %d on an empty store, want 0, 0", seq, pruned)
		}
		if got := scanDocs(t, s, -1, math.MaxInt64, 3); len(got) != 0 {
			t.Fatalf("ScanSearchDocs on an empty store = %v", mapKeys(got))
		}
		if got := scanTombstones(t, s, 0, math.MaxInt64); len(got) != 0 {
			t.Fatalf("ScanSearchTombstones on an empty store = %v", got)
		}
		// Writing nothing is no change.
		mustPutDocs(t, s)
		mustRemoveDocs(t, s)
		if seq, _ := mustSeq(t, s); seq != 0 {
			t.Fatalf("SearchSeq = %d after empty writes, want 0", seq)
		}
	})
	t.Run("OneStepPerTransaction", testSearchSteps(open))
	t.Run("ScanSearchDocs", func(t *testing.T) { testScanSearchDocs(t, open) })
	t.Run("ScansOnlyVectorsOfTheDimension", func(t *testing.T) {
		s, _ := setup(t, open)
		three := storedDoc(t, s, "spores", "g", "m", "three", map[string]any{hypha.ColProject: projectID(1), "content": "x",
			"status": "active", "observation_type": "decision", "session_id": "sess", "created_at": int64(42), hypha.ColSharingPolicy: hypha.SharingCrossGrove})
		four := storedTextDoc(t, s, "plans", "g", "m", "four", "x")
		none := storedTextDoc(t, s, "artifacts", "g", "m", "none", "x")
		public := storedDoc(t, s, "skill_records", "h", "m", "pub", map[string]any{"description": "x", "name": "n", hypha.ColSharingPolicy: hypha.SharingPublic})
		mustPutEmbeddings(t, s, embedding(three, 3, 1), embedding(four, 4, 2), embedding(public, 3, 3))
		// A vector without a document is not part of the index.
		orphan := storedTextDoc(t, s, "sessions", "g", "m", "orphan", "x")
		mustPutEmbeddings(t, s, embedding(orphan, 3, 4))
		mustPutDocs(t, s, three, four, none, public)
		seq, _ := mustSeq(t, s)
		got := scanVectors(t, s, 0, seq, 3)
		if want := docKeys(three, public); !sameSet(mapKeys(got), want) {
			t.Fatalf("vectors of dims 3 = %v, want %v", mapKeys(got), want)
		}
		for _, c := range []struct {
			d    *hypha.SearchDoc
			seed int
		}{{three, 1}, {public, 3}} {
			sc := got[keyString(c.d.Key)]
			if *sc.doc != *c.d {
				t.Errorf("document %s = %+v, want %+v", keyString(c.d.Key), sc.doc, c.d)
			}
			if !sameBits(sc.vec, vector(3, c.seed)) {
				t.Errorf("vector of %s = %v, want %v", keyString(c.d.Key), sc.vec, vector(3, c.seed))
			}
		}
		if m := got[keyString(three.Key)].doc.Meta(); !m.Shared || m.Public || m.CreatedAt != 42 || m.ObservationType != "decision" || m.ProjectID != projectID(1) {
			t.Errorf("meta of the cross_grove spore = %+v", m)
		}
		if m := got[keyString(public.Key)].doc.Meta(); m.Shared || !m.Public || m.Name != "n" {
			t.Errorf("meta of the public skill = %+v", m)
		}
		if got := scanVectors(t, s, 0, seq, 4); !sameSet(mapKeys(got), docKeys(four)) {
			t.Fatalf("vectors of dims 4 = %v, want %v", mapKeys(got), docKeys(four))
		}
		if got := scanVectors(t, s, 0, seq, 384); len(got) != 0 {
			t.Fatalf("vectors of dims 384 = %v, want nothing", mapKeys(got))
		}
		// Every document comes, the vector nil where none of the
		// dimensions exists.
		all := scanDocs(t, s, 0, seq, 4)
		if want := docKeys(three, four, none, public); !sameSet(mapKeys(all), want) {
			t.Fatalf("ScanSearchDocs(dims 4) = %v, want %v", mapKeys(all), want)
		}
		for _, d := range []*hypha.SearchDoc{three, none, public} {
			if v := all[keyString(d.Key)].vec; v != nil {
				t.Errorf("vector of %s at dims 4 = %v, want nil", keyString(d.Key), v)
			}
		}
	})
	t.Run("ScanStopsOnError", func(t *testing.T) {
		s, _ := setup(t, open)
		var docs []*hypha.SearchDoc
		for i := range 5 {
			for _, st := range searchable {
				d := storedTextDoc(t, s, st.table, "g", "m", fmt.Sprintf("s%d", i), "x")
				docs = append(docs, d)
				if i%2 == 0 {
					mustPutEmbeddings(t, s, embedding(d, 3, i))
				}
			}
		}
		mustPutDocs(t, s, docs...)
		mustRemoveDocs(t, s, keysOf(docs[:3]...)...)
		stop := errors.New("stop")
		calls := 0
		err := s.ScanSearchDocs(t.Context(), 0, 10, 3, func(*hypha.SearchDoc, []float32) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("ScanSearchDocs with a failing fn = %v after %d calls, want its error after 1", err, calls)
		}
		calls = 0
		err = s.ScanSearchTombstones(t.Context(), 0, 10, func(hypha.RecordKey) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("ScanSearchTombstones with a failing fn = %v after %d calls, want its error after 1", err, calls)
		}
	})
	t.Run("RemoveLeavesTombstones", func(t *testing.T) {
		s, _ := setup(t, open)
		a := storedTextDoc(t, s, "spores", "g", "m", "a", "hymenium")
		b := storedTextDoc(t, s, "plans", "g", "m", "b", "hymenium")
		other := storedTextDoc(t, s, "spores", "h", "m", "a", "hymenium")
		mustPutEmbeddings(t, s, embedding(a, 3, 1), embedding(b, 3, 2), embedding(other, 3, 3))
		mustPutDocs(t, s, a, b, other)
		before, _ := mustSeq(t, s)
		// A key without a document but with a vector, and one with neither.
		loose := textDoc(t, "artifacts", "g", "m", "loose", "hymenium")
		mustPutEmbeddings(t, s, embedding(loose, 3, 4))
		mustRemoveDocs(t, s, a.Key, loose.Key, key(t, "sessions", "g", "m", "never"), a.Key)
		after, _ := mustSeq(t, s)
		if after <= before {
			t.Fatalf("SearchSeq = %d after a removal, was %d", after, before)
		}
		wantKeys(t, s, "hymenium", hypha.VectorFilter{GroveID: "g"}, keyString(b.Key))
		wantKeys(t, s, "hymenium", hypha.VectorFilter{GroveID: "h"}, keyString(other.Key))
		wantNoEmbedding(t, s, a.Key)
		wantNoEmbedding(t, s, loose.Key)
		mustFindEmbedding(t, s, b.Key)
		mustFindEmbedding(t, s, other.Key)
		if got := scanTombstones(t, s, before, after); !sameSet(got, docKeys(a)) {
			t.Fatalf("tombstones = %v, want only the document that existed, %v", got, docKeys(a))
		}
		if got := scanVectors(t, s, 0, after, 3); !sameSet(mapKeys(got), docKeys(b, other)) {
			t.Fatalf("vectors = %v, want %v", mapKeys(got), docKeys(b, other))
		}
		if n := mustCountDocs(t, s, "g"); n != 1 {
			t.Fatalf("CountSearchDocs(g) = %d, want 1", n)
		}
		// Removing it again changes nothing visible.
		mustRemoveDocs(t, s, a.Key)
		now, _ := mustSeq(t, s)
		if got := scanTombstones(t, s, 0, now); !sameSet(got, docKeys(a)) {
			t.Fatalf("tombstones after a second removal = %v, want %v", got, docKeys(a))
		}
	})
	t.Run("PutClearsTheTombstone", func(t *testing.T) {
		s, _ := setup(t, open)
		a := storedTextDoc(t, s, "spores", "g", "m", "a", "ascus")
		b := storedTextDoc(t, s, "spores", "g", "m", "b", "ascus")
		mustPutEmbeddings(t, s, embedding(a, 3, 1))
		mustPutDocs(t, s, a, b)
		mustRemoveDocs(t, s, a.Key, b.Key)
		removed, _ := mustSeq(t, s)
		mustPutEmbeddings(t, s, embedding(a, 3, 5))
		mustPutDocs(t, s, a)
		seq, _ := mustSeq(t, s)
		if got := scanTombstones(t, s, 0, seq); !sameSet(got, docKeys(b)) {
			t.Fatalf("tombstones after re-putting a = %v, want %v", got, docKeys(b))
		}
		got := scanVectors(t, s, removed, seq, 3)
		if !sameSet(mapKeys(got), docKeys(a)) || !sameBits(got[keyString(a.Key)].vec, vector(3, 5)) {
			t.Fatalf("vectors since the removal = %v, want a with its new vector", mapKeys(got))
		}
		wantKeys(t, s, "ascus", hypha.VectorFilter{GroveID: "g"}, keyString(a.Key))
	})
	t.Run("PruneTombstones", func(t *testing.T) {
		s, c := setup(t, open)
		var docs []*hypha.SearchDoc
		for i := range 4 {
			docs = append(docs, textDoc(t, "spores", "g", "m", fmt.Sprintf("s%d", i), "x"))
		}
		mustPutDocs(t, s, docs...)
		if n, err := s.PruneSearchTombstones(t.Context(), c.Unix()+1); err != nil || n != 0 {
			t.Fatalf("PruneSearchTombstones without tombstones = %d, %v; want 0", n, err)
		}
		t0 := c.Unix()
		mustRemoveDocs(t, s, docs[0].Key, docs[1].Key)
		first, _ := mustSeq(t, s)
		c.Advance(time.Hour)
		t1 := c.Unix()
		mustRemoveDocs(t, s, docs[2].Key)
		second, _ := mustSeq(t, s)

		prune := func(before, want, wantPruned int64) {
			t.Helper()
			n, err := s.PruneSearchTombstones(t.Context(), before)
			if err != nil || n != want {
				t.Fatalf("PruneSearchTombstones(%d) = %d, %v; want %d", before, n, err, want)
			}
			if _, pruned := mustSeq(t, s); pruned != wantPruned {
				t.Fatalf("after PruneSearchTombstones(%d), pruned_seq = %d, want %d", before, pruned, wantPruned)
			}
		}
		prune(t0, 0, 0) // nothing older than t0
		prune(t1, 2, first)
		if got := scanTombstones(t, s, 0, second); !sameSet(got, docKeys(docs[2])) {
			t.Fatalf("tombstones after pruning the first two = %v, want %v", got, docKeys(docs[2]))
		}
		prune(t1, 0, first) // again: nothing left, pruned_seq stays
		prune(t0, 0, first) // an earlier time never lowers pruned_seq
		prune(t1+1, 1, second)
		if got := scanTombstones(t, s, 0, second); len(got) != 0 {
			t.Fatalf("tombstones after pruning all = %v", got)
		}
		if seq, _ := mustSeq(t, s); seq != second {
			t.Fatalf("pruning moved the sequence from %d to %d", second, seq)
		}
		// The documents are untouched.
		wantKeys(t, s, "x", hypha.VectorFilter{GroveID: "g"}, keyString(docs[3].Key))
	})
	t.Run("DeleteMachineRows", func(t *testing.T) {
		s, _ := setup(t, open)
		var recs []*hypha.Record
		for _, grove := range []string{"g", "h"} {
			for _, machine := range []string{"gone", "kept"} {
				for _, st := range searchable {
					recs = append(recs, record(t, st.table, grove, machine, "r1", map[string]any{st.column: "hyphae"}))
				}
			}
		}
		mustUpsert(t, s, recs...)
		var docs []*hypha.SearchDoc
		var gone []string
		for i, r := range recs {
			d := hypha.NewSearchDoc(r)
			docs = append(docs, d)
			mustPutEmbeddings(t, s, embedding(d, 3, i))
			if r.GroveID == "g" && r.MachineID == "gone" && (r.Table.Name == "spores" || r.Table.Name == "skill_records") {
				gone = append(gone, keyString(d.Key))
			}
		}
		mustPutDocs(t, s, docs...)
		before, _ := mustSeq(t, s)
		if _, err := s.DeleteMachineRows(t.Context(), "g", "gone", []*hypha.Table{table(t, "spores"), table(t, "skill_records"), table(t, "entities")}); err != nil {
			t.Fatalf("DeleteMachineRows: %v", err)
		}
		after, _ := mustSeq(t, s)
		if after != before+1 {
			t.Errorf("SearchSeq = %d after DeleteMachineRows, want %d", after, before+1)
		}
		if got := scanTombstones(t, s, before, after); !sameSet(got, gone) {
			t.Fatalf("tombstones = %v, want exactly the removed machine's documents of the tables %v", got, gone)
		}
		var want []string
		for _, d := range docs {
			if !slices.Contains(gone, keyString(d.Key)) && d.Key.GroveID == "g" {
				want = append(want, keyString(d.Key))
			}
		}
		wantKeys(t, s, "hyphae", hypha.VectorFilter{GroveID: "g"}, want...)
		if got := scanVectors(t, s, 0, after, 3); len(got) != len(docs)-len(gone) {
			t.Fatalf("%d vectors left, want %d", len(got), len(docs)-len(gone))
		}
		if n := mustCountDocs(t, s, "h"); n != int64(2*len(searchable)) {
			t.Fatalf("CountSearchDocs(h) = %d, want %d", n, 2*len(searchable))
		}
		// A machine without documents leaves no tombstone.
		if _, err := s.DeleteMachineRows(t.Context(), "g", "absent", []*hypha.Table{table(t, "spores")}); err != nil {
			t.Fatalf("DeleteMachineRows: %v", err)
		}
		now, _ := mustSeq(t, s)
		if got := scanTombstones(t, s, after, now); len(got) != 0 {
			t.Fatalf("tombstones after deleting a machine without documents = %v", got)
		}
	})
	t.Run("ConcurrentWriters", func(t *testing.T) {
		// Writers of the same documents and vectors in opposite orders,
		// each taking the search sequence first: no deadlock, no error,
		// and every key ends as a document or a tombstone.
		s, _ := setup(t, open)
		var docs []*hypha.SearchDoc
		var embs []*hypha.Embedding
		for i := range 6 {
			d := textDoc(t, "spores", "g", "m", fmt.Sprintf("s%d", i), "conidiophore")
			docs, embs = append(docs, d), append(embs, embedding(d, 3, i))
		}
		reversed := slices.Clone(docs)
		slices.Reverse(reversed)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w, fn := range []func(i int) error{
			func(int) error {
				return s.InTx(t.Context(), func(tx hypha.Queries) error {
					if err := tx.PutSearchDocs(t.Context(), docs); err != nil {
						return err
					}
					return tx.PutEmbeddings(t.Context(), embs)
				})
			},
			func(int) error { return s.RemoveSearchDocs(t.Context(), keysOf(reversed...)) },
			func(i int) error {
				return s.InTx(t.Context(), func(tx hypha.Queries) error {
					if err := tx.RemoveSearchDocs(t.Context(), keysOf(docs[i%6])); err != nil {
						return err
					}
					return tx.PutSearchDocs(t.Context(), reversed[:3])
				})
			},
			func(int) error {
				_, err := s.DeleteMachineRows(t.Context(), "g", "m", []*hypha.Table{table(t, "spores")})
				return err
			},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 40 {
					if err := fn(i); err != nil {
						errs <- fmt.Errorf("writer %d, round %d: %w", w, i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		seq, _ := mustSeq(t, s)
		tombs := scanTombstones(t, s, 0, seq)
		live := hitKeys(mustKeyword(t, s, "conidiophore", 50, hypha.VectorFilter{GroveID: "g"}))
		if !sameSet(append(tombs, live...), docKeys(docs...)) {
			t.Fatalf("documents %v and tombstones %v, want each key exactly once", live, tombs)
		}
	})
}

// testSearchSteps runs writes one transaction at a time and checks that
// each moves the sequence by one, and that the scans of (before, after]
// report exactly what that transaction changed.
func testSearchSteps(open OpenFunc) func(t *testing.T) {
	return func(t *testing.T) {
		s, _ := setup(t, open)
		var recs []*hypha.Record
		d := func(id string) *hypha.SearchDoc {
			r := record(t, "spores", "g", "m", id, map[string]any{"content": "text of " + id})
			recs = append(recs, r)
			return hypha.NewSearchDoc(r)
		}
		a, b, c, e := d("a"), d("b"), d("c"), d("e")
		many := make([]*hypha.SearchDoc, 1100)
		for i := range many {
			many[i] = d(fmt.Sprintf("many%04d", i))
		}
		mustUpsert(t, s, recs...)
		mustPutEmbeddings(t, s, embedding(a, 3, 1), embedding(b, 3, 2), embedding(c, 3, 3), embedding(e, 3, 4))
		for _, m := range many[:10] {
			mustPutEmbeddings(t, s, embedding(m, 3, 9))
		}
		steps := []struct {
			name          string
			write         func(tx hypha.Queries)
			vectors, tomb []*hypha.SearchDoc
		}{
			{"put a b", func(tx hypha.Queries) { mustPutDocs(t, tx, a, b) }, []*hypha.SearchDoc{a, b}, nil},
			{"put c", func(tx hypha.Queries) { mustPutDocs(t, tx, c) }, []*hypha.SearchDoc{c}, nil},
			{"remove a", func(tx hypha.Queries) { mustRemoveDocs(t, tx, a.Key) }, nil, []*hypha.SearchDoc{a}},
			{"remove b, put e and c", func(tx hypha.Queries) {
				mustRemoveDocs(t, tx, b.Key)
				mustPutDocs(t, tx, e)
				mustPutDocs(t, tx, c)
			}, []*hypha.SearchDoc{e, c}, []*hypha.SearchDoc{b}},
			{"put many", func(tx hypha.Queries) { mustPutDocs(t, tx, many...) }, many[:10], nil},
			{"remove many", func(tx hypha.Queries) { mustRemoveDocs(t, tx, keysOf(many...)...) }, nil, many},
			{"put b, remove c", func(tx hypha.Queries) {
				mustPutDocs(t, tx, b)
				mustRemoveDocs(t, tx, c.Key)
			}, nil, []*hypha.SearchDoc{c}}, // b lost its vector with its removal
		}
		prev := int64(0)
		for _, st := range steps {
			if err := s.InTx(t.Context(), func(tx hypha.Queries) error { st.write(tx); return nil }); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			seq, _ := mustSeq(t, s)
			if seq != prev+1 {
				t.Fatalf("%s: SearchSeq = %d, want %d (one step per transaction)", st.name, seq, prev+1)
			}
			if got := scanVectors(t, s, prev, seq, 3); !sameSet(mapKeys(got), docKeys(st.vectors...)) {
				t.Fatalf("%s: vectors of the step = %v, want %v", st.name, mapKeys(got), docKeys(st.vectors...))
			}
			if got := scanTombstones(t, s, prev, seq); !sameSet(got, docKeys(st.tomb...)) {
				t.Fatalf("%s: tombstones of the step = %d keys, want %d", st.name, len(got), len(st.tomb))
			}
			// Nothing of this step is reported up to the previous one.
			for k := range scanVectors(t, s, 0, prev, 3) {
				if slices.Contains(docKeys(st.vectors...), k) {
					t.Fatalf("%s: %s reported up to seq %d", st.name, k, prev)
				}
			}
			prev = seq
		}
		// From the start: the documents alive with vectors, the removed.
		if got := scanVectors(t, s, 0, prev, 3); !sameSet(mapKeys(got), docKeys(e)) {
			t.Fatalf("all vectors = %v, want %v", mapKeys(got), docKeys(e))
		}
		if got := scanTombstones(t, s, 0, prev); !sameSet(got, docKeys(append([]*hypha.SearchDoc{a, c}, many...)...)) {
			t.Fatalf("all tombstones: %d keys, want %d", len(got), 2+len(many))
		}
		// A step beyond the current sequence reports nothing yet.
		if got := scanVectors(t, s, prev, prev+100, 3); len(got) != 0 {
			t.Fatalf("vectors after the last step = %v", mapKeys(got))
		}
		wantKeys(t, s, "text", hypha.VectorFilter{GroveID: "g"}, docKeys(b, e)...)
	}
}
