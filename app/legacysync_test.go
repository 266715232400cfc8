package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

// capturedSync is one POST /sync that Myco 0.12.10 sent (testdata, from
// the shared myco-wire capture).
type capturedSync struct {
	Seq  int `json:"seq"`
	Body struct {
		Protocol  int               `json:"sync_protocol_version"`
		MachineID string            `json:"machine_id"`
		Records   []json.RawMessage `json:"records"`
	} `json:"body"`
}

func loadCapturedSyncs(t *testing.T) []capturedSync {
	t.Helper()
	f, err := os.Open("testdata/myco_0.12.10_sync.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capturedSync
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c capturedSync
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil || len(out) != 4 {
		t.Fatalf("captured /sync requests: %d, %v", len(out), err)
	}
	return out
}

// TestSync_Myco0_12RowsLand replays, in order, every POST /sync the Myco
// 0.12.10 daemon sent: its rows carry no project_id, and each must be
// stored (the daemon re-sends a batch forever until synced or skipped
// counts it), in the project derived from its root.
func TestSync_Myco0_12RowsLand(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		grove := hypha.DefaultGroveID // these clients send no X-Grove-ID
		for _, c := range loadCapturedSyncs(t) {
			res, err := s.Enqueue(ctx, grove, &app.EnqueueRequest{Protocol: c.Body.Protocol, MachineID: c.Body.MachineID, Records: c.Body.Records})
			if err != nil {
				t.Fatalf("seq %d: %v", c.Seq, err)
			}
			if len(res.Rejected) != 0 || res.Accepted != len(c.Body.Records) || res.Written+res.Unchanged+res.Deleted == 0 {
				t.Fatalf("seq %d: %+v, want every one of %d records accepted", c.Seq, res, len(c.Body.Records))
			}
		}
		webshop := hypha.LegacyProjectID(grove, "/home/dana/src/webshop")
		def := hypha.DefaultProjectID(grove)
		for _, want := range []struct {
			table, id, machine, project string
		}{
			{"sessions", "sess-old-1", "olduser_0a1b2c", def}, // project_root null
			{"prompt_batches", "1", "olduser_0a1b2c", def},
			{"spores", "decision-old2", "olduser_0a1b2c", def},
			{"graph_edges", "80796a6d-2df9-450f-936a-c959fc4e0748", "olduser_0a1b2c", def},
			{"resolution_events", "res-old-1", "olduser_0a1b2c", def},
			{"entities", "ent-old-1", "olduser_0a1b2c", def},
			{"plans", "plan-old-1", "olduser_0a1b2c", def},
			// data.machine_id is "local" in these rows: the record's key wins.
			{"sessions", "sess-real-1", "realdaemon_d00d01", webshop},
			{"sessions", "sess-real-2", "realdaemon_d00d01", webshop},
			{"spores", "gotcha-9727c334", "realdaemon_d00d01", def}, // spores carry no root
		} {
			got, err := db.FindRecord(ctx, hypha.RecordKey{Table: hypha.LookupTable(want.table), GroveID: grove, MachineID: want.machine, ID: want.id})
			if err != nil || got.ProjectID != want.project {
				t.Errorf("%s %s/%s: project %v, err %v; want %s", want.table, want.machine, want.id, got, err, want.project)
			}
		}
		if got, _ := db.FindRecord(ctx, hypha.RecordKey{Table: hypha.LookupTable("spores"), GroveID: grove, MachineID: "olduser_0a1b2c", ID: "decision-old2"}); got == nil || got.Value("status") != "superseded" {
			t.Errorf("the later of two upserts in a batch must win: %v", got)
		}
		projects, err := db.ListProjects(ctx, grove)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, p := range projects {
			names[p.ID] = p.Name
		}
		if len(names) != 2 || names[webshop] != "webshop" || names[def] != hypha.DefaultProjectName {
			t.Fatalf("projects = %v, want %s webshop and %s default", names, webshop, def)
		}
	})
}

// TestSync_LegacyProjects: how rows of protocol 1 and 2 clients are filed,
// and that protocol 3 keeps upstream's rule.
func TestSync_LegacyProjects(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		const g = "g1"
		repo := hypha.LegacyProjectID(g, "/home/x/repo")
		win := hypha.LegacyProjectID(g, `C:\Users\x\repo`)
		def := hypha.DefaultProjectID(g)
		session := func(id string, data map[string]any) json.RawMessage {
			d := map[string]any{"agent": "claude-code", "started_at": 1, "created_at": 1}
			for k, v := range data {
				d[k] = v
			}
			return rec("sessions", "upsert", id, "m1", d)
		}
		tests := []struct {
			name     string
			protocol int
			raw      json.RawMessage
			want     string // project id; "" when rejected
			reject   string
		}{
			{"no project, no root", 1, session("a1", nil), def, ""},
			{"null root", 1, session("a2", map[string]any{"project_root": nil}), def, ""},
			{"blank root", 2, session("a3", map[string]any{"project_root": "  "}), def, ""},
			{"root", 1, session("a4", map[string]any{"project_root": "/home/x/repo"}), repo, ""},
			{"root with trailing slashes", 2, session("a5", map[string]any{"project_root": "/home/x/repo//"}), repo, ""},
			{"windows root", 1, session("a6", map[string]any{"project_root": `C:\Users\x\repo\`}), win, ""},
			{"windows root, slashes", 1, session("a7", map[string]any{"project_root": "C:/Users/x/repo"}), win, ""},
			{"valid project id kept", 1, session("a8", map[string]any{"project_id": projA, "project_root": "/home/x/repo"}), projA, ""},
			{"path as project id", 1, spore("a9", "c", "project_id", "/home/x/repo/"), repo, ""},
			{"path as project id wins over root", 2, session("a10", map[string]any{"project_id": "/home/x/repo", "project_root": "/elsewhere"}), repo, ""},
			{"null project id, root", 1, session("a11", map[string]any{"project_id": nil, "project_root": "/home/x/repo"}), repo, ""},
			{"number project id, root", 1, session("a12", map[string]any{"project_id": 42, "project_root": "/home/x/repo"}), repo, ""},
			{"empty project id", 1, spore("a13", "c", "project_id", ""), def, ""},
			{"NUL in the root", 1, session("a14", map[string]any{"project_root": "/home/\x00x"}), "", "NUL"},
			{"protocol 3: no project", 3, session("a15", map[string]any{"project_root": "/home/x/repo"}), "", "got undefined"},
			{"protocol 3: path as project id", 3, spore("a16", "c", "project_id", "/Users/chris/repo"), "", `got "/Users/chris/repo"`},
		}
		for _, tt := range tests {
			res := enqueue(t, s, g, tt.protocol, tt.raw)
			if tt.reject != "" {
				if res.Accepted != 0 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error, tt.reject) {
					t.Errorf("%s: %+v, want a rejection containing %q", tt.name, res, tt.reject)
				}
				continue
			}
			if res.Accepted != 1 || len(res.Rejected) != 0 {
				t.Errorf("%s: %+v, want it accepted", tt.name, res)
				continue
			}
			var w struct{ Table, ID string }
			_ = json.Unmarshal(tt.raw, &w)
			got, err := db.FindRecord(ctx, hypha.RecordKey{Table: hypha.LookupTable(w.Table), GroveID: g, MachineID: "m1", ID: w.ID})
			if err != nil || got.ProjectID != tt.want {
				t.Errorf("%s: project %v (%v), want %s", tt.name, got, err, tt.want)
			}
		}
		if repo == win || repo == def || hypha.LegacyProjectID("g2", "/home/x/repo") == repo {
			t.Fatal("derived projects must differ by root and by grove")
		}
		// A legacy delete is keyed by id alone, whatever its project_id.
		res := enqueue(t, s, g, 1, rec("spores", "delete", "a9", "m1", map[string]any{"project_id": "/home/x/repo"}))
		if res.Accepted != 1 || res.Deleted != 1 {
			t.Fatalf("legacy delete: %+v", res)
		}
		// A valid project of another grove stays refused: a project lives in
		// one grove.
		enqueue(t, s, "g2", 3, rec("plans", "upsert", "p1", "m1", map[string]any{"project_id": projB, "content": "x"}))
		res = enqueue(t, s, g, 1, rec("plans", "upsert", "p1", "m1", map[string]any{"project_id": projB, "content": "x"}))
		if res.Accepted != 0 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error, "belongs to another grove") {
			t.Fatalf("legacy row into another grove's project: %+v", res)
		}
		projects, err := db.ListProjects(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, p := range projects {
			names[p.ID] = p.Name
		}
		want := map[string]string{def: "default", repo: "repo", win: "repo", projA: ""}
		if len(names) != len(want) {
			t.Fatalf("projects = %v, want %v", names, want)
		}
		for id, name := range want {
			if n, ok := names[id]; !ok || n != name {
				t.Errorf("project %s named %q (listed: %v), want %q", id, n, ok, name)
			}
		}
	})
}
