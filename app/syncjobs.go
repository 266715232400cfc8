package app

import (
	"context"
	"encoding/json"

	"github.com/hyphateam/hypha"
)

// EmbedJob is the job that (re)computes one record's vector. Its payload is
// the Myco SyncRecord of an embed operation, which a dead letter keeps.
func EmbedJob(key hypha.RecordKey) *hypha.Job {
	payload, _ := json.Marshal(map[string]any{
		"table": key.Table.Name, "operation": "embed", "id": key.ID, "machine_id": key.MachineID, "data": map[string]any{},
	})
	return &hypha.Job{Kind: hypha.JobEmbed, GroveID: key.GroveID, Key: hypha.LeaseID(key.Table.Name, key.ID, key.MachineID),
		TableName: key.Table.Name, MachineID: key.MachineID, RecordID: key.ID, Payload: payload}
}

// scheduleEmbeds enqueues embed jobs in the ingest transaction, so a
// record is never committed without the work that indexes it. The queue is
// durable and shared: any instance's consumer may run them.
func (s *Sync) scheduleEmbeds(ctx context.Context, tx hypha.Queries, grove string, keys []hypha.RecordKey) error {
	if len(keys) == 0 {
		return nil
	}
	jobs := make([]*hypha.Job, len(keys))
	for i, k := range keys {
		jobs[i] = EmbedJob(k)
	}
	return tx.EnqueueJobs(ctx, jobs)
}

// resetMachineJobs drops a machine's pending jobs and the grove's counters
// for /rebuild.
func (s *Sync) resetMachineJobs(ctx context.Context, tx hypha.Queries, grove, machineID string) error {
	if _, err := tx.DeleteMachineJobs(ctx, grove, machineID); err != nil {
		return err
	}
	return tx.ResetSyncStats(ctx, grove)
}
