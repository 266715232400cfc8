package api

import (
	"net/http"
	"strconv"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// jobRoutes registers /queue-stats and the dead-letter routes. Every one
// acts in the request's grove only.
func (s *Server) jobRoutes(rt *httpjson.Router) {
	rt.Handle("GET /queue-stats", s.guard(teamKeyOnly, s.handleQueueStats))
	rt.Handle("GET /dlq", s.guard(teamKeyOnly, s.handleDeadLetters))
	rt.Handle("POST /dlq/retry", s.guard(teamKeyOnly, s.handleRetryDeadLetters))
	rt.Handle("POST /dlq/discard", s.guard(teamKeyOnly, s.handleDiscardDeadLetters))
}

func (s *Server) handleQueueStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.Jobs.Stats(r.Context(), groveOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.QueueStats{
		Enqueued: st.Enqueued, Processed: st.Processed, Failed: st.Failed, Backlog: st.Backlog(),
		LastRunAt: wire.NullableInt(st.LastRunAt), LastError: wire.Nullable(st.LastError),
		EmbedOK: st.EmbedOK, EmbedFailed: st.EmbedFailed,
		LastEmbedError: wire.Nullable(st.LastEmbedError), LastEmbedAt: wire.NullableInt(st.LastEmbedAt),
		PendingJobs: st.Pending, LeasedJobs: st.Leased, DeadLetters: st.DeadLetters,
	})
}

func (s *Server) handleDeadLetters(w http.ResponseWriter, r *http.Request) {
	// As on the worker: a missing, non-numeric or non-positive limit is 50.
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = app.DefaultDeadLetterLimit
	}
	ds, err := s.Jobs.DeadLetters(r.Context(), groveOf(r), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msgs := make([]wire.DeadLetter, len(ds))
	for i, d := range ds {
		msgs[i] = wire.DeadLetter{LeaseID: d.LeaseID, TableName: d.TableName, RowID: d.RowID, MachineID: d.MachineID,
			Operation: d.Operation, Reason: wire.Nullable(d.Reason), CreatedAt: d.CreatedAt, ReplayCount: d.ReplayCount}
	}
	writeJSON(w, http.StatusOK, wire.DeadLettersResponse{Messages: msgs})
}

// readLeaseIDs reads {"lease_ids": [...]}: entries that are not strings
// are dropped, and none left is a 400, as on the worker.
func readLeaseIDs(r *http.Request) ([]string, error) {
	var body wire.LeaseIDsRequest
	if err := readJSON(r, &body, true); err != nil && hypha.ErrorCode(err) != hypha.EInvalid {
		return nil, err
	}
	var ids []string
	for _, v := range body.LeaseIDs {
		if s, ok := v.(string); ok {
			ids = append(ids, s)
		}
	}
	if len(ids) == 0 {
		return nil, hypha.Errorf(hypha.EInvalid, "lease_ids array is required")
	}
	return ids, nil
}

func (s *Server) handleRetryDeadLetters(w http.ResponseWriter, r *http.Request) {
	ids, err := readLeaseIDs(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.Jobs.RetryDeadLetters(r.Context(), groveOf(r), ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RetryResponse{Retried: n})
}

func (s *Server) handleDiscardDeadLetters(w http.ResponseWriter, r *http.Request) {
	ids, err := readLeaseIDs(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.Jobs.DiscardDeadLetters(r.Context(), groveOf(r), ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.DiscardResponse{Discarded: n})
}
