package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hyphateam/hypha"
)

// docMeta lists, per searchable table, the filter metadata the reference
// attaches to its vectors (§6.3) besides project_id and machine_id: a
// filter on anything else never matches a document of the table.
var docMeta = map[string][]string{
	"spores":        {"status", "observation_type", "session_id"},
	"sessions":      {"status"},
	"plans":         {"status", "session_id", "source_path"},
	"artifacts":     {"source_path"},
	"skill_records": {"status", "name"},
}

// fxDoc is one document of the filter fixture and what filters see of it.
type fxDoc struct {
	table, grove, machine, id                     string
	project, status, obsType, session, path, name string
	created                                       *int64 // nil: not sent
	policy                                        string // sharing_policy as sent
}

func (d *fxDoc) key() string { return d.grove + "/" + d.table + "/" + d.machine + "/" + d.id }

// visible is the sharing rule of hypha.VectorFilter, written out: the
// caller's grove, plus the cross_grove documents of the groves in
// SharedFrom; with PublicOnly, public documents only.
func (d *fxDoc) visible(f hypha.VectorFilter) bool {
	if f.PublicOnly && d.policy != hypha.SharingPublic {
		return false
	}
	return d.grove == f.GroveID || slices.Contains(f.SharedFrom, d.grove) && d.policy == hypha.SharingCrossGrove
}

// matches is the filter semantics of hypha.VectorFilter, written out.
func (d *fxDoc) matches(f hypha.VectorFilter) bool {
	if !d.visible(f) {
		return false
	}
	if len(f.Tables) > 0 && !slices.Contains(f.Tables, d.table) {
		return false
	}
	for _, eq := range []struct{ column, want, got string }{
		{"project_id", f.ProjectID, d.project}, {"machine_id", f.MachineID, d.machine}, {"status", f.Status, d.status},
		{"observation_type", f.ObservationType, d.obsType}, {"session_id", f.SessionID, d.session},
		{"source_path", f.SourcePath, d.path}, {"name", f.Name, d.name},
	} {
		common := eq.column == "project_id" || eq.column == "machine_id"
		if eq.want != "" && (!common && !slices.Contains(docMeta[d.table], eq.column) || eq.got != eq.want) {
			return false
		}
	}
	if f.Since != 0 || f.Until != 0 {
		if d.created == nil || *d.created == 0 || f.Since != 0 && *d.created < f.Since || f.Until != 0 && *d.created > f.Until {
			return false
		}
	}
	return true
}

// filterGroves are the groves of the filter fixture; grove_d has none.
var filterGroves = []string{"grove_a", "grove_b", "grove_c"}

// filterFixture builds the documents of three groves: the same keys in
// each, with values and sharing policies drawn differently, so a document
// leaking from another grove shows as a wrong or duplicate key.
func filterFixture(t *testing.T) ([]*fxDoc, []*hypha.SearchDoc) {
	var fx []*fxDoc
	var docs []*hypha.SearchDoc
	for gi, grove := range filterGroves {
		rng := rand.New(rand.NewPCG(uint64(gi)+1, 99))
		pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
		for i := range 60 {
			st := searchable[i%len(searchable)]
			d := &fxDoc{table: st.table, grove: grove, machine: pick("m1", "m2"), id: fmt.Sprintf("r%02d", i),
				project: pick(projectID(1), projectID(2)), status: pick("active", "active", "completed"),
				obsType: pick("decision", "gotcha"), session: pick("sess1", "sess2"), path: pick("a.md", "b.md"), name: pick("n1", "n2"),
				policy: pick("", hypha.SharingPrivate, hypha.SharingCrossGrove, hypha.SharingCrossGrove, hypha.SharingPublic, "Public")}
			data := map[string]any{hypha.ColProject: d.project, st.column: "lichen " + pick("crust", "fruticose"),
				"status": d.status, "observation_type": d.obsType, "session_id": d.session, "source_path": d.path, "name": d.name}
			if d.policy != "" {
				data[hypha.ColSharingPolicy] = d.policy
			}
			if c := rng.IntN(5); c > 0 {
				v := int64((c - 1) * 100) // 0, 100, 200, 300; c = 0: not sent
				d.created = &v
				data["created_at"] = v
			}
			fx = append(fx, d)
			docs = append(docs, doc(t, d.table, d.grove, d.machine, d.id, data))
		}
	}
	return fx, docs
}

// testKeywordFilters checks every filter field, alone and combined, and
// the sharing rules under all of them, against the semantics written out
// in fxDoc: no hit of another grove, ever, but the cross_grove documents
// of the groves the filter names.
func testKeywordFilters(t *testing.T, open OpenFunc) {
	s, _ := setup(t, open)
	fx, docs := filterFixture(t)
	mustPutDocs(t, s, docs...)
	policyOf := map[string]string{}
	for _, d := range fx {
		policyOf[d.key()] = d.policy
	}

	check := func(t *testing.T, f hypha.VectorFilter) bool {
		t.Helper()
		want := []string{}
		for _, d := range fx {
			if d.matches(f) {
				want = append(want, d.key())
			}
		}
		hits := mustKeyword(t, s, "lichen", hypha.MaxVectorTopK, f)
		for _, h := range hits {
			k := keyString(h.Key)
			own := h.Key.GroveID == f.GroveID
			shared := slices.Contains(f.SharedFrom, h.Key.GroveID) && policyOf[k] == hypha.SharingCrossGrove
			if !own && !shared || f.PublicOnly && policyOf[k] != hypha.SharingPublic {
				t.Fatalf("filter %+v: hit %s (sharing policy %q) is not visible to grove %q", f, k, policyOf[k], f.GroveID)
			}
		}
		if got := hitKeys(hits); !sameSet(got, want) {
			t.Fatalf("filter %+v:\n got  %v\n want %v", f, got, want)
		}
		return len(want) > 0
	}

	var cases []hypha.VectorFilter
	sharings := []struct {
		from   []string
		public bool
		fields bool // every field filter under this sharing, too
	}{
		{nil, false, true}, {nil, true, false}, {[]string{"grove_a", "grove_b", "grove_c"}, false, true},
		{[]string{"grove_c"}, false, false}, {[]string{"grove_a", "grove_b", "grove_c"}, true, true},
	}
	for _, sh := range sharings { // a grove without documents of its own
		cases = append(cases, hypha.VectorFilter{GroveID: "grove_d", SharedFrom: sh.from, PublicOnly: sh.public})
	}
	for _, g := range filterGroves {
		for _, sh := range sharings {
			base := hypha.VectorFilter{GroveID: g, SharedFrom: sh.from, PublicOnly: sh.public}
			cases = append(cases, base)
			for _, tables := range [][]string{{"spores"}, {"plans", "artifacts"}, {"spores", "spores"}, {"entities"}, {"digest_extracts"}, {"nope"}, {""}, {"", "sessions"}} {
				f := base
				f.Tables = tables
				cases = append(cases, f)
			}
			if !sh.fields {
				continue
			}
			for _, set := range []func(f *hypha.VectorFilter, v string){
				func(f *hypha.VectorFilter, v string) { f.ProjectID = v }, func(f *hypha.VectorFilter, v string) { f.MachineID = v },
				func(f *hypha.VectorFilter, v string) { f.Status = v }, func(f *hypha.VectorFilter, v string) { f.ObservationType = v },
				func(f *hypha.VectorFilter, v string) { f.SessionID = v }, func(f *hypha.VectorFilter, v string) { f.SourcePath = v },
				func(f *hypha.VectorFilter, v string) { f.Name = v },
			} {
				for _, v := range []string{projectID(1), "m1", "active", "completed", "decision", "sess2", "a.md", "n1", "nope"} {
					f := base
					set(&f, v)
					cases = append(cases, f)
				}
			}
			for _, r := range [][2]int64{{100, 0}, {0, 200}, {150, 250}, {1, 0}, {0, -1}, {300, 100}, {200, 200}, {-5, 0}} {
				f := base
				f.Since, f.Until = r[0], r[1]
				cases = append(cases, f)
			}
		}
	}
	// Random combinations of every field, the sharing ones included.
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	for range 250 {
		f := hypha.VectorFilter{GroveID: pick("grove_a", "grove_b", "grove_c", "grove_d"),
			ProjectID: pick("", "", projectID(1), projectID(2)), MachineID: pick("", "", "m1", "m2"),
			Status: pick("", "", "", "active", "completed"), ObservationType: pick("", "", "", "", "decision"),
			SessionID: pick("", "", "", "", "sess1"), SourcePath: pick("", "", "", "", "b.md"), Name: pick("", "", "", "", "n2"),
			Since: []int64{0, 0, 0, 100, 200}[rng.IntN(5)], Until: []int64{0, 0, 0, 200, 300}[rng.IntN(5)],
			PublicOnly: rng.IntN(4) == 0}
		if rng.IntN(3) == 0 {
			f.Tables = []string{searchable[rng.IntN(5)].table, searchable[rng.IntN(5)].table}
		}
		for range rng.IntN(4) {
			f.SharedFrom = append(f.SharedFrom, pick("grove_a", "grove_b", "grove_c", "grove_d", ""))
		}
		cases = append(cases, f)
	}
	nonEmpty, shared := 0, 0
	for _, f := range cases {
		if check(t, f) {
			nonEmpty++
		}
		for _, d := range fx {
			if d.grove != f.GroveID && d.matches(f) {
				shared++
				break
			}
		}
	}
	t.Logf("%d filters: %d match documents, %d match another grove's", len(cases), nonEmpty, shared)
	if nonEmpty < len(cases)/4 || shared < len(cases)/10 {
		t.Fatalf("%d of %d filters match anything, %d match another grove's documents: the fixture does not exercise them",
			nonEmpty, len(cases), shared)
	}
}
