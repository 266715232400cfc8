package api

import (
	"net/http"
	"strconv"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

// jobRoutes registers /queue-stats and the dead-letter routes. Every one
// acts in the request's grove only.
func (s *Server) jobRoutes(mux *http.ServeMux) {
	jobs := s.Jobs
	if jobs == nil && s.Store != nil {
		// A server wired without a consumer still reports its queue and
		// manages its dead letters: those need only the store.
		jobs = app.NewJobs(s.Store, nil, s.Logger, app.JobsOptions{})
	}
	h := &jobHandlers{s: s, jobs: jobs}
	mux.Handle("/queue-stats", s.methods(map[string]http.Handler{"GET": s.guard(teamKeyOnly, h.queueStats)}))
	mux.Handle("/dlq", s.methods(map[string]http.Handler{"GET": s.guard(teamKeyOnly, h.listDeadLetters)}))
	mux.Handle("/dlq/retry", s.methods(map[string]http.Handler{"POST": s.guard(teamKeyOnly, h.retryDeadLetters)}))
	mux.Handle("/dlq/discard", s.methods(map[string]http.Handler{"POST": s.guard(teamKeyOnly, h.discardDeadLetters)}))
}

type jobHandlers struct {
	s    *Server
	jobs *app.Jobs
}

// queueStatsBody is the Myco /queue-stats answer, with backlog the real
// number of unfinished jobs, plus the live queue sizes.
type queueStatsBody struct {
	Enqueued       int64   `json:"enqueued"`
	Processed      int64   `json:"processed"`
	Failed         int64   `json:"failed"`
	Backlog        int64   `json:"backlog"`
	LastRunAt      *int64  `json:"last_run_at"`
	LastError      *string `json:"last_error"`
	EmbedOK        int64   `json:"embed_ok"`
	EmbedFailed    int64   `json:"embed_failed"`
	LastEmbedError *string `json:"last_embed_error"`
	LastEmbedAt    *int64  `json:"last_embed_at"`
	PendingJobs    int64   `json:"pending_jobs"`
	LeasedJobs     int64   `json:"leased_jobs"`
	DeadLetters    int64   `json:"dead_letters"`
}

func (h *jobHandlers) queueStats(w http.ResponseWriter, r *http.Request) {
	st, err := h.jobs.Stats(r.Context(), groveOf(r))
	if err != nil {
		writeError(w, r, h.s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, queueStatsBody{
		Enqueued: st.Enqueued, Processed: st.Processed, Failed: st.Failed, Backlog: st.Backlog(),
		LastRunAt: intOrNull(st.LastRunAt), LastError: stringOrNull(st.LastError),
		EmbedOK: st.EmbedOK, EmbedFailed: st.EmbedFailed,
		LastEmbedError: stringOrNull(st.LastEmbedError), LastEmbedAt: intOrNull(st.LastEmbedAt),
		PendingJobs: st.Pending, LeasedJobs: st.Leased, DeadLetters: st.DeadLetters,
	})
}

// deadLetterBody is one message of GET /dlq: the Myco fields plus
// replay_count.
type deadLetterBody struct {
	LeaseID     string  `json:"lease_id"`
	TableName   string  `json:"table_name"`
	RowID       string  `json:"row_id"`
	MachineID   string  `json:"machine_id"`
	Operation   string  `json:"operation"`
	Reason      *string `json:"reason"`
	CreatedAt   int64   `json:"created_at"`
	ReplayCount int64   `json:"replay_count"`
}

func (h *jobHandlers) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	// As on the worker: a missing, non-numeric or non-positive limit is 50.
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = app.DefaultDeadLetterLimit
	}
	ds, err := h.jobs.DeadLetters(r.Context(), groveOf(r), limit)
	if err != nil {
		writeError(w, r, h.s.Logger, err)
		return
	}
	msgs := make([]deadLetterBody, len(ds))
	for i, d := range ds {
		msgs[i] = deadLetterBody{LeaseID: d.LeaseID, TableName: d.TableName, RowID: d.RowID, MachineID: d.MachineID,
			Operation: d.Operation, Reason: stringOrNull(d.Reason), CreatedAt: d.CreatedAt, ReplayCount: d.ReplayCount}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

// readLeaseIDs reads {"lease_ids": [...]}: entries that are not strings
// are dropped, and none left is a 400, as on the worker.
func readLeaseIDs(r *http.Request) ([]string, error) {
	var body any
	if err := readJSON(r, &body, true); err != nil {
		return nil, err
	}
	obj, _ := body.(map[string]any)
	list, _ := obj["lease_ids"].([]any)
	var ids []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			ids = append(ids, s)
		}
	}
	if len(ids) == 0 {
		return nil, hypha.Errorf(hypha.EInvalid, "lease_ids array is required")
	}
	return ids, nil
}

func (h *jobHandlers) retryDeadLetters(w http.ResponseWriter, r *http.Request) {
	ids, err := readLeaseIDs(r)
	if err != nil {
		writeError(w, r, h.s.Logger, err)
		return
	}
	n, err := h.jobs.RetryDeadLetters(r.Context(), groveOf(r), ids)
	if err != nil {
		writeError(w, r, h.s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"retried": n})
}

func (h *jobHandlers) discardDeadLetters(w http.ResponseWriter, r *http.Request) {
	ids, err := readLeaseIDs(r)
	if err != nil {
		writeError(w, r, h.s.Logger, err)
		return
	}
	n, err := h.jobs.DiscardDeadLetters(r.Context(), groveOf(r), ids)
	if err != nil {
		writeError(w, r, h.s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"discarded": n})
}

func intOrNull(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

func stringOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
