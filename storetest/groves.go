package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
)

func testGroves(t *testing.T, open OpenFunc) {
	t.Run("CreateThenFind", func(t *testing.T) {
		s, c := setup(t, open)
		g := &hypha.Grove{ID: "user_primary", Name: "Primary"}
		if err := s.CreateGrove(t.Context(), g); err != nil {
			t.Fatalf("CreateGrove: %v", err)
		}
		got, err := s.FindGroveByID(t.Context(), "user_primary")
		if err != nil {
			t.Fatalf("FindGroveByID: %v", err)
		}
		want := &hypha.Grove{ID: "user_primary", Name: "Primary", CreatedAt: c.Unix()}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("FindGroveByID = %+v, want %+v (created_at from the store clock)", got, want)
		}
	})
	t.Run("CreateDuplicateIsConflict", func(t *testing.T) {
		s, _ := setup(t, open)
		if err := s.CreateGrove(t.Context(), &hypha.Grove{ID: "team", Name: "First"}); err != nil {
			t.Fatalf("CreateGrove: %v", err)
		}
		err := s.CreateGrove(t.Context(), &hypha.Grove{ID: "team", Name: "Second"})
		wantCode(t, err, hypha.EConflict)
		got, err := s.FindGroveByID(t.Context(), "team")
		if err != nil {
			t.Fatalf("FindGroveByID: %v", err)
		}
		if got.Name != "First" {
			t.Fatalf("name = %q after a refused create, want First", got.Name)
		}
	})
	t.Run("CreateDefaultIsConflict", func(t *testing.T) {
		s, _ := setup(t, open)
		wantCode(t, s.CreateGrove(t.Context(), &hypha.Grove{ID: hypha.DefaultGroveID, Name: "again"}), hypha.EConflict)
	})
	t.Run("EnsureIsIdempotent", func(t *testing.T) {
		s, c := setup(t, open)
		first, err := s.EnsureGrove(t.Context(), &hypha.Grove{ID: "team", Name: "First"})
		if err != nil {
			t.Fatalf("EnsureGrove: %v", err)
		}
		c.Advance(time.Minute)
		second, err := s.EnsureGrove(t.Context(), &hypha.Grove{ID: "team", Name: "Second"})
		if err != nil {
			t.Fatalf("second EnsureGrove: %v", err)
		}
		want := &hypha.Grove{ID: "team", Name: "First", CreatedAt: start.Unix()}
		if !reflect.DeepEqual(first, want) || !reflect.DeepEqual(second, want) {
			t.Fatalf("EnsureGrove = %+v then %+v, want %+v both times", first, second, want)
		}
		groves, err := s.ListGroves(t.Context())
		if err != nil {
			t.Fatalf("ListGroves: %v", err)
		}
		if len(groves) != 2 {
			t.Fatalf("ListGroves has %d groves, want default and team", len(groves))
		}
	})
	t.Run("FindMissingIsNotFound", func(t *testing.T) {
		s, _ := setup(t, open)
		g, err := s.FindGroveByID(t.Context(), "nope")
		wantCode(t, err, hypha.ENotFound)
		if g != nil {
			t.Fatalf("FindGroveByID returned %+v with its error", g)
		}
	})
	t.Run("ListIncludesSeededDefault", func(t *testing.T) {
		s, _ := setup(t, open)
		mustGrove(t, s, "b_grove")
		mustGrove(t, s, "a_grove")
		groves, err := s.ListGroves(t.Context())
		if err != nil {
			t.Fatalf("ListGroves: %v", err)
		}
		var ids []string
		defaults := 0
		for _, g := range groves {
			ids = append(ids, g.ID)
			if g.IsDefault {
				defaults++
				if g.ID != hypha.DefaultGroveID {
					t.Errorf("grove %q is marked default", g.ID)
				}
			}
		}
		if want := []string{"a_grove", "b_grove", hypha.DefaultGroveID}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("ListGroves ids = %v, want %v", ids, want)
		}
		if defaults != 1 {
			t.Fatalf("%d default groves, want exactly one", defaults)
		}
	})
}

func testProjects(t *testing.T, open OpenFunc) {
	t.Run("ClaimRegistersNewIDs", func(t *testing.T) {
		s, c := setup(t, open)
		mustGrove(t, s, "a")
		p1, p2 := projectID(1), projectID(2)
		owners, err := s.ClaimProjects(t.Context(), "a", []string{p1, p2, p1})
		if err != nil {
			t.Fatalf("ClaimProjects: %v", err)
		}
		if want := map[string]string{p1: "a", p2: "a"}; !reflect.DeepEqual(owners, want) {
			t.Fatalf("owners = %v, want %v", owners, want)
		}
		got, err := s.ListProjects(t.Context(), "a")
		if err != nil {
			t.Fatalf("ListProjects: %v", err)
		}
		want := []*hypha.Project{{ID: p1, GroveID: "a", CreatedAt: c.Unix()}, {ID: p2, GroveID: "a", CreatedAt: c.Unix()}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ListProjects = %v, want %v", fmtProjects(got), fmtProjects(want))
		}
	})
	t.Run("FirstClaimKeepsOwnership", func(t *testing.T) {
		s, _ := setup(t, open)
		mustGrove(t, s, "a")
		mustGrove(t, s, "b")
		p1, p2 := projectID(1), projectID(2)
		if _, err := s.ClaimProjects(t.Context(), "a", []string{p1}); err != nil {
			t.Fatalf("ClaimProjects(a): %v", err)
		}
		owners, err := s.ClaimProjects(t.Context(), "b", []string{p1, p2})
		if err != nil {
			t.Fatalf("ClaimProjects(b): %v", err)
		}
		if want := map[string]string{p1: "a", p2: "b"}; !reflect.DeepEqual(owners, want) {
			t.Fatalf("owners = %v, want %v: p1 stays with grove a", owners, want)
		}
		for grove, want := range map[string][]string{"a": {p1}, "b": {p2}, hypha.DefaultGroveID: nil} {
			if got := projectIDs(t, s, grove); !reflect.DeepEqual(got, want) {
				t.Errorf("ListProjects(%s) = %v, want %v", grove, got, want)
			}
		}
	})
	t.Run("RegisterNamesNewProjectsOnly", func(t *testing.T) {
		s, c := setup(t, open)
		mustGrove(t, s, "a")
		mustGrove(t, s, "b")
		p1, p2, p3 := projectID(1), projectID(2), projectID(3)
		if _, err := s.ClaimProjects(t.Context(), "a", []string{p1}); err != nil {
			t.Fatalf("ClaimProjects: %v", err)
		}
		owners, err := s.RegisterProjects(t.Context(), "a", []*hypha.Project{
			{ID: p1, Name: "renamed"}, {ID: p2, Name: "webshop"}, {ID: p2, Name: "other"}, {ID: p3},
		})
		if err != nil {
			t.Fatalf("RegisterProjects: %v", err)
		}
		if want := map[string]string{p1: "a", p2: "a", p3: "a"}; !reflect.DeepEqual(owners, want) {
			t.Fatalf("owners = %v, want %v", owners, want)
		}
		got, err := s.ListProjects(t.Context(), "a")
		if err != nil {
			t.Fatalf("ListProjects: %v", err)
		}
		want := []*hypha.Project{{ID: p1, GroveID: "a", CreatedAt: c.Unix()}, {ID: p2, GroveID: "a", Name: "webshop", CreatedAt: c.Unix()},
			{ID: p3, GroveID: "a", CreatedAt: c.Unix()}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ListProjects = %v, want %v: an existing project keeps its name, a new one takes the first", fmtProjects(got), fmtProjects(want))
		}
		owners, err = s.RegisterProjects(t.Context(), "b", []*hypha.Project{{ID: p2, Name: "theirs"}})
		if err != nil || owners[p2] != "a" {
			t.Fatalf("RegisterProjects(b) = %v, %v; p2 stays with grove a", owners, err)
		}
	})
	t.Run("ClaimNothing", func(t *testing.T) {
		s, _ := setup(t, open)
		owners, err := s.ClaimProjects(t.Context(), hypha.DefaultGroveID, nil)
		if err != nil {
			t.Fatalf("ClaimProjects(nil): %v", err)
		}
		if len(owners) != 0 {
			t.Fatalf("owners = %v, want none", owners)
		}
	})
	t.Run("ClaimIntoUnknownGroveFails", func(t *testing.T) {
		s, _ := setup(t, open)
		if owners, err := s.ClaimProjects(t.Context(), "no_such_grove", []string{projectID(1)}); err == nil {
			t.Fatalf("ClaimProjects into a grove that does not exist = %v, want an error", owners)
		}
		owners, err := s.ClaimProjects(t.Context(), hypha.DefaultGroveID, []string{projectID(1)})
		if err != nil || owners[projectID(1)] != hypha.DefaultGroveID {
			t.Fatalf("the refused claim registered the project: owners %v, %v", owners, err)
		}
	})
	t.Run("ClaimManyInOneCall", func(t *testing.T) {
		s, _ := setup(t, open)
		mustGrove(t, s, "a")
		mustGrove(t, s, "b")
		var first, all []string
		for i := range 1200 {
			all = append(all, projectID(i))
			if i%2 == 0 {
				first = append(first, projectID(i))
			}
		}
		if _, err := s.ClaimProjects(t.Context(), "a", first); err != nil {
			t.Fatalf("ClaimProjects(a): %v", err)
		}
		owners, err := s.ClaimProjects(t.Context(), "b", all)
		if err != nil {
			t.Fatalf("ClaimProjects(b): %v", err)
		}
		if len(owners) != len(all) {
			t.Fatalf("owners has %d entries, want %d", len(owners), len(all))
		}
		for i, id := range all {
			want := "b"
			if i%2 == 0 {
				want = "a"
			}
			if owners[id] != want {
				t.Fatalf("owner of %s = %q, want %q", id, owners[id], want)
			}
		}
		if n := len(projectIDs(t, s, "b")); n != 600 {
			t.Fatalf("grove b has %d projects, want 600", n)
		}
	})
}

func projectIDs(t testing.TB, s hypha.Queries, grove string) []string {
	t.Helper()
	ps, err := s.ListProjects(t.Context(), grove)
	if err != nil {
		t.Fatalf("ListProjects(%s): %v", grove, err)
	}
	var ids []string
	for _, p := range ps {
		if p.GroveID != grove {
			t.Fatalf("ListProjects(%s) returned %s of grove %s", grove, p.ID, p.GroveID)
		}
		ids = append(ids, p.ID)
	}
	return ids
}

func fmtProjects(ps []*hypha.Project) []hypha.Project {
	out := make([]hypha.Project, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

func testNodes(t *testing.T, open OpenFunc) {
	t.Run("UpsertKeepsRegisteredAt", func(t *testing.T) {
		s, c := setup(t, open)
		registered := c.Unix()
		one, three := int64(1), int64(3)
		n := &hypha.Node{GroveID: "a", MachineID: "m1", DaemonID: "d1", PackageVersion: "1.0.0", SchemaVersion: &one, SyncProtocolVersion: &one}
		if err := s.UpsertNode(t.Context(), n); err != nil {
			t.Fatalf("UpsertNode: %v", err)
		}
		c.Advance(time.Hour)
		refresh := &hypha.Node{GroveID: "a", MachineID: "m1", DaemonID: "d2", PackageVersion: "1.1.0", SchemaVersion: &three, SyncProtocolVersion: &three}
		if err := s.UpsertNode(t.Context(), refresh); err != nil {
			t.Fatalf("second UpsertNode: %v", err)
		}
		want := []hypha.Node{{GroveID: "a", MachineID: "m1", DaemonID: "d2", PackageVersion: "1.1.0", SchemaVersion: &three,
			SyncProtocolVersion: &three, LastSeen: c.Unix(), RegisteredAt: registered}}
		if got := listNodes(t, s, "a"); !reflect.DeepEqual(got, want) {
			t.Fatalf("ListNodes = %+v, want %+v", got, want)
		}
	})
	t.Run("UnknownVersionsStayNil", func(t *testing.T) {
		s, c := setup(t, open)
		if err := s.UpsertNode(t.Context(), &hypha.Node{GroveID: "a", MachineID: "m1"}); err != nil {
			t.Fatalf("UpsertNode: %v", err)
		}
		want := []hypha.Node{{GroveID: "a", MachineID: "m1", LastSeen: c.Unix(), RegisteredAt: c.Unix()}}
		if got := listNodes(t, s, "a"); !reflect.DeepEqual(got, want) {
			t.Fatalf("ListNodes = %+v, want %+v", got, want)
		}
	})
	t.Run("TouchMovesLastSeen", func(t *testing.T) {
		s, c := setup(t, open)
		if err := s.UpsertNode(t.Context(), &hypha.Node{GroveID: "a", MachineID: "m1"}); err != nil {
			t.Fatalf("UpsertNode: %v", err)
		}
		later := c.Unix() + 90
		if err := s.TouchNode(t.Context(), "a", "m1", later); err != nil {
			t.Fatalf("TouchNode: %v", err)
		}
		got := listNodes(t, s, "a")
		if len(got) != 1 || got[0].LastSeen != later || got[0].RegisteredAt != c.Unix() {
			t.Fatalf("ListNodes = %+v, want last_seen %d and registered_at %d", got, later, c.Unix())
		}
	})
	t.Run("TouchNeverCreates", func(t *testing.T) {
		s, c := setup(t, open)
		if err := s.TouchNode(t.Context(), "a", "ghost", c.Unix()); err != nil {
			t.Fatalf("TouchNode of an unknown node: %v", err)
		}
		if got := listNodes(t, s, "a"); len(got) != 0 {
			t.Fatalf("TouchNode created %+v", got)
		}
		n, err := s.CountNodes(t.Context())
		if err != nil || n != 0 {
			t.Fatalf("CountNodes = %d, %v; want 0", n, err)
		}
	})
	t.Run("CountDistinctMachinesAcrossGroves", func(t *testing.T) {
		s, _ := setup(t, open)
		for _, n := range []struct{ grove, machine string }{{"a", "m1"}, {"b", "m1"}, {"a", "m2"}, {"c", "m3"}, {"a", "m1"}} {
			if err := s.UpsertNode(t.Context(), &hypha.Node{GroveID: n.grove, MachineID: n.machine}); err != nil {
				t.Fatalf("UpsertNode(%s/%s): %v", n.grove, n.machine, err)
			}
		}
		n, err := s.CountNodes(t.Context())
		if err != nil {
			t.Fatalf("CountNodes: %v", err)
		}
		if n != 3 {
			t.Fatalf("CountNodes = %d, want 3 distinct machines", n)
		}
		if got := listNodes(t, s, "a"); len(got) != 2 || got[0].MachineID != "m1" || got[1].MachineID != "m2" {
			t.Fatalf("ListNodes(a) = %+v, want m1 and m2", got)
		}
	})
}

func listNodes(t testing.TB, s hypha.Queries, grove string) []hypha.Node {
	t.Helper()
	ns, err := s.ListNodes(t.Context(), grove)
	if err != nil {
		t.Fatalf("ListNodes(%s): %v", grove, err)
	}
	var out []hypha.Node
	for _, n := range ns {
		out = append(out, *n)
	}
	return out
}

func testTeamConfig(t *testing.T, open OpenFunc) {
	t.Run("RoundTripAndOverwrite", func(t *testing.T) {
		s, _ := setup(t, open)
		got, err := s.TeamConfig(t.Context())
		if err != nil {
			t.Fatalf("TeamConfig: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("a new store has team config %v", got)
		}
		steps := []struct {
			put  map[string]string
			want map[string]string
		}{
			{map[string]string{"team.name": "Fungi", "embedding.model": "bge-small", "quote": `it's "fine"; ok`},
				map[string]string{"team.name": "Fungi", "embedding.model": "bge-small", "quote": `it's "fine"; ok`}},
			{map[string]string{"team.name": "Mycelium", "empty": ""},
				map[string]string{"team.name": "Mycelium", "embedding.model": "bge-small", "quote": `it's "fine"; ok`, "empty": ""}},
			{map[string]string{}, map[string]string{"team.name": "Mycelium", "embedding.model": "bge-small", "quote": `it's "fine"; ok`, "empty": ""}},
		}
		for i, st := range steps {
			if err := s.PutTeamConfig(t.Context(), st.put); err != nil {
				t.Fatalf("step %d: PutTeamConfig: %v", i, err)
			}
			got, err := s.TeamConfig(t.Context())
			if err != nil {
				t.Fatalf("step %d: TeamConfig: %v", i, err)
			}
			if !reflect.DeepEqual(got, st.want) {
				t.Fatalf("step %d: TeamConfig = %v, want %v", i, got, st.want)
			}
		}
	})
	// Transactions writing the same keys at once (servers naming the team
	// on their first /connect) wait for each other but never deadlock:
	// rows are written in key order, whatever the map's order.
	t.Run("ConcurrentWritersDoNotDeadlock", func(t *testing.T) {
		s, _ := setup(t, open)
		values := map[string]string{}
		for i := range 8 {
			values[fmt.Sprintf("key_%d", i)] = "v"
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 15 {
					if err := s.InTx(t.Context(), func(tx hypha.Queries) error { return tx.PutTeamConfig(t.Context(), values) }); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}
