package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
)

// fullData returns data for a record of t with every declared column set to
// a value of its type that differs with n, plus a project and synced_at.
func fullData(t *hypha.Table, n int) map[string]any {
	data := map[string]any{hypha.ColProject: projectID(n), hypha.ColSyncedAt: int64(1_600_000_000 + n)}
	for i, c := range t.Columns {
		switch c.Type {
		case hypha.TypeText:
			data[c.Name] = fmt.Sprintf("%s #%d: it's \"ü\" ✓", c.Name, n)
		case hypha.TypeInteger:
			data[c.Name] = int64(n)*1000 + int64(i)
		case hypha.TypeReal:
			data[c.Name] = float64(n) + float64(i)/10 + math.Pi
		}
	}
	return data
}

func testRecords(t *testing.T, open OpenFunc) {
	t.Run("RoundTripEveryTable", func(t *testing.T) {
		s, _ := setup(t, open)
		for i, tb := range hypha.SyncedTables {
			t.Run(tb.Name, func(t *testing.T) {
				data := fullData(tb, i+1)
				data["undeclared_field"] = map[string]any{"nested": []any{1.5, "x"}}
				want := record(t, tb.Name, "g", "m1", "r1", data)
				if w := mustUpsert(t, s, want); !w[0] {
					t.Fatalf("a new record was not written")
				}
				got := mustFind(t, s, want.Key())
				if tb.Scope == hypha.ScopeMachine && got.ProjectID != "" {
					t.Errorf("machine-scoped %s stored project_id %q", tb.Name, got.ProjectID)
				}
				sameRecord(t, got, want)
			})
		}
	})
	t.Run("NumericExtremes", func(t *testing.T) {
		s, _ := setup(t, open)
		cases := []struct {
			name   string
			table  string
			column string
			value  any
		}{
			{"IntZero", "sessions", "prompt_count", int64(0)},
			{"IntNegative", "sessions", "prompt_count", int64(-1)},
			{"IntMax", "sessions", "started_at", int64(math.MaxInt64)},
			{"IntMin", "sessions", "started_at", int64(math.MinInt64)},
			{"IntBeyondFloat", "sessions", "ended_at", int64(1<<53 + 1)},
			{"RealTenth", "graph_edges", "confidence", 0.1},
			{"RealNegative", "graph_edges", "confidence", -123.456e-7},
			{"RealTiny", "skill_candidates", "quality_score", 5e-324},
			{"RealHuge", "skill_candidates", "quality_score", math.MaxFloat64},
			{"RealIntegral", "skill_candidates", "quality_score", 3.0},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				want := record(t, tc.table, "g", "m", fmt.Sprintf("n%d", i), map[string]any{tc.column: tc.value})
				mustUpsert(t, s, want)
				got := mustFind(t, s, want.Key())
				if v := got.Value(tc.column); !sameValue(v, tc.value) {
					t.Fatalf("%s.%s = %#v (%T), want %#v (%T)", tc.table, tc.column, v, v, tc.value, tc.value)
				}
			})
		}
	})
	t.Run("TextRoundTrip", func(t *testing.T) {
		s, _ := setup(t, open)
		cases := []struct{ name, value string }{
			{"Empty", ""},
			{"Quotes", `it's a "quoted" value with '' doubled and \' escaped`},
			{"SQLLookalike", "x'); DROP TABLE sessions; -- /* not a comment */"},
			{"Placeholders", "? $1 $$ :name @p1 %s %d"},
			{"LikeWildcards", `100% of the_value \ and \\`},
			{"Unicode", "grüße, 日本語, עברית, emoji 🍄🧬, combining é, zero-width \u200b"},
			{"ControlCharacters", "\x01\x02\x07\b\t\n\v\f\r\x1b\x7f end"},
			{"CRLF", "line one\r\nline two\r\n"},
			{"Surrogates", "\U0001F600\U0010FFFF\uFFFD"},
			{"Long", strings.Repeat("long text ✓ ", 20000)},
			{"JSONText", `{"a": [1, 2, {"b": null}], "c": "d\"e"}`},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				data := map[string]any{"summary": tc.value}
				if len(tc.value) < hypha.MaxExtraBytes/2 {
					data["mood"] = tc.value
				}
				want := record(t, "sessions", "g", "m", fmt.Sprintf("t%d", i), data)
				mustUpsert(t, s, want)
				got := mustFind(t, s, want.Key())
				if v, _ := got.Value("summary").(string); v != tc.value {
					t.Fatalf("summary = %q, want %q", v, tc.value)
				}
				if data["mood"] == nil {
					return
				}
				var extra map[string]string
				if err := json.Unmarshal(got.Extra, &extra); err != nil || extra["mood"] != tc.value {
					t.Fatalf("extra = %q (%v), want mood %q", got.Extra, err, tc.value)
				}
			})
		}
	})
	t.Run("DefaultsForOmittedColumns", func(t *testing.T) {
		s, _ := setup(t, open)
		cases := []struct {
			table, column string
			want          any
		}{
			{"sessions", "status", "active"},
			{"sessions", "prompt_count", int64(0)},
			{"sessions", "title", nil},
			{"sessions", "started_at", nil},
			{"spores", "importance", int64(5)},
			{"graph_edges", "confidence", 1.0},
			{"skill_candidates", "confidence", 0.0},
			{"skill_candidates", "quality_score", nil},
			{"skill_candidates", "source_ids", "[]"},
			{"skill_records", "generation", int64(1)},
			{"skill_records", "properties", "{}"},
			{"okf_generations", "status", "draft"},
		}
		for _, tc := range cases {
			t.Run(tc.table+"."+tc.column, func(t *testing.T) {
				r := record(t, tc.table, "g", "m", "omitted-"+tc.column, map[string]any{})
				mustUpsert(t, s, r)
				got := mustFind(t, s, r.Key())
				if v := got.Value(tc.column); !sameValue(v, tc.want) {
					t.Fatalf("%s.%s = %#v (%T), want default %#v (%T)", tc.table, tc.column, v, v, tc.want, tc.want)
				}
			})
		}
	})
	t.Run("NullDeclaredFieldTakesDefault", func(t *testing.T) {
		s, _ := setup(t, open)
		r := record(t, "sessions", "g", "m", "s1", map[string]any{"status": nil, "title": nil})
		mustUpsert(t, s, r)
		got := mustFind(t, s, r.Key())
		if got.Value("status") != "active" || got.Value("title") != nil {
			t.Fatalf("status = %#v, title = %#v; want \"active\" and nil", got.Value("status"), got.Value("title"))
		}
	})
	t.Run("ExtraHoldsUndeclaredFields", func(t *testing.T) {
		s, _ := setup(t, open)
		r := record(t, "spores", "g", "m", "sp1", map[string]any{
			"content": "declared", "mood": "curious", "score": 0.5, "nested": map[string]any{"a": []any{1.0, "b"}},
			"embedded": true, "extra": "ignored", "received_at": 1.0,
		})
		mustUpsert(t, s, r)
		got := mustFind(t, s, r.Key())
		var extra map[string]any
		if err := json.Unmarshal(got.Extra, &extra); err != nil {
			t.Fatalf("extra %q is not JSON: %v", got.Extra, err)
		}
		want := map[string]any{"mood": "curious", "score": 0.5, "nested": map[string]any{"a": []any{1.0, "b"}}}
		if !reflect.DeepEqual(extra, want) {
			t.Fatalf("extra = %v, want %v", extra, want)
		}
		if got.Value("content") != "declared" {
			t.Fatalf("content = %#v, want declared", got.Value("content"))
		}
	})
	t.Run("EnvelopeKeyWinsOverData", func(t *testing.T) {
		s, _ := setup(t, open)
		r := record(t, "spores", "g", "m-envelope", "id-envelope", map[string]any{
			"id": "id-data", "machine_id": "m-data", "grove_id": "g-data", "content": "x",
		})
		mustUpsert(t, s, r)
		got := mustFind(t, s, key(t, "spores", "g", "m-envelope", "id-envelope"))
		sameRecord(t, got, r)
		for _, k := range []hypha.RecordKey{key(t, "spores", "g", "m-data", "id-data"), key(t, "spores", "g-data", "m-envelope", "id-envelope"),
			key(t, "spores", "g", "m-envelope", "id-data")} {
			if _, err := s.FindRecord(t.Context(), k); hypha.ErrorCode(err) != hypha.ENotFound {
				t.Fatalf("FindRecord(%s/%s/%s) = %v, want not_found: the data's key must not be used", k.GroveID, k.MachineID, k.ID, err)
			}
		}
	})
	t.Run("ContentHashDedup", func(t *testing.T) {
		s, c := setup(t, open)
		put := func(hash any, summary string) (bool, *hypha.Record) {
			t.Helper()
			data := map[string]any{"summary": summary}
			if hash != nil {
				data["content_hash"] = hash
			}
			r := record(t, "sessions", "g", "m", "s1", data)
			c.Advance(time.Second)
			return mustUpsert(t, s, r)[0], r
		}
		steps := []struct {
			name        string
			hash        any
			summary     string
			wantWritten bool
			wantSummary string
		}{
			{"NewRow", "h1", "first", true, "first"},
			{"SameHash", "h1", "second", false, "first"},
			{"SameHashAgain", "h1", "third", false, "first"},
			{"OtherHash", "h2", "fourth", true, "fourth"},
			{"NilHash", nil, "fifth", true, "fifth"},
			{"NilHashAgain", nil, "sixth", true, "sixth"},
			{"HashAfterNil", "h2", "seventh", true, "seventh"},
			{"SameHashAfterNil", "h2", "eighth", false, "seventh"},
		}
		for _, st := range steps {
			written, _ := put(st.hash, st.summary)
			if written != st.wantWritten {
				t.Fatalf("%s: written = %v, want %v", st.name, written, st.wantWritten)
			}
			got := mustFind(t, s, key(t, "sessions", "g", "m", "s1"))
			if got.Value("summary") != st.wantSummary {
				t.Fatalf("%s: summary = %#v, want %q", st.name, got.Value("summary"), st.wantSummary)
			}
			wantHash, _ := st.hash.(string)
			if st.wantWritten && got.ContentHash != wantHash {
				t.Fatalf("%s: content hash = %q, want %q", st.name, got.ContentHash, wantHash)
			}
		}
	})
	t.Run("TablesWithoutHashAlwaysWrite", func(t *testing.T) {
		s, _ := setup(t, open)
		for i := range 3 {
			r := record(t, "entities", "g", "m", "e1", map[string]any{"name": "same"})
			if w := mustUpsert(t, s, r); !w[0] {
				t.Fatalf("upsert %d of an entity was not written", i+1)
			}
		}
	})
	t.Run("FullRowReplace", func(t *testing.T) {
		s, _ := setup(t, open)
		first := record(t, "sessions", "g", "m", "s1", map[string]any{
			"project_id": projectID(1), "title": "T", "summary": "S", "status": "completed", "prompt_count": 7,
			"synced_at": 123, "content_hash": "h1", "mood": "happy",
		})
		mustUpsert(t, s, first)
		second := record(t, "sessions", "g", "m", "s1", map[string]any{"summary": "S2", "content_hash": "h2"})
		if w := mustUpsert(t, s, second); !w[0] {
			t.Fatal("a changed record was not written")
		}
		got := mustFind(t, s, second.Key())
		sameRecord(t, got, second)
		if got.Value("title") != nil || got.Value("status") != "active" || got.Value("prompt_count") != int64(0) ||
			got.ProjectID != "" || got.SyncedAt != nil || got.Extra != nil {
			t.Fatalf("omitted fields were kept: title %#v, status %#v, prompt_count %#v, project %q, synced_at %v, extra %q",
				got.Value("title"), got.Value("status"), got.Value("prompt_count"), got.ProjectID, fmtPtr(got.SyncedAt), got.Extra)
		}
	})
	t.Run("GroveIsolation", func(t *testing.T) {
		s, _ := setup(t, open)
		a := record(t, "spores", "grove_a", "m", "same", map[string]any{"content": "from a"})
		b := record(t, "spores", "grove_b", "m", "same", map[string]any{"content": "from b"})
		if w := mustUpsert(t, s, a, b); !w[0] || !w[1] {
			t.Fatalf("written = %v, want both: they are two rows", w)
		}
		sameRecord(t, mustFind(t, s, a.Key()), a)
		sameRecord(t, mustFind(t, s, key(t, "spores", "grove_b", "", "same")), b)
		if _, err := s.FindRecord(t.Context(), key(t, "spores", "grove_c", "", "same")); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("FindRecord in a third grove = %v, want not_found", err)
		}
		deleted, err := s.DeleteRecords(t.Context(), []hypha.RecordKey{a.Key()})
		if err != nil || !deleted[0] {
			t.Fatalf("DeleteRecords(a) = %v, %v", deleted, err)
		}
		sameRecord(t, mustFind(t, s, b.Key()), b)
		counts := countRecords(t, s, "grove_b", "")
		if counts["spores"] != 1 {
			t.Fatalf("grove_b has %d spores after deleting grove_a's, want 1", counts["spores"])
		}
	})
	t.Run("DeleteReportsWhichExisted", func(t *testing.T) {
		s, _ := setup(t, open)
		mustUpsert(t, s, record(t, "sessions", "g", "m1", "s1", nil), record(t, "sessions", "g", "m2", "s1", nil),
			record(t, "spores", "g", "m1", "sp1", nil))
		keys := []hypha.RecordKey{
			key(t, "sessions", "g", "m1", "s1"),
			key(t, "sessions", "g", "m1", "missing"),
			key(t, "spores", "g", "m1", "sp1"),
			key(t, "sessions", "other", "m2", "s1"),
			key(t, "spores", "g", "m1", "s1"),
		}
		deleted, err := s.DeleteRecords(t.Context(), keys)
		if err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		if want := []bool{true, false, true, false, false}; !reflect.DeepEqual(deleted, want) {
			t.Fatalf("deleted = %v, want %v", deleted, want)
		}
		if _, err := s.FindRecord(t.Context(), keys[0]); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("deleted record still found: %v", err)
		}
		mustFind(t, s, key(t, "sessions", "g", "m2", "s1"))
		again, err := s.DeleteRecords(t.Context(), keys)
		if err != nil {
			t.Fatalf("second DeleteRecords: %v", err)
		}
		if want := []bool{false, false, false, false, false}; !reflect.DeepEqual(again, want) {
			t.Fatalf("second delete = %v, want %v", again, want)
		}
		if none, err := s.DeleteRecords(t.Context(), nil); err != nil || len(none) != 0 {
			t.Fatalf("DeleteRecords(nil) = %v, %v", none, err)
		}
	})
	t.Run("FindWithoutMachineTakesLowestMachine", func(t *testing.T) {
		s, _ := setup(t, open)
		m2 := record(t, "plans", "g", "m2", "p1", map[string]any{"title": "from m2"})
		m10 := record(t, "plans", "g", "m10", "p1", map[string]any{"title": "from m10"})
		other := record(t, "plans", "h", "m0", "p1", map[string]any{"title": "other grove"})
		mustUpsert(t, s, m2, m10, other)
		sameRecord(t, mustFind(t, s, key(t, "plans", "g", "", "p1")), m10)
		sameRecord(t, mustFind(t, s, key(t, "plans", "g", "m2", "p1")), m2)
		_, err := s.FindRecord(t.Context(), key(t, "plans", "g", "", "p2"))
		wantCode(t, err, hypha.ENotFound)
	})
	t.Run("FindMissingIsNotFound", func(t *testing.T) {
		s, _ := setup(t, open)
		r, err := s.FindRecord(t.Context(), key(t, "sessions", "g", "m", "nope"))
		wantCode(t, err, hypha.ENotFound)
		if r != nil {
			t.Fatalf("FindRecord returned %+v with its error", r)
		}
	})
	t.Run("CountRecords", func(t *testing.T) {
		s, _ := setup(t, open)
		mustUpsert(t, s,
			record(t, "sessions", "a", "m1", "s1", nil), record(t, "sessions", "a", "m1", "s2", nil),
			record(t, "sessions", "a", "m2", "s1", nil), record(t, "spores", "a", "m1", "sp1", nil),
			record(t, "team_members", "a", "m2", "u1", nil), record(t, "sessions", "b", "m1", "s1", nil))
		cases := []struct {
			grove, machine string
			want           map[string]int64
		}{
			{"a", "", map[string]int64{"sessions": 3, "spores": 1, "team_members": 1}},
			{"a", "m1", map[string]int64{"sessions": 2, "spores": 1}},
			{"a", "m2", map[string]int64{"sessions": 1, "team_members": 1}},
			{"b", "", map[string]int64{"sessions": 1}},
			{"b", "m2", nil},
			{"empty", "", nil},
		}
		for _, tc := range cases {
			got := countRecords(t, s, tc.grove, tc.machine)
			if len(got) != len(hypha.SyncedTables) {
				t.Errorf("CountRecords(%s, %q) has %d tables, want all %d", tc.grove, tc.machine, len(got), len(hypha.SyncedTables))
			}
			for _, tb := range hypha.SyncedTables {
				if got[tb.Name] != tc.want[tb.Name] {
					t.Errorf("CountRecords(%s, %q)[%s] = %d, want %d", tc.grove, tc.machine, tb.Name, got[tb.Name], tc.want[tb.Name])
				}
			}
		}
	})
	t.Run("ReservedWordUserColumn", func(t *testing.T) {
		s, _ := setup(t, open)
		session := record(t, "sessions", "g", "m", "s1", map[string]any{"user": "alice", "agent": "claude"})
		member := record(t, "team_members", "g", "m", "u1", map[string]any{"user": "bob", "role": "admin", "project_id": projectID(1)})
		mustUpsert(t, s, session, member)
		if got := mustFind(t, s, session.Key()); got.Value("user") != "alice" {
			t.Fatalf("sessions.user = %#v, want alice", got.Value("user"))
		}
		got := mustFind(t, s, member.Key())
		sameRecord(t, got, member)
		if got.Value("user") != "bob" || got.ProjectID != "" {
			t.Fatalf("team_members user = %#v, project = %q; want bob and none", got.Value("user"), got.ProjectID)
		}
	})
}

func countRecords(t testing.TB, s hypha.Queries, grove, machine string) map[string]int64 {
	t.Helper()
	counts, err := s.CountRecords(t.Context(), grove, machine)
	if err != nil {
		t.Fatalf("CountRecords(%s, %q): %v", grove, machine, err)
	}
	return counts
}
