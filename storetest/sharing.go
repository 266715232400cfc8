package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/hyphateam/hypha"
)

func mustListGrantors(t testing.TB, s hypha.Queries, grantee string) []string {
	t.Helper()
	got, err := s.ListGrantors(t.Context(), grantee)
	if err != nil {
		t.Fatalf("ListGrantors(%s): %v", grantee, err)
	}
	if got == nil {
		t.Fatalf("ListGrantors(%s) returned nil without an error", grantee)
	}
	return got
}

func wantGrantors(t testing.TB, s hypha.Queries, grantee string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := mustListGrantors(t, s, grantee); !slices.Equal(got, want) {
		t.Fatalf("ListGrantors(%s) = %v, want %v", grantee, got, want)
	}
}

func testSharing(t *testing.T, open OpenFunc) {
	t.Run("ShareableTables", func(t *testing.T) {
		var got []string
		for _, tb := range hypha.SyncedTables {
			if tb.Shareable != (tb.Column(hypha.ColSharingPolicy) != nil) {
				t.Errorf("table %s: Shareable = %v, but it has a sharing_policy column: %v", tb.Name, tb.Shareable, !tb.Shareable)
			}
			if tb.Shareable {
				got = append(got, tb.Name)
			}
		}
		if want := []string{"sessions", "spores", "plans", "artifacts", "digest_extracts", "skill_records"}; !sameSet(got, want) {
			t.Errorf("shareable tables = %v, want %v", got, want)
		}
		for _, st := range searchable {
			if !table(t, st.table).Shareable {
				t.Errorf("searchable table %s is not shareable", st.table)
			}
		}
	})
	t.Run("Grants", func(t *testing.T) {
		s, _ := setup(t, open)
		ctx := t.Context()
		wantGrantors(t, s, "b")
		for range 2 { // idempotent
			if err := s.PutGrant(ctx, "a", "b"); err != nil {
				t.Fatalf("PutGrant(a, b): %v", err)
			}
		}
		for _, g := range []string{"d", "c"} {
			if err := s.PutGrant(ctx, g, "b"); err != nil {
				t.Fatalf("PutGrant(%s, b): %v", g, err)
			}
		}
		wantGrantors(t, s, "b", "a", "c", "d")
		wantGrantors(t, s, "a") // a grant has a direction
		wantGrantors(t, s, "B") // and exact grove ids
		if err := s.DeleteGrant(ctx, "c", "b"); err != nil {
			t.Fatalf("DeleteGrant(c, b): %v", err)
		}
		wantGrantors(t, s, "b", "a", "d")
		for _, g := range [][2]string{{"c", "b"}, {"b", "a"}, {"x", "y"}} { // missing: no error
			if err := s.DeleteGrant(ctx, g[0], g[1]); err != nil {
				t.Fatalf("DeleteGrant(%s, %s) of a missing grant: %v", g[0], g[1], err)
			}
		}
		wantGrantors(t, s, "b", "a", "d")
		for _, g := range [][2]string{{"a", "a"}, {"", "b"}, {"a", ""}, {"", ""}} {
			wantCode(t, s.PutGrant(ctx, g[0], g[1]), hypha.EInvalid)
		}
		wantGrantors(t, s, "a")
		wantGrantors(t, s, "")
		// A rolled back grant never was.
		errRollback := errors.New("roll back")
		err := s.InTx(ctx, func(tx hypha.Queries) error {
			if err := tx.PutGrant(ctx, "e", "b"); err != nil {
				return err
			}
			wantGrantors(t, tx, "b", "a", "d", "e")
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v, want the error of fn", err)
		}
		wantGrantors(t, s, "b", "a", "d")
	})
	t.Run("KeywordSearchThroughGrants", func(t *testing.T) {
		// The grants say which groves a search may read from.
		s, _ := setup(t, open)
		for _, g := range []string{"a", "b", "c"} {
			for _, p := range []string{"", hypha.SharingPrivate, hypha.SharingCrossGrove, hypha.SharingPublic} {
				mustPutDocs(t, s, doc(t, "spores", g, "m", "s-"+p, map[string]any{"content": "mushroom", hypha.ColSharingPolicy: p}))
			}
		}
		if err := s.PutGrant(t.Context(), "a", "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.PutGrant(t.Context(), "b", "c"); err != nil {
			t.Fatal(err)
		}
		search := func(grove string, publicOnly bool) []string {
			t.Helper()
			from := mustListGrantors(t, s, grove)
			return hitKeys(mustKeyword(t, s, "mushroom", 50, hypha.VectorFilter{GroveID: grove, SharedFrom: from, PublicOnly: publicOnly}))
		}
		own := func(g string) []string {
			return []string{g + "/spores/m/s-", g + "/spores/m/s-private", g + "/spores/m/s-cross_grove", g + "/spores/m/s-public"}
		}
		for _, c := range []struct {
			grove  string
			public bool
			want   []string
		}{
			{"a", false, own("a")}, // nobody granted a anything
			{"b", false, append(own("b"), "a/spores/m/s-cross_grove")},
			{"c", false, append(own("c"), "b/spores/m/s-cross_grove")}, // grants are not transitive
			{"b", true, []string{"b/spores/m/s-public"}},
			{"c", true, []string{"c/spores/m/s-public"}},
		} {
			if got := search(c.grove, c.public); !sameSet(got, c.want) {
				t.Errorf("grove %s (public only %v) finds %v, want %v", c.grove, c.public, got, c.want)
			}
		}
		if err := s.DeleteGrant(t.Context(), "a", "b"); err != nil {
			t.Fatal(err)
		}
		if got := search("b", false); !sameSet(got, own("b")) {
			t.Errorf("after the grant was withdrawn, grove b finds %v, want %v", got, own("b"))
		}
	})
	t.Run("ListRecords", testListRecordsSharing(open))
}

// testListRecordsSharing: ListRecords with SharedFrom adds the cross_grove
// rows of the named groves, on shareable tables only; PublicOnly keeps the
// grove's public rows, and nothing of a table that cannot have any.
func testListRecordsSharing(open OpenFunc) func(t *testing.T) {
	return func(t *testing.T) {
		s, _ := setup(t, open)
		policies := []string{"", hypha.SharingPrivate, hypha.SharingCrossGrove, hypha.SharingPublic, "CROSS_GROVE"}
		type row struct{ grove, machine, id, policy string }
		var rows []row
		var recs []*hypha.Record
		for _, tb := range hypha.SyncedTables {
			for _, g := range []string{"a", "b", "c"} {
				for i, p := range policies {
					r := row{grove: g, machine: fmt.Sprintf("m%d", i%2), id: fmt.Sprintf("%s-%d", tb.Name, i), policy: p}
					data := map[string]any{}
					if tb.Scope == hypha.ScopeProject {
						data[hypha.ColProject] = projectID(i % 2)
					}
					if p != "" && tb.Shareable {
						data[hypha.ColSharingPolicy] = p
					}
					if !tb.Shareable {
						r.policy = ""
					}
					rows = append(rows, r)
					recs = append(recs, record(t, tb.Name, g, r.machine, r.id, data))
				}
			}
		}
		mustUpsert(t, s, recs...)
		list := func(t *testing.T, f hypha.RecordFilter) []string {
			t.Helper()
			f.Limit = 1000
			got, err := s.ListRecords(t.Context(), f)
			if err != nil {
				t.Fatalf("ListRecords(%+v): %v", f, err)
			}
			out := []string{}
			for _, r := range got {
				if r.Table != f.Table {
					t.Fatalf("ListRecords(%s) returned a row of %v", f.Table.Name, r.Table)
				}
				out = append(out, r.GroveID+"/"+r.MachineID+"/"+r.ID)
			}
			return out
		}
		for _, tb := range hypha.SyncedTables {
			t.Run(tb.Name, func(t *testing.T) {
				for _, c := range []struct {
					grove      string
					sharedFrom []string
					public     bool
					machine    string
					project    string
				}{
					{"b", nil, false, "", ""}, {"b", []string{"a"}, false, "", ""}, {"b", []string{"a", "c", "b", "", "a"}, false, "", ""},
					{"b", []string{"a"}, false, "m0", ""}, {"b", []string{"a", "c"}, false, "", projectID(0)},
					{"b", nil, true, "", ""}, {"b", []string{"a", "c"}, true, "", ""}, {"d", []string{"a"}, false, "", ""},
					{"d", nil, false, "", ""}, {"d", nil, true, "", ""},
				} {
					f := hypha.RecordFilter{Table: tb, GroveID: c.grove, SharedFrom: c.sharedFrom, PublicOnly: c.public,
						MachineID: c.machine, ProjectID: c.project}
					if tb.Scope != hypha.ScopeProject && c.project != "" {
						continue
					}
					want := []string{}
					for i, r := range rows {
						if recs[i].Table != tb {
							continue
						}
						visible := r.grove == c.grove || tb.Shareable && slices.Contains(c.sharedFrom, r.grove) && r.policy == hypha.SharingCrossGrove
						if c.public && r.policy != hypha.SharingPublic {
							visible = false
						}
						if visible && (c.machine == "" || r.machine == c.machine) && (c.project == "" || recs[i].ProjectID == c.project) {
							want = append(want, r.grove+"/"+r.machine+"/"+r.id)
						}
					}
					if got := list(t, f); !sameSet(got, want) {
						t.Errorf("ListRecords(grove %s, shared from %v, public only %v, machine %q, project %q) = %v, want %v",
							c.grove, c.sharedFrom, c.public, c.machine, c.project, got, want)
					}
				}
			})
		}
	}
}
