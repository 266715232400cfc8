package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
)

// syncRoutes registers the sync routes of the Myco team worker.
func (s *Server) syncRoutes(mux *http.ServeMux) {
	mux.Handle("/enqueue", s.methods(map[string]http.Handler{"POST": s.guard(teamKeyOnly, s.handleEnqueue)}))
	mux.Handle("/sync", s.methods(map[string]http.Handler{"POST": s.guard(teamKeyOnly, s.handleLegacySync)}))
	mux.Handle("/records/{type}/{id}", s.methods(map[string]http.Handler{"GET": s.guard(groveRead, s.handleRecord)}))
	mux.Handle("/manifest", s.methods(map[string]http.Handler{"GET": s.guard(teamKeyOnly, s.handleManifest)}))
	mux.Handle("/config", s.methods(map[string]http.Handler{
		"GET": s.guard(teamKeyOnly, s.handleGetConfig),
		"PUT": s.guard(teamKeyOnly, s.handlePutConfig),
	}))
	mux.Handle("/sync-summary", s.methods(map[string]http.Handler{"GET": s.guard(teamKeyOnly, s.handleSyncSummary)}))
	mux.Handle("/members", s.methods(map[string]http.Handler{"GET": s.guard(teamKeyOnly, s.handleMembers)}))
	mux.Handle("/members/{machine_id}", s.methods(map[string]http.Handler{"DELETE": s.guard(teamKeyOnly, s.handleRemoveMember)}))
	mux.Handle("/rebuild", s.methods(map[string]http.Handler{"POST": s.guard(teamKeyOnly, s.handleRebuild)}))
}

// enqueueBody is the envelope of /enqueue and /sync.
type enqueueBody struct {
	SyncProtocolVersion json.RawMessage `json:"sync_protocol_version"`
	MachineID           json.RawMessage `json:"machine_id"`
	Records             json.RawMessage `json:"records"`
}

// parseEnqueue reads the envelope. A missing protocol version counts as 1
// (the Myco worker let it through unchecked); records that are not an array
// make an empty batch, as upstream.
func parseEnqueue(r *http.Request) (*app.EnqueueRequest, error) {
	var body enqueueBody
	if err := readJSON(r, &body, false); err != nil {
		return nil, err
	}
	req := &app.EnqueueRequest{Protocol: 1}
	if v := bytes.TrimSpace(body.SyncProtocolVersion); len(v) > 0 && !bytes.Equal(v, []byte("null")) {
		n, ok := intFromJSON(v)
		if !ok {
			return nil, hypha.Errorf(hypha.EInvalid, "sync_protocol_version must be an integer, got %s", truncateJSON(v))
		}
		req.Protocol = n
	}
	if v := bytes.TrimSpace(body.MachineID); len(v) > 0 && !bytes.Equal(v, []byte("null")) {
		if err := json.Unmarshal(v, &req.MachineID); err != nil {
			return nil, hypha.Errorf(hypha.EInvalid, "machine_id must be a string")
		}
	}
	if v := bytes.TrimSpace(body.Records); len(v) > 0 && v[0] == '[' {
		if err := json.Unmarshal(v, &req.Records); err != nil {
			return nil, hypha.Errorf(hypha.EBadJSON, "records is not a valid JSON array: %v", err)
		}
	}
	return req, nil
}

func intFromJSON(v json.RawMessage) (int, bool) {
	var n json.Number
	if json.Unmarshal(v, &n) != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	i, err := n.Int64()
	if err != nil || i < -1<<31 || i > 1<<31-1 {
		return 0, false
	}
	return int(i), true
}

func truncateJSON(v []byte) string {
	if len(v) > 60 {
		return string(v[:60]) + "…"
	}
	return string(v)
}

// writeSyncError answers protocol errors with the Myco worker's typed 409
// body, and anything else as usual.
func (s *Server) writeSyncError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *app.ProtocolError
	if errors.As(err, &pe) {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error": pe.Code, "code": pe.Code, "message": pe.Message,
			"sync_protocol_version": hypha.SyncProtocolVersion, "min_compat_client_version": hypha.MinSyncProtocolVersion,
		})
		return
	}
	writeError(w, r, s.Logger, err)
}

func (s *Server) handleEnqueue(w http.ResponseWriter, r *http.Request) {
	s.ingest(w, r, func(res *app.EnqueueResult, rejected []app.Rejection) map[string]any {
		return map[string]any{"accepted": res.Accepted, "rejected": rejected,
			"written": res.Written, "unchanged": res.Unchanged, "deleted": res.Deleted}
	})
}

// handleLegacySync serves the pre-queue POST /sync of v1 daemons: the same
// ingest, answered in the old shape once everything is applied.
func (s *Server) handleLegacySync(w http.ResponseWriter, r *http.Request) {
	s.ingest(w, r, func(res *app.EnqueueResult, rejected []app.Rejection) map[string]any {
		return map[string]any{"synced": res.Written + res.Deleted, "skipped": res.Unchanged, "errors": rejected, "accepted": res.Accepted}
	})
}

// ingest runs one /enqueue or /sync request and answers in the route's shape.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, answer func(*app.EnqueueResult, []app.Rejection) map[string]any) {
	req, err := parseEnqueue(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	res, err := s.Sync.Enqueue(r.Context(), groveOf(r), req)
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	rejected := res.Rejected
	if rejected == nil {
		rejected = []app.Rejection{}
	}
	writeJSON(w, http.StatusOK, answer(res, rejected))
}

func (s *Server) handleRecord(w http.ResponseWriter, r *http.Request) {
	rec, err := s.Sync.FindRecord(r.Context(), groveOf(r), r.PathValue("type"), r.PathValue("id"), strings.TrimSpace(r.URL.Query().Get("machine_id")))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"record": app.RecordJSON(rec)})
}

func (s *Server) handleManifest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := app.ManifestRequest{
		MachineID: strings.TrimSpace(q.Get("machine_id")), Table: strings.TrimSpace(q.Get("table")),
		ProjectID: strings.TrimSpace(q.Get("project_id")), Cursor: q.Get("cursor"), Summary: q.Get("summary") == "1",
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			writeError(w, r, s.Logger, hypha.Errorf(hypha.EInvalid, "limit must be a positive integer, got %q", l))
			return
		}
		req.Limit = n
	}
	page, t, err := s.Sync.Manifest(r.Context(), groveOf(r), req)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	out := map[string]any{"table": t.Name, "machine_id": req.MachineID, "count": page.Count}
	if req.ProjectID != "" {
		out["project_id"] = req.ProjectID
	}
	if !req.Summary {
		items := make([]map[string]any, len(page.Items))
		for i, it := range page.Items {
			m := map[string]any{"id": it.ID, "project_id": nullableString(it.ProjectID)}
			if t.ContentHash {
				m["content_hash"] = nullableString(it.ContentHash)
			}
			items[i] = m
		}
		out["items"] = items
		if page.NextCursor != "" {
			out["next_cursor"] = page.NextCursor
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func nullableString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.Sync.Config(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"config": cfg, "sync_protocol_version": hypha.SyncProtocolVersion,
		"min_compat_client_version": hypha.MinSyncProtocolVersion})
}

func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := readJSON(r, &body, false); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	n, err := s.Sync.PutConfig(r.Context(), body)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"updated": n})
}

func (s *Server) handleSyncSummary(w http.ResponseWriter, r *http.Request) {
	machine := strings.TrimSpace(r.URL.Query().Get("machine_id"))
	sum, err := s.Sync.SyncSummary(r.Context(), groveOf(r), machine)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	out := map[string]any{
		"generated_at": time.Now().Unix(), "grove_id": groveOf(r),
		"total_records": sum.Total, "tables": sum.Tables,
		"vector_count": sum.VectorCount, "vector_index_healthy": true, "vector_index_error": nil,
		"embeddable_count": sum.EmbeddableCount, "embeddable_by_table": sum.EmbeddableBy,
		"package_version": s.PackageVersion, "sync_protocol_version": hypha.SyncProtocolVersion,
		"schema_version": 0,
	}
	if st := s.Schema.State(); st.Report != nil {
		out["schema_version"] = st.Report.Current
	}
	if machine != "" {
		out["machine_id"] = machine
		out["machine_tables"] = sum.MachineTables
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	recs, err := s.Sync.Members(r.Context(), groveOf(r))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	members := make([]map[string]any, len(recs))
	for i, rec := range recs {
		members[i] = map[string]any{
			"id": rec.ID, "machine_id": rec.MachineID, "user": rec.Value("user"), "role": rec.Value("role"),
			"joined": rec.Value("joined"), "tags": rec.Value("tags"), "synced_at": rec.SyncedAt,
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": members})
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	n, err := s.Sync.RemoveMember(r.Context(), groveOf(r), r.PathValue("machine_id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"removed": n})
}

func (s *Server) handleRebuild(w http.ResponseWriter, r *http.Request) {
	var body struct {
		MachineID string `json:"machine_id"`
	}
	// A missing or unparsable body counts as {} (→ 400 below), as upstream.
	if err := readJSON(r, &body, true); err != nil && hypha.ErrorCode(err) == hypha.ETooLarge {
		writeError(w, r, s.Logger, err)
		return
	}
	machine := strings.TrimSpace(body.MachineID)
	n, err := s.Sync.Rebuild(r.Context(), groveOf(r), machine)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "machine_id": machine, "truncated_tables": n})
}
