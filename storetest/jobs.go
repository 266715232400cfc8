package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
)

const lease = time.Minute

// job returns an embed job for a spore of machine m in grove g.
func job(g, m, id string) *hypha.Job {
	return &hypha.Job{Kind: hypha.JobEmbed, GroveID: g, Key: hypha.LeaseID("spores", id, m), TableName: "spores", MachineID: m,
		RecordID: id, Payload: []byte(fmt.Sprintf(`{"table":"spores","operation":"embed","id":%q,"machine_id":%q,"data":{}}`, id, m))}
}

func mustEnqueue(t testing.TB, s hypha.Queries, jobs ...*hypha.Job) {
	t.Helper()
	if err := s.EnqueueJobs(t.Context(), jobs); err != nil {
		t.Fatalf("EnqueueJobs(%d): %v", len(jobs), err)
	}
}

func mustClaim(t testing.TB, s hypha.Queries, limit int) []*hypha.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(t.Context(), hypha.JobEmbed, limit, lease)
	if err != nil {
		t.Fatalf("ClaimJobs(%d): %v", limit, err)
	}
	if len(jobs) > limit {
		t.Fatalf("ClaimJobs(%d) returned %d jobs", limit, len(jobs))
	}
	return jobs
}

func mustComplete(t testing.TB, s hypha.Queries, jobs ...*hypha.Job) {
	t.Helper()
	if err := s.CompleteJobs(t.Context(), jobs); err != nil {
		t.Fatalf("CompleteJobs(%d): %v", len(jobs), err)
	}
}

func mustCount(t testing.TB, s hypha.Queries, grove string) hypha.JobCounts {
	t.Helper()
	c, err := s.CountJobs(t.Context(), grove)
	if err != nil {
		t.Fatalf("CountJobs(%s): %v", grove, err)
	}
	return c
}

func mustDeadLetter(t testing.TB, s hypha.Queries, j *hypha.Job, reason string) *hypha.DeadLetter {
	t.Helper()
	d, err := s.DeadLetterJob(t.Context(), j, reason)
	if err != nil {
		t.Fatalf("DeadLetterJob(%s): %v", j.Key, err)
	}
	return d
}

// keys returns the sorted keys of jobs.
func keys(jobs []*hypha.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Key)
	}
	slices.Sort(out)
	return out
}

// claimOne claims every due job and fails unless there is exactly one.
func claimOne(t testing.TB, s hypha.Queries) *hypha.Job {
	t.Helper()
	jobs := mustClaim(t, s, 100)
	if len(jobs) != 1 {
		t.Fatalf("claimed %v, want exactly one job", keys(jobs))
	}
	return jobs[0]
}

func testJobs(t *testing.T, open OpenFunc) {
	t.Run("ClaimOldestFirstAndLease", func(t *testing.T) {
		s, c := setup(t, open)
		a, b, d := job("g", "m", "a"), job("g", "m", "b"), job("g", "m", "d")
		a.RunAt, b.RunAt, d.RunAt = c.Unix()-30, c.Unix()-10, c.Unix()-20
		mustEnqueue(t, s, a, b, d)
		got := mustClaim(t, s, 2)
		if len(got) != 2 || got[0].Key != a.Key || got[1].Key != d.Key {
			t.Fatalf("claimed %v, want the two oldest [%s %s] in run_at order", keys(got), a.Key, d.Key)
		}
		for _, j := range got {
			if j.Attempts != 1 || j.LeaseUntil != c.Unix()+int64(lease/time.Second) || j.Generation != 1 {
				t.Fatalf("claimed %+v, want attempts 1, lease until now+%v, generation 1", j, lease)
			}
			if j.TableName != "spores" || j.MachineID != "m" || j.RecordID == "" || len(j.Payload) == 0 || j.CreatedAt != c.Unix() {
				t.Fatalf("claimed job lost fields: %+v", j)
			}
		}
		if rest := mustClaim(t, s, 10); len(rest) != 1 || rest[0].Key != b.Key {
			t.Fatalf("second claim got %v, want only %s (the others are leased)", keys(rest), b.Key)
		}
		if none := mustClaim(t, s, 10); len(none) != 0 {
			t.Fatalf("third claim got %v, want nothing", keys(none))
		}
		if n := mustCount(t, s, "g"); n != (hypha.JobCounts{Leased: 3}) {
			t.Fatalf("CountJobs = %+v, want 3 leased", n)
		}
	})
	t.Run("NotDueNotClaimed", func(t *testing.T) {
		s, c := setup(t, open)
		later := job("g", "m", "later")
		later.RunAt = c.Unix() + 60
		mustEnqueue(t, s, later)
		if got := mustClaim(t, s, 10); len(got) != 0 {
			t.Fatalf("claimed %v before its run_at", keys(got))
		}
		c.Advance(60 * time.Second)
		claimOne(t, s)
	})
	t.Run("OtherKindNotClaimed", func(t *testing.T) {
		s, _ := setup(t, open)
		other := job("g", "m", "x")
		other.Kind = "reindex"
		mustEnqueue(t, s, other)
		if got := mustClaim(t, s, 10); len(got) != 0 {
			t.Fatalf("an embed claim got %v of another kind", keys(got))
		}
		got, err := s.ClaimJobs(t.Context(), "reindex", 10, lease)
		if err != nil || len(got) != 1 || got[0].Kind != "reindex" {
			t.Fatalf("ClaimJobs(reindex) = %v, %v", keys(got), err)
		}
	})
	t.Run("ExpiredLeaseIsClaimedAgain", func(t *testing.T) {
		s, c := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"))
		first := claimOne(t, s)
		c.Advance(lease - time.Second)
		if got := mustClaim(t, s, 10); len(got) != 0 {
			t.Fatalf("claimed %v while leased", keys(got))
		}
		c.Advance(time.Second)
		second := claimOne(t, s)
		if second.Attempts != 2 || second.LeaseUntil <= first.LeaseUntil {
			t.Fatalf("re-claim = %+v, want attempts 2 and a later lease than %d", second, first.LeaseUntil)
		}
		if n := mustCount(t, s, "g"); n.Leased != 1 || n.Pending != 0 {
			t.Fatalf("CountJobs = %+v, want 1 leased", n)
		}
	})
	t.Run("CompleteDeletes", func(t *testing.T) {
		s, _ := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"), job("g", "m", "b"), job("g2", "m", "a"))
		jobs := mustClaim(t, s, 10)
		mustComplete(t, s, jobs...)
		for _, g := range []string{"g", "g2"} {
			if n := mustCount(t, s, g); n != (hypha.JobCounts{}) {
				t.Fatalf("CountJobs(%s) = %+v after completing everything", g, n)
			}
		}
		mustComplete(t, s, jobs...) // completing twice is harmless
		mustComplete(t, s)
	})
	t.Run("EnqueueAgainWhileRunningRunsAgain", func(t *testing.T) {
		s, _ := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"))
		old := claimOne(t, s)
		newer := job("g", "m", "a")
		newer.Payload = []byte(`{"v":2}`)
		mustEnqueue(t, s, newer)
		if got := mustClaim(t, s, 10); len(got) != 0 {
			t.Fatalf("claimed %v while the old generation still runs", keys(got))
		}
		mustComplete(t, s, old) // the old text is done, the new one is not
		again := claimOne(t, s)
		if again.Generation != old.Generation+1 || again.Attempts != 1 || string(again.Payload) != `{"v":2}` {
			t.Fatalf("re-run = %+v, want generation %d, attempts 1 and the new payload", again, old.Generation+1)
		}
		mustComplete(t, s, again)
		if n := mustCount(t, s, "g"); n != (hypha.JobCounts{}) {
			t.Fatalf("CountJobs = %+v, want empty", n)
		}
	})
	t.Run("EnqueueAgainResetsAttemptsAndBackoff", func(t *testing.T) {
		s, c := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"))
		j := claimOne(t, s)
		if err := s.RetryJob(t.Context(), j, c.Unix()+3600, "boom"); err != nil {
			t.Fatalf("RetryJob: %v", err)
		}
		mustEnqueue(t, s, job("g", "m", "a"))
		again := claimOne(t, s)
		if again.Attempts != 1 || again.Generation != 2 || again.LastError != "" {
			t.Fatalf("after enqueueing again: %+v, want attempts 1, generation 2, no error", again)
		}
	})
	t.Run("SameKeyTwiceInOneCall", func(t *testing.T) {
		s, _ := setup(t, open)
		first, second := job("g", "m", "a"), job("g", "m", "a")
		first.Payload, second.Payload = []byte(`{"n":1}`), []byte(`{"n":2}`)
		mustEnqueue(t, s, first, second)
		if got := claimOne(t, s); string(got.Payload) != `{"n":2}` || got.Generation != 1 {
			t.Fatalf("claimed %+v, want the later payload at generation 1", got)
		}
	})
	t.Run("StaleClaimLeavesNewJobAlone", func(t *testing.T) {
		// A consumer whose lease expired finishes late: it must not delete
		// the job another consumer re-claimed, nor a job created afresh.
		s, c := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"))
		stale := claimOne(t, s)
		c.Advance(lease)
		current := claimOne(t, s)
		mustComplete(t, s, stale)
		if n := mustCount(t, s, "g"); n.Leased != 1 {
			t.Fatalf("the stale completion changed the current claim: %+v", n)
		}
		if err := s.RetryJob(t.Context(), stale, c.Unix()+3600, "late"); err != nil {
			t.Fatalf("RetryJob(stale): %v", err)
		}
		if _, err := s.DeadLetterJob(t.Context(), stale, "late"); hypha.ErrorCode(err) != hypha.EConflict {
			t.Fatalf("DeadLetterJob(stale) = %v, want conflict", err)
		}
		mustComplete(t, s, current)
		mustEnqueue(t, s, job("g", "m", "a")) // created afresh, generation 1 again
		mustComplete(t, s, stale, current)
		if n := mustCount(t, s, "g"); n.Pending != 1 || n.DeadLetters != 0 {
			t.Fatalf("stale completions removed a fresh job: %+v", n)
		}
	})
	t.Run("Retry", func(t *testing.T) {
		s, c := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"))
		j := claimOne(t, s)
		if err := s.RetryJob(t.Context(), j, c.Unix()+10, "embedder down"); err != nil {
			t.Fatalf("RetryJob: %v", err)
		}
		if n := mustCount(t, s, "g"); n != (hypha.JobCounts{Pending: 1}) {
			t.Fatalf("CountJobs = %+v, want 1 pending", n)
		}
		c.Advance(9 * time.Second)
		if got := mustClaim(t, s, 10); len(got) != 0 {
			t.Fatalf("claimed %v before the retry was due", keys(got))
		}
		c.Advance(time.Second)
		again := claimOne(t, s)
		if again.Attempts != 2 || again.LastError != "embedder down" || again.RunAt != c.Unix() {
			t.Fatalf("retried job = %+v, want attempts 2, the error, run_at now", again)
		}
	})
	t.Run("RetryOfChangedJobOnlyReleases", func(t *testing.T) {
		s, c := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"))
		j := claimOne(t, s)
		mustEnqueue(t, s, job("g", "m", "a"))
		if err := s.RetryJob(t.Context(), j, c.Unix()+3600, "old text failed"); err != nil {
			t.Fatalf("RetryJob: %v", err)
		}
		again := claimOne(t, s) // due at once: the new generation has not failed
		if again.Generation != 2 || again.Attempts != 1 || again.LastError != "" {
			t.Fatalf("new generation = %+v", again)
		}
	})
	t.Run("DeadLetter", func(t *testing.T) {
		s, c := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"))
		j := claimOne(t, s)
		d := mustDeadLetter(t, s, j, "dead-lettered after max retries")
		want := &hypha.DeadLetter{GroveID: "g", LeaseID: "spores:a:m", Kind: hypha.JobEmbed, TableName: "spores", RowID: "a", MachineID: "m",
			Operation: "embed", Payload: j.Payload, Reason: "dead-lettered after max retries", CreatedAt: c.Unix(), ReplayCount: 1}
		sameDeadLetter(t, d, want)
		got, err := s.FindDeadLetter(t.Context(), "g", "spores:a:m")
		if err != nil {
			t.Fatalf("FindDeadLetter: %v", err)
		}
		sameDeadLetter(t, got, want)
		if n := mustCount(t, s, "g"); n != (hypha.JobCounts{DeadLetters: 1}) {
			t.Fatalf("CountJobs = %+v, want only the dead letter", n)
		}
		// A replay that fails again counts one more round.
		c.Advance(time.Minute)
		mustEnqueue(t, s, d.Job())
		d2 := mustDeadLetter(t, s, claimOne(t, s), "replay capped after 3 attempts")
		want.ReplayCount, want.Reason, want.CreatedAt = 2, "replay capped after 3 attempts", c.Unix()
		sameDeadLetter(t, d2, want)
		if _, err := s.FindDeadLetter(t.Context(), "other", "spores:a:m"); hypha.ErrorCode(err) != hypha.ENotFound {
			t.Fatalf("FindDeadLetter in another grove = %v, want not_found", err)
		}
	})
	t.Run("DeadLetterOfChangedJobIsConflict", func(t *testing.T) {
		s, _ := setup(t, open)
		mustEnqueue(t, s, job("g", "m", "a"))
		j := claimOne(t, s)
		mustEnqueue(t, s, job("g", "m", "a"))
		_, err := s.DeadLetterJob(t.Context(), j, "x")
		wantCode(t, err, hypha.EConflict)
		if n := mustCount(t, s, "g"); n != (hypha.JobCounts{Leased: 1}) {
			t.Fatalf("CountJobs = %+v, want the job kept and no dead letter", n)
		}
	})
	t.Run("ListDeadLettersNewestFirst", func(t *testing.T) {
		s, c := setup(t, open)
		for _, id := range []string{"a", "b", "c"} {
			mustEnqueue(t, s, job("g", "m", id), job("g2", "m", id))
			for _, j := range mustClaim(t, s, 10) {
				mustDeadLetter(t, s, j, "r")
			}
			c.Advance(time.Second)
		}
		got, err := s.ListDeadLetters(t.Context(), "g", 2)
		if err != nil {
			t.Fatalf("ListDeadLetters: %v", err)
		}
		if len(got) != 2 || got[0].LeaseID != "spores:c:m" || got[1].LeaseID != "spores:b:m" || got[0].GroveID != "g" {
			t.Fatalf("ListDeadLetters(g, 2) = %v, want c then b", deadLetterIDs(got))
		}
		if all, _ := s.ListDeadLetters(t.Context(), "g", 100); len(all) != 3 {
			t.Fatalf("ListDeadLetters(g, 100) = %v, want 3", deadLetterIDs(all))
		}
		if none, err := s.ListDeadLetters(t.Context(), "nobody", 100); err != nil || len(none) != 0 {
			t.Fatalf("ListDeadLetters(nobody) = %v, %v", deadLetterIDs(none), err)
		}
	})
	t.Run("TakeAndDeleteDeadLettersPerGrove", func(t *testing.T) {
		s, _ := setup(t, open)
		for _, id := range []string{"a", "b", "c"} {
			mustEnqueue(t, s, job("g", "m", id), job("g2", "m", id))
		}
		for _, j := range mustClaim(t, s, 10) {
			mustDeadLetter(t, s, j, "r")
		}
		// 1,200 ids, with the real ones past the first chunk of 500.
		var ids []string
		for i := range 1200 {
			ids = append(ids, fmt.Sprintf("spores:missing%04d:m", i))
		}
		ids = append(ids, "spores:a:m", "spores:b:m", "spores:a:m")
		taken, err := s.TakeDeadLetters(t.Context(), "g", ids)
		if err != nil {
			t.Fatalf("TakeDeadLetters: %v", err)
		}
		if got := deadLetterIDs(taken); !slices.Equal(got, []string{"spores:a:m", "spores:b:m"}) || taken[0].GroveID != "g" {
			t.Fatalf("TakeDeadLetters = %v, want a and b of grove g", got)
		}
		if n := mustCount(t, s, "g2"); n.DeadLetters != 3 {
			t.Fatalf("another grove's dead letters changed: %+v", n)
		}
		if again, _ := s.TakeDeadLetters(t.Context(), "g", ids); len(again) != 0 {
			t.Fatalf("taking twice returned %v", deadLetterIDs(again))
		}
		n, err := s.DeleteDeadLetters(t.Context(), "g", append(ids, "spores:c:m"))
		if err != nil || n != 1 {
			t.Fatalf("DeleteDeadLetters = %d, %v; want 1 (only c was left)", n, err)
		}
		if n, err := s.DeleteDeadLetters(t.Context(), "g2", []string{"spores:a:m", "spores:zzz:m"}); err != nil || n != 1 {
			t.Fatalf("DeleteDeadLetters(g2) = %d, %v; want 1", n, err)
		}
		if n := mustCount(t, s, "g2"); n.DeadLetters != 2 {
			t.Fatalf("grove g2 has %+v, want 2 dead letters left", n)
		}
		if n, err := s.DeleteDeadLetters(t.Context(), "g", nil); err != nil || n != 0 {
			t.Fatalf("DeleteDeadLetters(nil) = %d, %v", n, err)
		}
	})
	t.Run("CountAndDeleteMachineJobs", func(t *testing.T) {
		s, _ := setup(t, open)
		mustEnqueue(t, s, job("g", "m1", "a"), job("g", "m1", "b"), job("g", "m2", "a"), job("g2", "m1", "a"))
		mustClaim(t, s, 1)
		if n := mustCount(t, s, "g"); n.Pending+n.Leased != 3 {
			t.Fatalf("CountJobs(g) = %+v, want 3 jobs", n)
		}
		n, err := s.DeleteMachineJobs(t.Context(), "g", "m1")
		if err != nil || n != 2 {
			t.Fatalf("DeleteMachineJobs = %d, %v; want 2", n, err)
		}
		if n := mustCount(t, s, "g"); n.Pending+n.Leased != 1 {
			t.Fatalf("CountJobs(g) = %+v, want m2's job only", n)
		}
		if n := mustCount(t, s, "g2"); n.Pending+n.Leased != 1 {
			t.Fatalf("another grove's jobs changed: %+v", n)
		}
	})
	t.Run("ManyJobsInOneCall", func(t *testing.T) {
		s, _ := setup(t, open)
		var jobs []*hypha.Job
		for i := range 2000 {
			jobs = append(jobs, job("g", "m", fmt.Sprintf("sp%04d", i)))
		}
		mustEnqueue(t, s, jobs...)
		claimed := mustClaim(t, s, 1500)
		if len(claimed) != 1500 {
			t.Fatalf("claimed %d of 2000, want 1500", len(claimed))
		}
		mustComplete(t, s, claimed...)
		if n := mustCount(t, s, "g"); n.Pending != 500 || n.Leased != 0 {
			t.Fatalf("CountJobs = %+v, want 500 pending", n)
		}
	})
	t.Run("RolledBackEnqueueLeavesNothing", func(t *testing.T) {
		s, _ := setup(t, open)
		boom := errors.New("boom")
		err := s.InTx(t.Context(), func(tx hypha.Queries) error {
			mustEnqueue(t, tx, job("g", "m", "a"))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		if n := mustCount(t, s, "g"); n != (hypha.JobCounts{}) {
			t.Fatalf("CountJobs = %+v after a rollback", n)
		}
		if st, _ := s.FindSyncStats(t.Context(), "g"); st.Enqueued != 0 {
			t.Fatalf("enqueued = %d after a rollback", st.Enqueued)
		}
	})
	t.Run("SyncStats", func(t *testing.T) { testSyncStats(t, open) })
	t.Run("ConcurrentClaimers", func(t *testing.T) { testConcurrentClaimers(t, open) })
}

func sameDeadLetter(t testing.TB, got, want *hypha.DeadLetter) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("dead letter = %+v (payload %s), want %+v (payload %s)", got, got.Payload, want, want.Payload)
	}
}

func deadLetterIDs(ds []*hypha.DeadLetter) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.LeaseID)
	}
	return out
}

func testSyncStats(t *testing.T, open OpenFunc) {
	s, _ := setup(t, open)
	ctx := t.Context()
	if st, err := s.FindSyncStats(ctx, "g"); err != nil || *st != (hypha.SyncStats{}) {
		t.Fatalf("FindSyncStats of a new grove = %+v, %v; want zeros", st, err)
	}
	mustEnqueue(t, s, job("g", "m", "a"), job("g", "m", "b"), job("g2", "m", "a"))
	add := func(g string, d hypha.SyncStats) {
		t.Helper()
		if err := s.AddSyncStats(ctx, g, d); err != nil {
			t.Fatalf("AddSyncStats: %v", err)
		}
	}
	add("g", hypha.SyncStats{Processed: 2, EmbedOK: 1, EmbedFailed: 1, LastRunAt: 10, LastEmbedAt: 10, LastEmbedError: "model down"})
	add("g", hypha.SyncStats{Processed: 1, Failed: 1, LastRunAt: 20, LastError: "parked", EmbedOK: 2})
	want := hypha.SyncStats{Enqueued: 2, Processed: 3, Failed: 1, LastRunAt: 20, LastError: "parked", EmbedOK: 3, EmbedFailed: 1,
		LastEmbedError: "model down", LastEmbedAt: 10}
	if st, err := s.FindSyncStats(ctx, "g"); err != nil || *st != want {
		t.Fatalf("FindSyncStats(g) = %+v, %v; want %+v", st, err, want)
	}
	if st, _ := s.FindSyncStats(ctx, "g2"); *st != (hypha.SyncStats{Enqueued: 1}) {
		t.Fatalf("FindSyncStats(g2) = %+v, want enqueued 1 only", st)
	}
	if err := s.ResetSyncStats(ctx, "g"); err != nil {
		t.Fatalf("ResetSyncStats: %v", err)
	}
	if st, _ := s.FindSyncStats(ctx, "g"); *st != (hypha.SyncStats{}) {
		t.Fatalf("after reset: %+v", st)
	}
	if st, _ := s.FindSyncStats(ctx, "g2"); st.Enqueued != 1 {
		t.Fatalf("resetting g changed g2: %+v", st)
	}
}

// testConcurrentClaimers has several consumers claim and complete from one
// store at once, while a producer enqueues some of the same keys again in
// reverse order: no job may be handed to two consumers at once, every job
// must be done, and no call may fail (PostgreSQL would report a deadlock).
func testConcurrentClaimers(t *testing.T, open OpenFunc) {
	s, _ := setup(t, open)
	const n, consumers = 1200, 3
	var jobs []*hypha.Job
	for i := range n {
		jobs = append(jobs, job(fmt.Sprint("g", i%3), "m", fmt.Sprintf("sp%04d", i)))
	}
	mustEnqueue(t, s, jobs...)
	var mu sync.Mutex
	running := map[string]bool{}
	done := map[string]int{}
	errs := make(chan error, consumers+1)
	var wg sync.WaitGroup
	for range consumers {
		wg.Go(func() {
			for idle := 0; idle < 3; {
				got, err := s.ClaimJobs(t.Context(), hypha.JobEmbed, 50, lease)
				if err != nil {
					errs <- fmt.Errorf("ClaimJobs: %w", err)
					return
				}
				if len(got) == 0 {
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				for _, j := range got {
					k := j.GroveID + "/" + j.Key
					if running[k] {
						mu.Unlock()
						errs <- fmt.Errorf("job %s was claimed by two consumers at once", k)
						return
					}
					running[k] = true
				}
				mu.Unlock()
				mu.Lock()
				for _, j := range got {
					k := j.GroveID + "/" + j.Key
					delete(running, k)
					done[k]++
				}
				mu.Unlock()
				if err := s.CompleteJobs(t.Context(), got); err != nil {
					errs <- fmt.Errorf("CompleteJobs: %w", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		again := slices.Clone(jobs[:300])
		slices.Reverse(again)
		for lo := 0; lo < len(again); lo += 50 {
			if err := s.EnqueueJobs(t.Context(), again[lo:lo+50]); err != nil {
				errs <- fmt.Errorf("EnqueueJobs: %w", err)
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Jobs enqueued again after their consumers finished are still queued:
	// finish them here.
	for {
		got := mustClaim(t, s, 500)
		if len(got) == 0 {
			break
		}
		for _, j := range got {
			done[j.GroveID+"/"+j.Key]++
		}
		mustComplete(t, s, got...)
	}
	for _, j := range jobs {
		if done[j.GroveID+"/"+j.Key] == 0 {
			t.Fatalf("job %s/%s was never done", j.GroveID, j.Key)
		}
	}
	for g := range 3 {
		if c := mustCount(t, s, fmt.Sprint("g", g)); c != (hypha.JobCounts{}) {
			t.Fatalf("grove g%d still has %+v", g, c)
		}
	}
}
