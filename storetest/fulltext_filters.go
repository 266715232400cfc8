package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hyphateam/hypha"
)

// ftRecord is one record of the filter fixture and what its filters see.
type ftRecord struct {
	table, grove, machine, id                     string
	project, status, obsType, session, path, name string
	created                                       *int64 // nil: not sent
}

// has reports whether the record's table has the named column: a filter
// on a column the table lacks never matches (reference §6.3).
func (r *ftRecord) has(column string) bool { return hypha.LookupTable(r.table).Column(column) != nil }

// indexed reports whether the record has searchable text.
func (r *ftRecord) indexed() bool { return r.table != "spores" || r.status == "active" }

// matches is the filter semantics of hypha.VectorFilter, written out.
func (r *ftRecord) matches(f hypha.VectorFilter) bool {
	if !r.indexed() || r.grove != f.GroveID {
		return false
	}
	if len(f.Tables) > 0 && !slices.Contains(f.Tables, r.table) {
		return false
	}
	for _, eq := range []struct{ column, want, got string }{
		{"project_id", f.ProjectID, r.project}, {"machine_id", f.MachineID, r.machine}, {"status", f.Status, r.status},
		{"observation_type", f.ObservationType, r.obsType}, {"session_id", f.SessionID, r.session},
		{"source_path", f.SourcePath, r.path}, {"name", f.Name, r.name},
	} {
		common := eq.column == "project_id" || eq.column == "machine_id"
		if eq.want != "" && (!common && !r.has(eq.column) || eq.got != eq.want) {
			return false
		}
	}
	if f.Since != 0 || f.Until != 0 {
		if r.created == nil || *r.created == 0 || f.Since != 0 && *r.created < f.Since || f.Until != 0 && *r.created > f.Until {
			return false
		}
	}
	return true
}

// filterFixture builds the records of two groves: the same keys in both,
// with values drawn differently, so a record leaking from the other grove
// shows as a wrong or duplicate key.
func filterFixture(t *testing.T) ([]*ftRecord, []*hypha.Record) {
	var fx []*ftRecord
	var recs []*hypha.Record
	for gi, grove := range []string{"grove_a", "grove_b"} {
		rng := rand.New(rand.NewPCG(uint64(gi)+1, 99))
		pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
		for i := range 60 {
			st := searchable[i%len(searchable)]
			r := &ftRecord{table: st.table, grove: grove, machine: pick("m1", "m2"), id: fmt.Sprintf("r%02d", i),
				project: pick(projectID(1), projectID(2)), status: pick("active", "active", "completed"),
				obsType: pick("decision", "gotcha"), session: pick("sess1", "sess2"), path: pick("a.md", "b.md"), name: pick("n1", "n2")}
			if st.table == "spores" {
				r.status = pick("active", "active", "archived")
			}
			data := map[string]any{hypha.ColProject: r.project, st.column: "lichen " + pick("crust", "fruticose"),
				"status": r.status, "observation_type": r.obsType, "session_id": r.session, "source_path": r.path, "name": r.name}
			if c := rng.IntN(5); c > 0 {
				v := int64((c - 1) * 100) // 0, 100, 200, 300; c = 0: not sent
				r.created = &v
				data["created_at"] = v
			}
			fx = append(fx, r)
			recs = append(recs, record(t, r.table, r.grove, r.machine, r.id, data))
		}
	}
	return fx, recs
}

func testFullTextFilters(t *testing.T, open OpenFunc) {
	s, _ := setup(t, open)
	fx, recs := filterFixture(t)
	mustUpsert(t, s, recs...)

	check := func(t *testing.T, f hypha.VectorFilter) {
		t.Helper()
		want := []string{}
		for _, r := range fx {
			if r.matches(f) {
				want = append(want, r.table+"/"+r.machine+"/"+r.id)
			}
		}
		hits := mustKeyword(t, s, "lichen", hypha.MaxVectorTopK, f)
		for _, h := range hits {
			if h.Key.GroveID != f.GroveID {
				t.Fatalf("filter %+v: hit %s of grove %q", f, hitKey(h), h.Key.GroveID)
			}
		}
		if got := hitKeys(hits); !sameSet(got, want) {
			t.Fatalf("filter %+v:\n got  %v\n want %v", f, got, want)
		}
	}

	var cases []hypha.VectorFilter
	for _, g := range []string{"grove_a", "grove_b"} {
		base := hypha.VectorFilter{GroveID: g}
		cases = append(cases, base, hypha.VectorFilter{GroveID: g, SharedFrom: []string{"grove_a", "grove_b"}})
		for _, tables := range [][]string{{"spores"}, {"plans", "artifacts"}, {"spores", "spores"}, {"entities"}, {"nope"}, {""}, {"", "sessions"}} {
			cases = append(cases, hypha.VectorFilter{GroveID: g, Tables: tables})
		}
		for _, set := range []func(f *hypha.VectorFilter, v string){
			func(f *hypha.VectorFilter, v string) { f.ProjectID = v }, func(f *hypha.VectorFilter, v string) { f.MachineID = v },
			func(f *hypha.VectorFilter, v string) { f.Status = v }, func(f *hypha.VectorFilter, v string) { f.ObservationType = v },
			func(f *hypha.VectorFilter, v string) { f.SessionID = v }, func(f *hypha.VectorFilter, v string) { f.SourcePath = v },
			func(f *hypha.VectorFilter, v string) { f.Name = v },
		} {
			for _, v := range []string{projectID(1), "m1", "active", "completed", "archived", "decision", "sess2", "a.md", "n1", "nope"} {
				f := base
				set(&f, v)
				cases = append(cases, f)
			}
		}
		for _, r := range [][2]int64{{100, 0}, {0, 200}, {150, 250}, {1, 0}, {0, -1}, {300, 100}, {200, 200}} {
			cases = append(cases, hypha.VectorFilter{GroveID: g, Since: r[0], Until: r[1]})
		}
	}
	// Random combinations of every field, including a grove with no
	// records and "shared" groves, which are not applied yet.
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	for range 300 {
		f := hypha.VectorFilter{GroveID: pick("grove_a", "grove_b", "grove_a", "grove_b", "grove_c"),
			ProjectID: pick("", "", projectID(1), projectID(2)), MachineID: pick("", "", "m1", "m2"),
			Status: pick("", "", "", "active", "completed"), ObservationType: pick("", "", "", "", "decision"),
			SessionID: pick("", "", "", "", "sess1"), SourcePath: pick("", "", "", "", "b.md"), Name: pick("", "", "", "", "n2"),
			Since: []int64{0, 0, 0, 100, 200}[rng.IntN(5)], Until: []int64{0, 0, 0, 200, 300}[rng.IntN(5)]}
		if rng.IntN(3) == 0 {
			f.Tables = []string{searchable[rng.IntN(5)].table, searchable[rng.IntN(5)].table}
		}
		if rng.IntN(2) == 0 {
			f.SharedFrom = []string{pick("grove_a", "grove_b")}
		}
		cases = append(cases, f)
	}
	nonEmpty := 0
	for _, f := range cases {
		check(t, f)
		for _, r := range fx {
			if r.matches(f) {
				nonEmpty++
				break
			}
		}
	}
	if nonEmpty < len(cases)/3 {
		t.Fatalf("only %d of %d filters match anything: the fixture does not exercise them", nonEmpty, len(cases))
	}
}
