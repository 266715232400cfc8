package api

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
)

// searchRoutes registers GET /search (reference §2.2).
func (s *Server) searchRoutes(rt *httpjson.Router) {
	rt.Handle("GET /search", s.guard(groveRead, s.handleSearch))
}

// handleSearch parses the worker's query parameters: q; limit (alias
// top_k, default 10, clamped to 1..50, not a number → 10); types (alias
// tables, comma-separated); the metadata filters; since and until (epoch
// seconds); release_state and release_confidence; and Hypha's mode
// (hybrid, semantic or keyword; hybrid by default).
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	if s.Search == nil {
		s.writeError(w, r, &hypha.Error{Code: hypha.EUnavailable, Message: "search is not available on this server", RetryAfter: 30})
		return
	}
	q := r.URL.Query()
	get := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(q.Get(n)); v != "" {
				return v
			}
		}
		return ""
	}
	sq := hypha.SearchQuery{Text: q.Get("q"), Mode: get("mode"), Limit: hypha.DefaultSearchLimit,
		ProjectID: get("project_id"), MachineID: get("machine_id"), Status: get("status"), ObservationType: get("observation_type"),
		SessionID: get("session_id"), SourcePath: get("source_path"), Name: get("name"),
		ReleaseState: get("release_state"), ReleaseConfidence: get("release_confidence")}
	if l := get("limit", "top_k"); l != "" {
		if f, err := strconv.ParseFloat(l, 64); err == nil && !math.IsNaN(f) {
			sq.Limit = int(max(1, min(float64(hypha.MaxSearchLimit), math.Trunc(f))))
		}
	}
	if t := get("types", "tables"); t != "" {
		for _, name := range strings.Split(t, ",") {
			if name = strings.TrimSpace(name); name != "" {
				sq.Types = append(sq.Types, name)
			}
		}
		if len(sq.Types) > 32 {
			s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "at most 32 types, got %d", len(sq.Types)))
			return
		}
	}
	for _, b := range []struct {
		name string
		dst  *int64
	}{{"since", &sq.Since}, {"until", &sq.Until}} {
		v := get(b.name)
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<53 {
			s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "%s must be a time in epoch seconds, got %q", b.name, hypha.Clip(v)))
			return
		}
		*b.dst = int64(f)
	}
	if len(sq.Text) > hypha.MaxSearchQueryBytes {
		s.writeError(w, r, hypha.Errorf(hypha.ETooLarge, "the query takes %d bytes, over the %d-byte limit", len(sq.Text), hypha.MaxSearchQueryBytes))
		return
	}
	out, err := s.Search.Answer(r.Context(), groveOf(r), sq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
