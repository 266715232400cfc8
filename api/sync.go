package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// syncRoutes registers the sync routes of the Myco team worker.
func (s *Server) syncRoutes(rt *httpjson.Router) {
	rt.Handle("POST /enqueue", s.guard(teamKeyOnly, s.handleEnqueue))
	rt.Handle("POST /sync", s.guard(teamKeyOnly, s.handleLegacySync))
	rt.Handle("GET /records/{type}/{id}", s.guard(groveRead, s.handleRecord))
	rt.Handle("GET /manifest", s.guard(teamKeyOnly, s.handleManifest))
	rt.Handle("GET /config", s.guard(teamKeyOnly, s.handleGetConfig))
	rt.Handle("PUT /config", s.guard(teamKeyOnly, s.handlePutConfig))
	rt.Handle("GET /sync-summary", s.guard(teamKeyOnly, s.handleSyncSummary))
	rt.Handle("GET /members", s.guard(teamKeyOnly, s.handleMembers))
	rt.Handle("DELETE /members/{machine_id}", s.guard(teamKeyOnly, s.handleRemoveMember))
	rt.Handle("POST /rebuild", s.guard(teamKeyOnly, s.handleRebuild))
}

// readEnqueue reads the envelope of /enqueue and /sync. A missing protocol
// version counts as 1 (the worker let it through unchecked); records must
// be an array.
func readEnqueue(r *http.Request) (*app.EnqueueRequest, error) {
	var body wire.EnqueueRequest
	if err := readJSON(r, &body, false); err != nil {
		return nil, err
	}
	if body.Records == nil {
		return nil, hypha.Errorf(hypha.EInvalid, "records must be an array of SyncRecords {table, id, operation, data}")
	}
	req := &app.EnqueueRequest{Protocol: 1, MachineID: body.MachineID, Records: body.Records}
	if body.SyncProtocolVersion.Set {
		req.Protocol = body.SyncProtocolVersion.Value
	}
	return req, nil
}

func (s *Server) handleEnqueue(w http.ResponseWriter, r *http.Request) {
	res, err := s.ingest(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.EnqueueResponse{Accepted: res.Accepted, Rejected: rejections(res.Rejected),
		Written: res.Written, Unchanged: res.Unchanged, Deleted: res.Deleted})
}

// handleLegacySync serves the pre-queue POST /sync of Myco 0.12.x daemons:
// the same ingest, answered in the old shape once everything is applied.
func (s *Server) handleLegacySync(w http.ResponseWriter, r *http.Request) {
	res, err := s.ingest(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Every accepted record the server applied counts as synced (a delete
	// of a row it never had too, as on the worker): 0.12.x re-sends a
	// batch whose synced and skipped are both 0.
	writeJSON(w, http.StatusOK, wire.SyncResponse{Synced: res.Accepted - res.Unchanged, Skipped: res.Unchanged,
		Errors: rejections(res.Rejected), Accepted: res.Accepted})
}

// ingest runs one /enqueue or /sync request.
func (s *Server) ingest(r *http.Request) (*app.EnqueueResult, error) {
	req, err := readEnqueue(r)
	if err != nil {
		return nil, err
	}
	return s.Sync.Enqueue(r.Context(), groveOf(r), req)
}

func rejections(in []app.Rejection) []wire.Rejection {
	out := make([]wire.Rejection, len(in))
	for i, rj := range in {
		out[i] = wire.Rejection{ID: rj.ID, Table: rj.Table, Error: rj.Error}
	}
	return out
}

func (s *Server) handleRecord(w http.ResponseWriter, r *http.Request) {
	rec, err := s.Sync.FindRecord(r.Context(), groveOf(r), r.PathValue("type"), r.PathValue("id"), strings.TrimSpace(r.URL.Query().Get("machine_id")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RecordResponse{Record: app.RecordJSON(rec)})
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
			s.writeError(w, r, hypha.Errorf(hypha.EInvalid, "limit must be a positive integer, got %q", hypha.Clip(l)))
			return
		}
		req.Limit = n
	}
	page, t, err := s.Sync.Manifest(r.Context(), groveOf(r), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := wire.ManifestResponse{Table: t.Name, MachineID: req.MachineID, ProjectID: req.ProjectID, Count: page.Count}
	if !req.Summary {
		out.Items = make([]wire.ManifestItem, len(page.Items))
		for i, it := range page.Items {
			out.Items[i] = wire.ManifestItem{ID: it.ID, ProjectID: wire.Nullable(it.ProjectID)}
			if t.ContentHash {
				out.Items[i].ContentHash = wire.Opt(it.ContentHash)
			}
		}
		out.NextCursor = page.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.Sync.Config(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ConfigResponse{Config: cfg, SyncProtocolVersion: hypha.SyncProtocolVersion,
		MinCompatClientVersion: hypha.MinSyncProtocolVersion})
}

func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	var body wire.ConfigUpdate
	if err := readJSON(r, &body, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.Sync.PutConfig(r.Context(), body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ConfigUpdateResponse{Updated: n})
}

func (s *Server) handleSyncSummary(w http.ResponseWriter, r *http.Request) {
	machine := strings.TrimSpace(r.URL.Query().Get("machine_id"))
	sum, err := s.Sync.SyncSummary(r.Context(), groveOf(r), machine)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := wire.SyncSummaryResponse{
		GeneratedAt: time.Now().Unix(), GroveID: groveOf(r),
		TotalRecords: sum.Total, Tables: sum.Tables,
		VectorCount: sum.VectorCount, VectorIndexHealthy: true,
		EmbeddableCount: sum.EmbeddableCount, EmbeddableByTable: sum.EmbeddableBy,
		PackageVersion: s.PackageVersion, SyncProtocolVersion: hypha.SyncProtocolVersion,
	}
	if st := s.Schema.State(); st.Report != nil {
		out.SchemaVersion = st.Report.Current
	}
	if machine != "" {
		out.MachineID, out.MachineTables = machine, sum.MachineTables
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	recs, err := s.Sync.Members(r.Context(), groveOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := wire.MembersResponse{Members: make([]wire.Member, len(recs))}
	for i, rec := range recs {
		out.Members[i] = wire.Member{ID: rec.ID, MachineID: rec.MachineID, User: rec.Value("user"), Role: rec.Value("role"),
			Joined: rec.Value("joined"), Tags: rec.Value("tags"), SyncedAt: rec.SyncedAt}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	n, err := s.Sync.RemoveMember(r.Context(), groveOf(r), r.PathValue("machine_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RemoveMemberResponse{Removed: n})
}

func (s *Server) handleRebuild(w http.ResponseWriter, r *http.Request) {
	var body wire.RebuildRequest
	// A missing or unparsable body counts as {} (→ 400 below), as upstream.
	if err := readJSON(r, &body, true); err != nil && hypha.ErrorCode(err) == hypha.ETooLarge {
		s.writeError(w, r, err)
		return
	}
	machine := strings.TrimSpace(body.MachineID)
	n, err := s.Sync.Rebuild(r.Context(), groveOf(r), machine)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RebuildResponse{OK: true, MachineID: machine, TruncatedTables: n})
}
