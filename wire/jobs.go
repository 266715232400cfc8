package wire

// QueueStats is GET /queue-stats: the worker's counters, with backlog the
// real number of unfinished jobs, plus the live queue sizes.
type QueueStats struct {
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

// DeadLetter is one message of GET /dlq: the worker's fields plus
// replay_count.
type DeadLetter struct {
	LeaseID     string  `json:"lease_id"`
	TableName   string  `json:"table_name"`
	RowID       string  `json:"row_id"`
	MachineID   string  `json:"machine_id"`
	Operation   string  `json:"operation"`
	Reason      *string `json:"reason"`
	CreatedAt   int64   `json:"created_at"`
	ReplayCount int64   `json:"replay_count"`
}

// DeadLettersResponse is GET /dlq.
type DeadLettersResponse struct {
	Messages []DeadLetter `json:"messages"`
}

// LeaseIDsRequest is the body of POST /dlq/retry and /dlq/discard.
// Entries that are not strings are dropped, as on the worker.
type LeaseIDsRequest struct {
	LeaseIDs []any `json:"lease_ids"`
}

// RetryResponse is POST /dlq/retry's answer.
type RetryResponse struct {
	Retried int `json:"retried"`
}

// DiscardResponse is POST /dlq/discard's answer.
type DiscardResponse struct {
	Discarded int64 `json:"discarded"`
}

// ReindexRequest is the optional body of POST /vectors/reindex: one
// embeddable table, or every one when absent.
type ReindexRequest struct {
	Table *string `json:"table,omitempty"`
}

// ReindexResponse is POST /vectors/reindex: the queue-driven fields plus
// the cursor-era fields v1 daemons still read.
type ReindexResponse struct {
	Enqueued            int64            `json:"enqueued"`
	ByTable             map[string]int64 `json:"by_table"`
	SyncProtocolVersion int              `json:"sync_protocol_version"`
	Table               *string          `json:"table"`
	Processed           int64            `json:"processed"`
	Reindexed           int64            `json:"reindexed"`
	Deleted             int64            `json:"deleted"`
	NextCursor          *string          `json:"next_cursor"`
}
