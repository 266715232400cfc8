package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
)

// scanExpect is what ScanSearchDocs should report of one document.
type scanExpect struct {
	doc   *hypha.SearchDoc
	dims  int // dimensions of its vector, 0 for none
	seed  int
	seq   int64
	alive bool // its record still exists
}

// testScanSearchDocs checks ScanSearchDocs: every searchable table, the
// document's metadata and text as its record holds it now, the vector of
// the asked dimensions or nil, the (after, upTo] window, and documents
// whose record is gone left out.
func testScanSearchDocs(t *testing.T, open OpenFunc) {
	t.Run("CoversEverySearchableTable", func(t *testing.T) {
		var names, want []string
		for _, tb := range hypha.SyncedTables {
			if tb.TextColumn != "" {
				names = append(names, tb.Name)
			}
		}
		for _, st := range searchable {
			want = append(want, st.table)
		}
		if !sameSet(names, want) {
			t.Fatalf("tables with a text column = %v, the tests cover %v", names, want)
		}
	})
	t.Run("TextsVectorsAndWindows", func(t *testing.T) {
		s, _ := setup(t, open)
		long := strings.Repeat("aé", hypha.FullTextMaxChars/2) + "ü tail"
		byKey := map[string]*scanExpect{}
		var seqs []int64
		seed := 0
		for step := 1; step <= 3; step++ {
			var recs []*hypha.Record
			var embs []*hypha.Embedding
			var exps []*scanExpect
			for i, st := range searchable {
				for _, grove := range []string{"g", "h"} {
					for _, kind := range []string{"vec", "novec", "wrong", "notext"} {
						seed++
						data := map[string]any{
							hypha.ColProject:       projectID(step*10 + i),
							"created_at":           int64(1000 + seed),
							hypha.ColSharingPolicy: []string{hypha.SharingPrivate, hypha.SharingCrossGrove, hypha.SharingPublic}[seed%3],
							st.column:              fmt.Sprintf("%s %s %s step %d", grove, st.table, kind, step),
						}
						if kind == "notext" {
							delete(data, st.column)
						}
						if step == 2 && kind == "vec" && st.table == "spores" {
							data[st.column] = long
						}
						for _, col := range docMeta[st.table] {
							data[col] = fmt.Sprintf("%s-%d", col, seed)
						}
						r := record(t, st.table, grove, "m", fmt.Sprintf("%s-%d", kind, step), data)
						recs = append(recs, r)
						e := &scanExpect{doc: hypha.NewSearchDoc(r), seed: seed, alive: true}
						switch kind {
						case "vec":
							e.dims = 3
						case "wrong":
							e.dims = 4
						}
						if e.dims != 0 {
							embs = append(embs, embedding(e.doc, e.dims, seed))
						}
						exps = append(exps, e)
						byKey[keyString(e.doc.Key)] = e
					}
				}
			}
			mustUpsert(t, s, recs...)
			mustPutEmbeddings(t, s, embs...)
			docs := make([]*hypha.SearchDoc, len(exps))
			for i, e := range exps {
				docs[i] = e.doc
			}
			mustPutDocs(t, s, docs...)
			seq, _ := mustSeq(t, s)
			for _, e := range exps {
				e.seq = seq
			}
			seqs = append(seqs, seq)
		}
		// The long text comes cut to FullTextMaxChars characters.
		longKey := "g/spores/m/vec-2"
		if got := byKey[longKey].doc.Text; got != string([]rune(long)[:hypha.FullTextMaxChars]) {
			t.Fatalf("NewSearchDoc kept %d characters of the long text, want %d", utf8.RuneCountInString(got), hypha.FullTextMaxChars)
		}
		// Records changed since their document was written: the scan
		// reports their text as it is now.
		for _, st := range searchable {
			e := byKey["g/"+st.table+"/m/novec-1"]
			r := record(t, st.table, "g", "m", "novec-1", map[string]any{st.column: "rewritten " + st.table})
			if w := mustUpsert(t, s, r); !w[0] {
				t.Fatalf("rewriting %s was not written", keyString(e.doc.Key))
			}
			// The document keeps the metadata it was written with; only
			// the text comes from the record.
			d := *e.doc
			d.Text = "rewritten " + st.table
			e.doc = &d
		}
		// Records deleted from their tables, their documents left: the
		// scan skips them, not the records of the same id elsewhere
		// (another grove, another table, another step).
		var gone []hypha.RecordKey
		for _, st := range searchable {
			for _, kind := range []string{"vec", "novec"} {
				e := byKey["g/"+st.table+"/m/"+kind+"-3"]
				e.alive = false
				gone = append(gone, e.doc.Key)
			}
		}
		deleted, err := s.DeleteRecords(t.Context(), gone)
		if err != nil || slices.Contains(deleted, false) {
			t.Fatalf("DeleteRecords = %v, %v", deleted, err)
		}

		check := func(after, upTo int64, dims int) {
			t.Helper()
			got := scanDocs(t, s, after, upTo, dims)
			var want []string
			for k, e := range byKey {
				if e.alive && e.seq > after && e.seq <= upTo {
					want = append(want, k)
				}
			}
			if !sameSet(mapKeys(got), want) {
				extra, missing := setDiff(mapKeys(got), want)
				t.Fatalf("ScanSearchDocs(%d, %d, %d) = %d documents, want %d: extra %v, missing %v", after, upTo, dims, len(got), len(want), extra, missing)
			}
			for k, sc := range got {
				e := byKey[k]
				if diff := docDiff(sc.doc, e.doc); diff != "" {
					t.Errorf("ScanSearchDocs(%d, %d, %d): document %s differs: %s", after, upTo, dims, k, diff)
				}
				switch {
				case e.dims == dims && !sameBits(sc.vec, vector(dims, e.seed)):
					t.Errorf("ScanSearchDocs(%d, %d, %d): vector of %s = %v, want %v", after, upTo, dims, k, sc.vec, vector(dims, e.seed))
				case e.dims != dims && sc.vec != nil:
					t.Errorf("ScanSearchDocs(%d, %d, %d): vector of %s = %v, want nil", after, upTo, dims, k, sc.vec)
				}
			}
		}
		last := seqs[2]
		for _, dims := range []int{3, 4, 384} {
			check(-1, last, dims)
		}
		check(0, last, 3)
		check(-1, seqs[0], 3)
		check(0, seqs[0], 4)
		check(seqs[0], seqs[1], 3)
		check(seqs[1], last, 4)
		check(seqs[0], last, 3)
		check(last, last+100, 3)
		check(-1, 0, 3)

		got := scanDocs(t, s, -1, last, 3)
		if d := got[longKey].doc; utf8.RuneCountInString(d.Text) != hypha.FullTextMaxChars || !strings.HasPrefix(long, d.Text) {
			t.Errorf("text of the long document: %d characters, want its first %d", utf8.RuneCountInString(d.Text), hypha.FullTextMaxChars)
		}
		for _, st := range searchable {
			if d := got["g/"+st.table+"/m/notext-1"].doc; d == nil || d.Text != "" {
				t.Errorf("document of a record without text = %+v, want an empty text", d)
			}
			if d := got["g/"+st.table+"/m/novec-1"].doc; d == nil || d.Text != "rewritten "+st.table {
				t.Errorf("document of a rewritten record = %+v, want the record's text now", d)
			}
		}
	})
	t.Run("StopsOnError", func(t *testing.T) {
		s, _ := setup(t, open)
		var docs []*hypha.SearchDoc
		for _, st := range searchable {
			for i := range 3 {
				docs = append(docs, storedTextDoc(t, s, st.table, "g", "m", fmt.Sprintf("r%d", i), "x"))
			}
		}
		mustPutDocs(t, s, docs...)
		stop := errors.New("stop")
		calls := 0
		err := s.ScanSearchDocs(t.Context(), -1, 10, 3, func(*hypha.SearchDoc, []float32) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("ScanSearchDocs with a failing fn = %v after %d calls, want its error after 1", err, calls)
		}
		// A failure later on, in whichever table, stops the scan too.
		calls = 0
		err = s.ScanSearchDocs(t.Context(), -1, 10, 3, func(*hypha.SearchDoc, []float32) error {
			if calls++; calls == 8 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 8 {
			t.Errorf("ScanSearchDocs failing on the 8th document = %v after %d calls, want its error after 8", err, calls)
		}
		// A canceled context stops the scan with its error.
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		calls = 0
		err = s.ScanSearchDocs(ctx, -1, 10, 3, func(*hypha.SearchDoc, []float32) error { calls++; return nil })
		if !errors.Is(err, context.Canceled) || calls != 0 {
			t.Errorf("ScanSearchDocs with a canceled context = %v after %d calls, want context.Canceled", err, calls)
		}
		ctx, cancel = context.WithCancel(t.Context())
		defer cancel()
		calls = 0
		err = s.ScanSearchDocs(ctx, -1, 10, 3, func(*hypha.SearchDoc, []float32) error { calls++; cancel(); return nil })
		if !errors.Is(err, context.Canceled) || calls == 0 || calls == len(docs) {
			t.Errorf("ScanSearchDocs canceled by fn = %v after %d calls, want context.Canceled before the %d documents", err, calls, len(docs))
		}
	})
}

// setDiff returns the elements of got not in want and those of want not
// in got.
func setDiff(got, want []string) (extra, missing []string) {
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	return extra, missing
}

// docDiff describes how got differs from want, "" when it does not.
func docDiff(got, want *hypha.SearchDoc) string {
	var out []string
	field := func(name string, g, w any) {
		if g != w {
			out = append(out, fmt.Sprintf("%s %v, want %v", name, g, w))
		}
	}
	field("key", got.Key, want.Key)
	field("project_id", got.ProjectID, want.ProjectID)
	field("status", got.Status, want.Status)
	field("observation_type", got.ObservationType, want.ObservationType)
	field("session_id", got.SessionID, want.SessionID)
	field("source_path", got.SourcePath, want.SourcePath)
	field("name", got.Name, want.Name)
	field("created_at", got.CreatedAt, want.CreatedAt)
	field("sharing_policy", got.SharingPolicy, want.SharingPolicy)
	if got.Text != want.Text {
		out = append(out, fmt.Sprintf("text of %d characters %.40q, want %d %.40q",
			utf8.RuneCountInString(got.Text), got.Text, utf8.RuneCountInString(want.Text), want.Text))
	}
	return strings.Join(out, "; ")
}
