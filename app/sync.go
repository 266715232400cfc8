package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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

	groves   memo[string, struct{}] // groves known to exist
	projects memo[string, string]   // project id → owning grove id (ownership never changes)
	synced   memo[string, int64]    // project id → last_sync_at written (epoch seconds)
	touched  memo[[2]string, int64] // (grove, machine) → last_seen written
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

	owners  map[string]string // project owners seen by one transaction
	touched []string          // projects whose last_sync_at it wrote
}

// CheckProtocol refuses a client version outside the server's window with
// protocol_version_unsupported (409; the HTTP layer adds the window to the
// answer, as the worker's typed 409).
func CheckProtocol(v int) error {
	if v < hypha.MinSyncProtocolVersion || v > hypha.SyncProtocolVersion {
		return hypha.Errorf(hypha.EProtocolUnsupported,
			"Client protocol v%d is outside the server's supported window [%d, %d]. Update the Myco daemon on this machine (or upgrade the Hypha server).",
			v, hypha.MinSyncProtocolVersion, hypha.SyncProtocolVersion)
	}
	return nil
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
				return nil, hypha.Errorf(hypha.EProtocolTooOldEmbed,
					"Client protocol v%d cannot use the 'embed' SyncRecord operation (added in v2). Update the Myco daemon on this machine.", req.Protocol)
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
				owners[p] = g
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
			chunk.touched = stale
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
	s.markSynced(chunk.touched, now)
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
	if last, ok := s.touched.Load(k); ok && now-last < nodeTouchInterval {
		return
	}
	s.touched.Store(k, now)
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

// projectTouchInterval bounds how often a project's last_sync_at is
// rewritten: the grove metrics need minutes, not every batch.
const projectTouchInterval = 10

// staleProjects returns the projects whose last_sync_at is older than
// projectTouchInterval seconds. They are remembered as touched only once
// the transaction that touches them commits (markSynced): a rollback must
// not hold back last_sync_at.
func (s *Sync) staleProjects(pids []string, now int64) []string {
	var out []string
	for _, p := range pids {
		if last, ok := s.synced.Load(p); ok && now-last < projectTouchInterval {
			continue
		}
		out = append(out, p)
	}
	return out
}

// markSynced remembers that the projects' last_sync_at is now, after the
// commit that wrote it.
func (s *Sync) markSynced(pids []string, now int64) {
	for _, p := range pids {
		s.synced.Store(p, now)
	}
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
