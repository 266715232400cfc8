package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hyphateam/hypha"
)

// Limits of one /enqueue request.
const (
	DefaultMaxRecords     = 1000    // records per request (the daemon sends 100)
	DefaultMaxRecordBytes = 1 << 20 // bytes of one record's JSON
	DefaultTxRows         = 1000    // rows per transaction (D1's statement limit)
	maxIDLength           = 512
	maxMachineIDLength    = 256
	nodeTouchInterval     = 300 // seconds between two last_seen writes per machine
)

// Sync ingests records and serves the reads of the sync routes.
type Sync struct {
	Store          hypha.Store
	Jobs           *Jobs // woken after a commit that queued work; may be nil
	Logger         *slog.Logger
	MaxRecords     int
	MaxRecordBytes int
	TxRows         int

	groves   sync.Map // grove id → struct{}: groves known to exist
	projects sync.Map // project id → owning grove id (ownership never changes)
	synced   sync.Map // project id → last_sync_at written (epoch seconds)
	touchMu  sync.Mutex
	touched  map[[2]string]int64
	stats    statsRefresher
	inflight atomic.Int64
}

// Busy reports whether ingest requests are in flight (for app.JobsOptions).
func (s *Sync) Busy() bool { return s.inflight.Load() > 0 }

// EnqueueRequest is the envelope of /enqueue and /sync.
type EnqueueRequest struct {
	Protocol  int // sync_protocol_version; a missing one counts as 1
	MachineID string
	Records   []json.RawMessage
}

// Rejection reports one record that was not accepted.
type Rejection struct {
	ID    string `json:"id"`
	Table string `json:"table"`
	Error string `json:"error"`
}

// EnqueueResult is the outcome of an ingest.
type EnqueueResult struct {
	Accepted  int
	Rejected  []Rejection
	Written   int // upserts that changed a row
	Unchanged int // upserts skipped because their content hash was unchanged
	Deleted   int // deletes that removed a row
	Embeds    int // embed jobs queued

	owners map[string]string // project owners seen by one transaction
}

// ProtocolError is a client outside the protocol window (409).
type ProtocolError struct {
	Client  int
	Code    string // hypha.EProtocolUnsupported or "protocol_too_old_for_embed"
	Message string
}

func (e *ProtocolError) Error() string { return e.Message }

// CheckProtocol refuses a client version outside the server's window.
func CheckProtocol(v int) error {
	if v < hypha.MinSyncProtocolVersion || v > hypha.SyncProtocolVersion {
		return &ProtocolError{Client: v, Code: hypha.EProtocolUnsupported, Message: fmt.Sprintf(
			"Client protocol v%d is outside the server's supported window [%d, %d]. Update the Myco daemon on this machine (or upgrade the Hypha server).",
			v, hypha.MinSyncProtocolVersion, hypha.SyncProtocolVersion)}
	}
	return nil
}

// wireRecord is one SyncRecord as the daemon sends it.
type wireRecord struct {
	Table       string          `json:"table"`
	Operation   string          `json:"operation"`
	ID          json.RawMessage `json:"id"`
	MachineID   *string         `json:"machine_id"`
	ContentHash *string         `json:"content_hash"`
	Data        json.RawMessage `json:"data"`
}

// item is a validated record ready to apply.
type item struct {
	op  string // upsert, delete or embed
	rec *hypha.Record
	key hypha.RecordKey
	// projectName names rec's project when it was derived for an old
	// client (legacyProject), so the project is created with a name.
	projectName string
}

// Enqueue validates records, reporting bad ones per record, and applies the
// rest durably: when it returns nil every accepted record is committed.
func (s *Sync) Enqueue(ctx context.Context, grove string, req *EnqueueRequest) (*EnqueueResult, error) {
	if err := CheckProtocol(req.Protocol); err != nil {
		return nil, err
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if max := s.maxRecords(); len(req.Records) > max {
		return nil, hypha.Errorf(hypha.ETooLarge, "batch of %d records is over the limit of %d per request; send at most %d", len(req.Records), max, max)
	}
	res := &EnqueueResult{}
	parsed := make([]*wireRecord, len(req.Records))
	for i, raw := range req.Records {
		var w wireRecord
		if err := json.Unmarshal(raw, &w); err == nil {
			parsed[i] = &w
			if w.Operation == "embed" && req.Protocol < 2 {
				return nil, &ProtocolError{Client: req.Protocol, Code: "protocol_too_old_for_embed", Message: fmt.Sprintf(
					"Client protocol v%d cannot use the 'embed' SyncRecord operation (added in v2). Update the Myco daemon on this machine.", req.Protocol)}
			}
		}
	}
	var items []item
	for i, raw := range req.Records {
		it, rej := s.validate(grove, req.Protocol, req.MachineID, raw, parsed[i])
		if rej != nil {
			res.Rejected = append(res.Rejected, *rej)
			continue
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return res, nil
	}
	if err := s.ensureGrove(ctx, grove); err != nil {
		return nil, err
	}
	txRows := s.TxRows
	if txRows <= 0 || txRows > DefaultTxRows {
		txRows = DefaultTxRows
	}
	for lo := 0; lo < len(items); lo += txRows {
		if err := s.apply(ctx, grove, items[lo:min(lo+txRows, len(items))], res); err != nil {
			return nil, err
		}
	}
	if s.Jobs != nil && res.Embeds > 0 {
		s.Jobs.Notify()
	}
	s.touchNode(ctx, grove, req.MachineID)
	return res, nil
}

// validate turns one raw record into an item, or says why it is rejected.
func (s *Sync) validate(grove string, protocol int, envelopeMachine string, raw json.RawMessage, w *wireRecord) (item, *Rejection) {
	reject := func(table, id, format string, args ...any) (item, *Rejection) {
		return item{}, &Rejection{ID: id, Table: table, Error: fmt.Sprintf(format, args...)}
	}
	if w == nil {
		return reject("", "", "record is not a JSON object with table, operation, id and data")
	}
	id, ok := recordID(w.ID)
	if !ok {
		return reject(w.Table, "", "id must be a string or an integer")
	}
	if max := s.maxRecordBytes(); len(raw) > max {
		return reject(w.Table, id, "record is %d bytes, over the %d-byte limit per record", len(raw), max)
	}
	t := hypha.LookupTable(w.Table)
	if t == nil {
		return reject(w.Table, id, "Unknown table: %s", w.Table)
	}
	switch w.Operation {
	case "upsert", "delete", "embed":
	default:
		return reject(w.Table, id, "Unknown operation: %q (expected upsert, delete or embed)", w.Operation)
	}
	if id == "" {
		return reject(w.Table, id, "id is required")
	}
	if len(id) > maxIDLength {
		return reject(w.Table, truncateID(id), "id is %d bytes, over the %d-byte limit", len(id), maxIDLength)
	}
	// Keys are checked before anything reaches a store: PostgreSQL would
	// fail the whole batch on them, SQLite would store them.
	if err := hypha.ValidateKeyText("id", id); err != nil {
		return reject(w.Table, truncateID(id), "%s", hypha.ErrorMessage(err))
	}
	machine := envelopeMachine
	if w.MachineID != nil && *w.MachineID != "" {
		machine = *w.MachineID
	}
	if machine == "" {
		return reject(w.Table, id, "machine_id is required")
	}
	if len(machine) > maxMachineIDLength {
		return reject(w.Table, id, "machine_id is %d bytes, over the %d-byte limit", len(machine), maxMachineIDLength)
	}
	if err := hypha.ValidateKeyText("machine_id", machine); err != nil {
		return reject(w.Table, id, "%s", hypha.ErrorMessage(err))
	}
	if w.ContentHash != nil {
		if err := hypha.ValidateKeyText("content_hash", *w.ContentHash); err != nil {
			return reject(w.Table, id, "%s", hypha.ErrorMessage(err))
		}
	}
	data := map[string]any{}
	if len(w.Data) > 0 && !bytes.Equal(bytes.TrimSpace(w.Data), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(w.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return reject(w.Table, id, "data must be a JSON object")
		}
	}
	if w.Operation == "upsert" && len(w.Data) == 0 {
		return reject(w.Table, id, "data is required for an upsert")
	}
	key := hypha.RecordKey{Table: t, GroveID: grove, MachineID: machine, ID: id}
	pid, hasPID := data[hypha.ColProject]
	legacy := protocol < legacyProtocolBelow
	// Clients of protocol 3 name a valid project on every upsert (and on
	// deletes that carry one), as upstream's newer worker demands; older
	// clients' rows are filed in a derived project instead (legacyProject),
	// and their deletes are keyed by id alone.
	if t.Scope == hypha.ScopeProject && !legacy && (w.Operation == "upsert" || hasPID) && w.Operation != "embed" {
		if s, ok := pid.(string); !ok || !hypha.ProjectIDPattern.MatchString(s) {
			return reject(w.Table, id, "Invalid project_id: expected proj_<32 hex chars>, got %s", jsonOf(pid, hasPID))
		}
	}
	if w.Operation != "upsert" {
		return item{op: w.Operation, key: key}, nil
	}
	rec, err := hypha.NewRecord(t, grove, machine, id, data)
	if err != nil {
		return reject(w.Table, id, "%s", hypha.ErrorMessage(err))
	}
	var projectName string
	if t.Scope == hypha.ScopeProject && legacy {
		if rec.ProjectID, projectName, err = legacyProject(grove, data); err != nil {
			return reject(w.Table, id, "%s", hypha.ErrorMessage(err))
		}
	}
	if w.ContentHash != nil && *w.ContentHash != "" {
		rec.SetContentHash(*w.ContentHash)
	}
	if t.Scope == hypha.ScopeMachine {
		now := s.Store.Now().Unix()
		rec.SyncedAt = &now // machine-scoped rows: server-authoritative "last received"
	}
	return item{op: "upsert", rec: rec, key: key, projectName: projectName}, nil
}

// apply writes one chunk of items in one transaction, with the embed jobs
// of the records it changed.
func (s *Sync) apply(ctx context.Context, grove string, items []item, res *EnqueueResult) error {
	now := s.Store.Now().Unix()
	var chunk EnqueueResult
	err := s.Store.InTx(ctx, func(tx hypha.Queries) error {
		chunk = EnqueueResult{}
		var pids []string
		var names map[string]string // derived projects' names
		for _, it := range items {
			if it.rec != nil && it.rec.ProjectID != "" {
				pids = append(pids, it.rec.ProjectID)
				if it.projectName != "" {
					if names == nil {
						names = map[string]string{}
					}
					names[it.rec.ProjectID] = it.projectName
				}
			}
		}
		owners, unknown := map[string]string{}, []string(nil)
		for _, p := range pids {
			if g, ok := s.projects.Load(p); ok {
				owners[p] = g.(string)
			} else {
				unknown = append(unknown, p)
			}
		}
		if len(unknown) > 0 {
			ps := make([]*hypha.Project, len(unknown))
			for i, p := range unknown {
				ps[i] = &hypha.Project{ID: p, Name: names[p]}
			}
			claimed, err := tx.RegisterProjects(ctx, grove, ps)
			if err != nil {
				return err
			}
			for p, g := range claimed {
				owners[p] = g
			}
		}
		var upserts []*hypha.Record
		// unindex are records that left the search: their vectors go now,
		// their search documents when the consumer runs their jobs (it
		// finds nothing to index and removes them). Searches never show
		// them meanwhile: results are read back from the records.
		var deletes, embeds, unindex []hypha.RecordKey
		for _, it := range items {
			switch it.op {
			case "upsert":
				if owner := owners[it.rec.ProjectID]; it.rec.ProjectID != "" && owner != grove {
					chunk.Rejected = append(chunk.Rejected, Rejection{ID: it.key.ID, Table: it.key.Table.Name,
						Error: fmt.Sprintf("project %s belongs to another grove; a project lives in exactly one grove", it.rec.ProjectID)})
					continue
				}
				upserts = append(upserts, it.rec)
			case "delete":
				deletes = append(deletes, it.key)
			case "embed":
				embeds = append(embeds, it.key)
			}
		}
		chunk.Accepted = len(upserts) + len(deletes) + len(embeds)
		if len(upserts) > 0 {
			written, err := tx.UpsertRecords(ctx, upserts)
			if err != nil {
				return err
			}
			var stale []hypha.RecordKey
			for i, r := range upserts {
				if !written[i] {
					chunk.Unchanged++
					continue
				}
				chunk.Written++
				switch {
				case r.Embeddable():
					embeds = append(embeds, r.Key())
				case r.Table.TextColumn != "":
					stale = append(stale, r.Key()) // inactive spore or emptied text: drop its vector
				}
			}
			if len(stale) > 0 {
				if err := tx.DeleteEmbeddings(ctx, stale); err != nil {
					return err
				}
				unindex = append(unindex, stale...)
			}
		}
		if len(deletes) > 0 {
			gone, err := tx.DeleteRecords(ctx, deletes)
			if err != nil {
				return err
			}
			var vecs []hypha.RecordKey
			for i, k := range deletes {
				if gone[i] {
					chunk.Deleted++
				}
				if k.Table.TextColumn != "" {
					vecs = append(vecs, k)
				}
			}
			if len(vecs) > 0 {
				if err := tx.DeleteEmbeddings(ctx, vecs); err != nil {
					return err
				}
				unindex = append(unindex, vecs...)
			}
		}
		if err := s.scheduleEmbeds(ctx, tx, grove, append(embeds, unindex...)); err != nil {
			return err
		}
		chunk.Embeds = len(embeds)
		if stale := s.staleProjects(pids, now); len(stale) > 0 {
			if err := tx.TouchProjects(ctx, grove, stale, now); err != nil {
				return err
			}
		}
		chunk.owners = owners
		return nil
	})
	if err != nil {
		// The transaction rolled back: forget what it would have cached.
		return err
	}
	for p, g := range chunk.owners {
		s.projects.Store(p, g)
	}
	if chunk.Written > 0 {
		s.stats.note(s.Store, s.Logger, writtenPerTable(items))
	}
	res.Accepted += chunk.Accepted
	res.Rejected = append(res.Rejected, chunk.Rejected...)
	res.Written += chunk.Written
	res.Unchanged += chunk.Unchanged
	res.Deleted += chunk.Deleted
	res.Embeds += chunk.Embeds
	return nil
}

// ensureGrove creates the grove on its first write.
func (s *Sync) ensureGrove(ctx context.Context, grove string) error {
	if _, ok := s.groves.Load(grove); ok {
		return nil
	}
	if _, err := s.Store.EnsureGrove(ctx, &hypha.Grove{ID: grove, Name: grove}); err != nil {
		return err
	}
	s.groves.Store(grove, struct{}{})
	return nil
}

// touchNode moves the machine's last_seen at most every five minutes (it
// never creates a node: /connect does).
func (s *Sync) touchNode(ctx context.Context, grove, machine string) {
	if machine == "" || !hypha.ValidText(machine) {
		return // no node can have it: records carried their own machine ids
	}
	now := s.Store.Now().Unix()
	k := [2]string{grove, machine}
	s.touchMu.Lock()
	if s.touched == nil {
		s.touched = map[[2]string]int64{}
	}
	if last, ok := s.touched[k]; ok && now-last < nodeTouchInterval {
		s.touchMu.Unlock()
		return
	}
	s.touched[k] = now
	s.touchMu.Unlock()
	if err := s.Store.TouchNode(ctx, grove, machine, now); err != nil && s.Logger != nil {
		s.Logger.Warn("could not update node last_seen", "grove", grove, "machine_id", machine, "err", err)
	}
}

func (s *Sync) maxRecords() int {
	if s.MaxRecords > 0 {
		return s.MaxRecords
	}
	return DefaultMaxRecords
}

func (s *Sync) maxRecordBytes() int {
	if s.MaxRecordBytes > 0 {
		return s.MaxRecordBytes
	}
	return DefaultMaxRecordBytes
}

// recordID accepts the daemon's String(row_id) and a bare integer.
func recordID(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := n.Int64(); err == nil {
			return strconv.FormatInt(i, 10), true
		}
	}
	return "", false
}

// jsonOf renders a value as the Myco worker's message does (undefined when
// the field is absent).
func jsonOf(v any, present bool) string {
	if !present {
		return "undefined"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

func truncateID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

// projectTouchInterval bounds how often a project's last_sync_at is
// rewritten: the grove metrics need minutes, not every batch.
const projectTouchInterval = 10

// staleProjects returns the projects whose last_sync_at is older than
// projectTouchInterval seconds, and marks them as touched now.
func (s *Sync) staleProjects(pids []string, now int64) []string {
	var out []string
	for _, p := range pids {
		if last, ok := s.synced.Load(p); ok && now-last.(int64) < projectTouchInterval {
			continue
		}
		s.synced.Store(p, now)
		out = append(out, p)
	}
	return out
}

// writtenPerTable counts the upserts of a chunk per table.
func writtenPerTable(items []item) map[string]int64 {
	out := map[string]int64{}
	for _, it := range items {
		if it.op == "upsert" {
			out[it.key.Table.Name]++
		}
	}
	return out
}
