package app

import (
	"context"
	"sort"

	"github.com/hyphateam/hypha"
)

// Limits of the read routes.
const (
	DefaultManifestLimit = 200
	MaxManifestLimit     = 1000
)

// FindRecord returns one record of a /records type (plural table names:
// sessions, spores, plans, artifacts, skill_records).
func (s *Sync) FindRecord(ctx context.Context, grove, typ, id, machineID string) (*hypha.Record, error) {
	t := hypha.LookupTable(typ)
	if t == nil || !t.RecordType {
		return nil, hypha.Errorf(hypha.EInvalid, "Unknown record type: %s", hypha.Clip(typ))
	}
	if err := validateKeys("id", id, "machine_id", machineID); err != nil {
		return nil, err
	}
	return s.Store.FindRecord(ctx, hypha.RecordKey{Table: t, GroveID: grove, MachineID: machineID, ID: id})
}

// ManifestRequest is the query of /manifest.
type ManifestRequest struct {
	MachineID, Table, ProjectID, Cursor string
	Limit                               int // 0: default
	Summary                             bool
}

// Manifest returns one page (or only the count) of a machine's ids.
func (s *Sync) Manifest(ctx context.Context, grove string, req ManifestRequest) (*hypha.ManifestPage, *hypha.Table, error) {
	if req.MachineID == "" {
		return nil, nil, hypha.Errorf(hypha.EInvalid, "machine_id is required")
	}
	if req.Table == "" {
		return nil, nil, hypha.Errorf(hypha.EInvalid, "table is required")
	}
	t := hypha.LookupTable(req.Table)
	if t == nil || !t.InManifest {
		return nil, nil, hypha.Errorf(hypha.EInvalid, "Unknown or ineligible table: %s", req.Table)
	}
	if err := validateKeys("machine_id", req.MachineID, "project_id", req.ProjectID, "cursor", req.Cursor); err != nil {
		return nil, nil, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultManifestLimit
	}
	limit = min(limit, MaxManifestLimit)
	if req.Summary {
		limit = 0
	}
	page, err := s.Store.ManifestPage(ctx, hypha.ManifestQuery{Table: t, GroveID: grove, MachineID: req.MachineID,
		ProjectID: req.ProjectID, Cursor: req.Cursor, Limit: limit})
	return page, t, err
}

// Config returns team_config.
func (s *Sync) Config(ctx context.Context) (map[string]string, error) {
	return TeamConfig(ctx, s.Store)
}

// Summary is the answer of /sync-summary.
type Summary struct {
	Tables          map[string]int64
	Total           int64
	MachineTables   map[string]int64 // nil without a machine id
	VectorCount     int64
	EmbeddableCount int64
	EmbeddableBy    map[string]int64
}

// SyncSummary counts a grove's rows, optionally those of one machine too.
func (s *Sync) SyncSummary(ctx context.Context, grove, machineID string) (*Summary, error) {
	if err := validateKeys("machine_id", machineID); err != nil {
		return nil, err
	}
	out := &Summary{}
	var err error
	if out.Tables, err = s.Store.CountRecords(ctx, grove, ""); err != nil {
		return nil, err
	}
	for _, n := range out.Tables {
		out.Total += n
	}
	if machineID != "" {
		if out.MachineTables, err = s.Store.CountRecords(ctx, grove, machineID); err != nil {
			return nil, err
		}
	}
	if out.VectorCount, err = s.Store.CountEmbeddings(ctx, grove); err != nil {
		return nil, err
	}
	if out.EmbeddableBy, err = s.Store.CountEmbeddable(ctx, grove); err != nil {
		return nil, err
	}
	for _, n := range out.EmbeddableBy {
		out.EmbeddableCount += n
	}
	return out, nil
}

// Members lists the grove's roster (team_members of every machine),
// ordered by user then machine.
func (s *Sync) Members(ctx context.Context, grove string) ([]*hypha.Record, error) {
	t := hypha.LookupTable("team_members")
	var out []*hypha.Record
	for offset := 0; ; offset += 1000 {
		page, err := s.Store.ListRecords(ctx, hypha.RecordFilter{Table: t, GroveID: grove, Limit: 1000, Offset: offset,
			OrderBy: []hypha.OrderBy{{Column: "user"}, {Column: hypha.ColMachine}, {Column: hypha.ColID}}})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
	}
}

// RemoveMember deletes one machine's roster rows in the grove.
func (s *Sync) RemoveMember(ctx context.Context, grove, machineID string) (int64, error) {
	if machineID == "" {
		return 0, hypha.Errorf(hypha.EInvalid, "machine_id is required")
	}
	if err := validateKeys("machine_id", machineID); err != nil {
		return 0, err
	}
	n, err := s.Store.DeleteMachineRows(ctx, grove, machineID, []*hypha.Table{hypha.LookupTable("team_members")})
	return n["team_members"], err
}

// Rebuild wipes one machine's rows, vectors and pending jobs in the grove
// and resets the grove's counters, so the daemon can push everything again.
func (s *Sync) Rebuild(ctx context.Context, grove, machineID string) (int, error) {
	if machineID == "" {
		return 0, hypha.Errorf(hypha.EInvalid, "machine_id is required")
	}
	if err := validateKeys("machine_id", machineID); err != nil {
		return 0, err
	}
	err := s.Store.InTx(ctx, func(tx hypha.Queries) error {
		if _, err := tx.DeleteMachineRows(ctx, grove, machineID, hypha.SyncedTables); err != nil {
			return err
		}
		return s.resetMachineJobs(ctx, tx, grove, machineID)
	})
	return len(hypha.SyncedTables), err
}

// SortedTableNames lists the synced tables by name, for stable output.
func SortedTableNames() []string {
	names := make([]string, len(hypha.SyncedTables))
	for i, t := range hypha.SyncedTables {
		names[i] = t.Name
	}
	sort.Strings(names)
	return names
}

// validateKeys checks name/value pairs with hypha.ValidateKeyText, so a
// lookup by bytes no engine can hold is refused alike on both engines.
// maxLookupKeyLength bounds a key a read looks up by.
const maxLookupKeyLength = 2048

func validateKeys(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := hypha.ValidateKeyText(pairs[i], pairs[i+1]); err != nil {
			return err
		}
		if n := len(pairs[i+1]); n > maxLookupKeyLength {
			// No stored key is that long (ids, machine ids and cursors
			// are bounded at ingest); refusing it keeps answers that
			// echo the key bounded too.
			return hypha.Errorf(hypha.EInvalid, "%s is %d bytes, over the %d-byte limit", pairs[i], n, maxLookupKeyLength)
		}
	}
	return nil
}
