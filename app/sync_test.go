package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/search"
)

const projA = "proj_0123456789abcdef0123456789abcdef"
const projB = "proj_fedcba9876543210fedcba9876543210"

func forEachEngine(t *testing.T, fn func(t *testing.T, s *app.Sync, db hypha.Store)) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			db := testdb.MustOpen(t, engine)
			fn(t, &app.Sync{Store: db}, db)
		})
	}
}

// rec builds one wire record.
func rec(table, op, id, machine string, data map[string]any) json.RawMessage {
	m := map[string]any{"table": table, "operation": op, "id": id, "machine_id": machine}
	if data != nil {
		m["data"] = data
	}
	b, _ := json.Marshal(m)
	return b
}

func spore(id, content string, extra ...any) json.RawMessage {
	d := map[string]any{"project_id": projA, "content": content, "status": "active", "agent_id": "a", "observation_type": "gotcha"}
	for i := 0; i+1 < len(extra); i += 2 {
		d[extra[i].(string)] = extra[i+1]
	}
	return rec("spores", "upsert", id, "m1", d)
}

func enqueue(t *testing.T, s *app.Sync, grove string, proto int, recs ...json.RawMessage) *app.EnqueueResult {
	t.Helper()
	res, err := s.Enqueue(context.Background(), grove, &app.EnqueueRequest{Protocol: proto, MachineID: "m1", Records: recs})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return res
}

func TestSync_EnqueueStoresAndQueuesEmbeds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		res := enqueue(t, s, "g1", 3, spore("s1", "first"), spore("s2", "second"),
			rec("sessions", "upsert", "sess1", "m1", map[string]any{"project_id": projA, "agent": "claude", "summary": "", "started_at": 1, "created_at": 1}))
		if res.Accepted != 3 || len(res.Rejected) != 0 || res.Written != 3 || res.Embeds != 2 {
			t.Fatalf("result = %+v, want 3 accepted, 3 written, 2 embeds (empty summary is not embedded)", res)
		}
		got, err := s.FindRecord(ctx, "g1", "spores", "s1", "")
		if err != nil || got.Value("content") != "first" || got.ProjectID != projA {
			t.Fatalf("FindRecord = %+v, %v", got, err)
		}
		counts, err := db.CountJobs(ctx, "g1")
		// Two embeds, and one job for the session without a summary: the
		// consumer makes sure no stale search document of it remains.
		if err != nil || counts.Pending != 3 {
			t.Fatalf("CountJobs = %+v, %v; want 3 pending jobs", counts, err)
		}
		projects, err := db.ListProjects(ctx, "g1")
		if err != nil || len(projects) != 1 || projects[0].ID != projA || projects[0].LastSyncAt == 0 {
			t.Fatalf("projects = %+v, %v", projects, err)
		}
	})
}

func TestSync_Rejections(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		huge := strings.Repeat("x", app.DefaultMaxRecordBytes)
		tests := []struct {
			name string
			raw  json.RawMessage
			want string
		}{
			{"unknown table", rec("notes", "upsert", "n1", "m1", map[string]any{"project_id": projA}), "Unknown table: notes"},
			{"sql in table name", rec("spores; DROP TABLE spores", "upsert", "n1", "m1", map[string]any{"project_id": projA}), "Unknown table"},
			{"null project", rec("spores", "upsert", "s1", "m1", map[string]any{"project_id": nil}), "Invalid project_id: expected proj_<32 hex chars>, got null"},
			{"path project", rec("spores", "upsert", "s1", "m1", map[string]any{"project_id": "/Users/x/repo"}), `got "/Users/x/repo"`},
			{"missing project", rec("spores", "upsert", "s1", "m1", map[string]any{"content": "c"}), "got undefined"},
			{"unknown operation", rec("spores", "merge", "s1", "m1", map[string]any{"project_id": projA}), "Unknown operation"},
			{"missing id", rec("spores", "upsert", "", "m1", map[string]any{"project_id": projA}), "id is required"},
			{"object id", json.RawMessage(`{"table":"spores","operation":"upsert","id":{"a":1},"data":{"project_id":"` + projA + `"}}`), "id must be a string or an integer"},
			{"not an object", json.RawMessage(`"hello"`), "not a JSON object"},
			{"data not an object", json.RawMessage(`{"table":"spores","operation":"upsert","id":"s1","data":[1,2]}`), "data must be a JSON object"},
			{"wrong type", spore("s1", "c", "importance", "very"), "field importance: expected an integer"},
			{"too large", spore("s1", huge), "over the 1048576-byte limit"},
			{"NUL in text", spore("s1", "a\x00b"), "NUL"},
		}
		for _, tt := range tests {
			res := enqueue(t, s, "g1", 3, tt.raw)
			if res.Accepted != 0 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error, tt.want) {
				t.Errorf("%s: result %+v, want one rejection containing %q", tt.name, res, tt.want)
			}
		}
		// A project lives in one grove.
		enqueue(t, s, "g1", 3, spore("s1", "c"))
		res := enqueue(t, s, "g2", 3, spore("s9", "c"))
		if res.Accepted != 0 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error, "belongs to another grove") {
			t.Fatalf("cross-grove project: %+v", res)
		}
		// Machine-scoped tables need no project.
		res = enqueue(t, s, "g1", 3, rec("team_members", "upsert", "tm1", "m1", map[string]any{"user": "ana", "role": "dev"}))
		if res.Accepted != 1 {
			t.Fatalf("team_members: %+v", res)
		}
		if got, _ := db.CountRecords(context.Background(), "g1", ""); got["spores"] != 1 || got["team_members"] != 1 {
			t.Fatalf("counts after rejections = %v", got)
		}
	})
}

func TestSync_ProtocolWindow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		for _, v := range []int{0, 4, -1} {
			_, err := s.Enqueue(context.Background(), "g1", &app.EnqueueRequest{Protocol: v, Records: []json.RawMessage{spore("s1", "c")}})
			if hypha.ErrorCode(err) != hypha.EProtocolUnsupported {
				t.Errorf("protocol %d: err = %v", v, err)
			}
		}
		_, err := s.Enqueue(context.Background(), "g1", &app.EnqueueRequest{Protocol: 1, Records: []json.RawMessage{rec("spores", "embed", "s1", "m1", map[string]any{})}})
		if hypha.ErrorCode(err) != hypha.EProtocolTooOldEmbed {
			t.Fatalf("embed at v1: err = %v", err)
		}
		_, err = s.Enqueue(context.Background(), "g1", &app.EnqueueRequest{Protocol: 3, Records: make([]json.RawMessage, app.DefaultMaxRecords+1)})
		if hypha.ErrorCode(err) != hypha.ETooLarge {
			t.Fatalf("oversized batch: err = %v", err)
		}
	})
}

func TestSync_DedupEnvelopeAndDeletes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		r := spore("s1", "v1", "content_hash", "h1")
		if res := enqueue(t, s, "g1", 3, r); res.Written != 1 {
			t.Fatalf("first write: %+v", res)
		}
		if res := enqueue(t, s, "g1", 3, r); res.Written != 0 || res.Unchanged != 1 || res.Embeds != 0 {
			t.Fatalf("unchanged hash must write and embed nothing: %+v", res)
		}
		// The envelope's id and machine_id win over copies inside data.
		enqueue(t, s, "g1", 3, rec("spores", "upsert", "s2", "m1", map[string]any{"project_id": projA, "content": "x", "id": "evil", "machine_id": "local"}))
		if _, err := s.FindRecord(ctx, "g1", "spores", "s2", "m1"); err != nil {
			t.Fatalf("record under the envelope key: %v", err)
		}
		if _, err := s.FindRecord(ctx, "g1", "spores", "evil", ""); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("record under data's id: %v", err)
		}
		// A vector exists; deactivating the spore drops it.
		key := hypha.RecordKey{Table: hypha.LookupTable("spores"), GroveID: "g1", MachineID: "m1", ID: "s1"}
		if err := db.PutEmbeddings(ctx, []*hypha.Embedding{{Key: key, Model: "m", Vector: []float32{1, 0}}}); err != nil {
			t.Fatal(err)
		}
		enqueue(t, s, "g1", 3, spore("s1", "v1", "content_hash", "h2", "status", "superseded"))
		if _, err := db.FindEmbedding(ctx, key); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("inactive spore kept its vector: %v", err)
		}
		// Deletes need no project id and remove the row.
		res := enqueue(t, s, "g1", 3, rec("spores", "delete", "s1", "m1", nil), rec("spores", "delete", "missing", "m1", map[string]any{}))
		if res.Accepted != 2 || res.Deleted != 1 {
			t.Fatalf("deletes: %+v", res)
		}
		if _, err := s.FindRecord(ctx, "g1", "spores", "s1", ""); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("deleted record still found: %v", err)
		}
	})
}

func TestSync_GroveIsolationAndChunking(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		s.TxRows = 7
		var batch []json.RawMessage
		for i := range 40 {
			batch = append(batch, rec("plans", "upsert", fmt.Sprint("p", i), "m1", map[string]any{"project_id": projA, "content": fmt.Sprint("plan ", i)}))
		}
		if res := enqueue(t, s, "g1", 3, batch...); res.Accepted != 40 || res.Written != 40 {
			t.Fatalf("chunked batch: %+v", res)
		}
		other := rec("plans", "upsert", "p1", "m1", map[string]any{"project_id": projB, "content": "other grove"})
		enqueue(t, s, "g2", 3, other)
		a, _ := s.FindRecord(ctx, "g1", "plans", "p1", "m1")
		b, _ := s.FindRecord(ctx, "g2", "plans", "p1", "m1")
		if a.Value("content") != "plan 1" || b.Value("content") != "other grove" {
			t.Fatalf("same key in two groves: %v / %v", a.Value("content"), b.Value("content"))
		}
		if counts, _ := db.CountRecords(ctx, "g2", ""); counts["plans"] != 1 {
			t.Fatalf("g2 plans = %d", counts["plans"])
		}
	})
}

func TestSync_ManifestConfigMembersRebuild(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		var batch []json.RawMessage
		for i := 1; i <= 5; i++ {
			batch = append(batch, rec("prompt_batches", "upsert", fmt.Sprint(i*7), "m1", map[string]any{"project_id": projA, "session_id": "s", "content_hash": fmt.Sprint("h", i)}))
		}
		enqueue(t, s, "g1", 3, batch...)
		var ids []string
		cursor := ""
		for range 10 {
			page, _, err := s.Manifest(ctx, "g1", app.ManifestRequest{MachineID: "m1", Table: "prompt_batches", Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			if page.Count != 5 {
				t.Fatalf("count = %d", page.Count)
			}
			for _, it := range page.Items {
				ids = append(ids, it.ID)
				if it.ContentHash == "" || it.ProjectID != projA {
					t.Fatalf("item %+v lacks hash or project", it)
				}
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if len(ids) != 5 {
			t.Fatalf("manifest pages gave %v, want all 5 integer-like ids (first page included)", ids)
		}
		if _, _, err := s.Manifest(ctx, "g1", app.ManifestRequest{MachineID: "m1", Table: "entity_mentions"}); hypha.ErrorCode(err) != hypha.EInvalid {
			t.Fatalf("entity_mentions manifest: %v", err)
		}
		if _, _, err := s.Manifest(ctx, "g1", app.ManifestRequest{Table: "spores"}); err == nil || !strings.Contains(err.Error(), "machine_id is required") {
			t.Fatalf("manifest without machine: %v", err)
		}

		if _, err := s.PutConfig(ctx, map[string]any{}); err == nil || !strings.Contains(err.Error(), "Empty config body") {
			t.Fatalf("empty config: %v", err)
		}
		if _, err := s.PutConfig(ctx, map[string]any{"team_name": nil}); hypha.ErrorCode(err) != hypha.EInvalid {
			t.Fatalf("null config value: %v", err)
		}
		if n, err := s.PutConfig(ctx, map[string]any{"team_name": "Ants", "max_batch": json.Number("384")}); err != nil || n != 2 {
			t.Fatalf("PutConfig = %d, %v", n, err)
		}
		if cfg, _ := s.Config(ctx); cfg["team_name"] != "Ants" || cfg["max_batch"] != "384" {
			t.Fatalf("config = %v", cfg)
		}

		enqueue(t, s, "g1", 3, rec("team_members", "upsert", "u1", "m2", map[string]any{"user": "bo"}), rec("team_members", "upsert", "u1", "m1", map[string]any{"user": "al"}))
		members, err := s.Members(ctx, "g1")
		if err != nil || len(members) != 2 || members[0].Value("user") != "al" || members[0].SyncedAt == nil {
			t.Fatalf("members = %+v, %v", members, err)
		}
		if n, err := s.RemoveMember(ctx, "g1", "m2"); err != nil || n != 1 {
			t.Fatalf("RemoveMember = %d, %v", n, err)
		}
		sum, err := s.SyncSummary(ctx, "g1", "m1")
		if err != nil || sum.Tables["prompt_batches"] != 5 || sum.MachineTables["team_members"] != 1 || sum.Total != 6 {
			t.Fatalf("summary = %+v, %v", sum, err)
		}
		if _, err := s.Rebuild(ctx, "g1", "m1"); err != nil {
			t.Fatal(err)
		}
		if sum, _ := s.SyncSummary(ctx, "g1", ""); sum.Total != 0 {
			t.Fatalf("rows left after rebuild: %+v", sum.Tables)
		}
	})
}

// TestSync_ConcurrentOverlappingIngest sends overlapping batches in
// different orders from several goroutines while the embedding consumer
// runs: no deadlock, no error, and every record ends up stored once.
func TestSync_ConcurrentOverlappingIngest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *app.Sync, db hypha.Store) {
		ctx := context.Background()
		jobs := app.NewJobs(db, search.NewHashEmbedder(0), nil, app.JobsOptions{PollInterval: 5 * time.Millisecond})
		s.Jobs = jobs
		jobs.Start(ctx)
		defer jobs.Stop()
		const writers, rounds, n = 4, 15, 60
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for r := range rounds {
					recs := make([]json.RawMessage, n)
					for i, k := range rng.Perm(n) {
						recs[i] = spore(fmt.Sprint("s", k), fmt.Sprintf("writer %d round %d", w, r), "content_hash", fmt.Sprint(w, "-", r))
					}
					if _, err := s.Enqueue(ctx, "g1", &app.EnqueueRequest{Protocol: 3, MachineID: "m1", Records: recs}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent enqueue: %v", err)
		}
		counts, err := db.CountRecords(ctx, "g1", "")
		if err != nil || counts["spores"] != n {
			t.Fatalf("spores = %d, %v; want %d", counts["spores"], err, n)
		}
	})
}
