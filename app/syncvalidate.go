package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hyphateam/hypha"
)

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

// validate turns one raw record into an item, or says why it is rejected.
func (s *Sync) validate(grove string, protocol int, envelopeMachine string, raw json.RawMessage, w *wireRecord) (item, *Rejection) {
	reject := func(table, id, format string, args ...any) (item, *Rejection) {
		// The table is echoed for the client to match its record; a valid
		// one is short, a longer one is garbage and clipped like any echo.
		return item{}, &Rejection{ID: id, Table: hypha.Clip(table), Error: fmt.Sprintf(format, args...)}
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
		return reject(w.Table, id, "Unknown table: %s", hypha.Clip(w.Table))
	}
	switch w.Operation {
	case "upsert", "delete", "embed":
	default:
		return reject(w.Table, id, "Unknown operation: %q (expected upsert, delete or embed)", hypha.Clip(w.Operation))
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
