package app

import (
	"context"
	"fmt"

	"github.com/hyphateam/hypha"
)

// pendingEmbed is a record text the consumer has yet to embed.
type pendingEmbed struct {
	key  hypha.RecordKey
	text string // truncated by the reference's rule
	hash string // hex SHA-256 of text
}

// embed embeds the texts of outs[i] for i in todo and settles each of those
// outcomes with a vector or an error. An embedder that batches
// (hypha.BatchEmbedder, a provider over the network) gets them in one call,
// which it splits into bounded requests. If the provider refuses the input
// of a batch (code invalid), the texts are embedded one by one so one bad
// text fails only its own job; any other failure fails the whole batch,
// retried later by the queue. Other embedders get one text per call.
func (j *Jobs) embed(ctx context.Context, outs []outcome, todo []int) {
	if be, ok := j.embedder.(hypha.BatchEmbedder); ok && len(todo) > 1 {
		texts := make([]string, len(todo))
		for k, i := range todo {
			texts[k] = outs[i].todo.text
		}
		vecs, err := be.EmbedBatch(ctx, texts)
		switch {
		case err == nil && len(vecs) == len(todo):
			for k, i := range todo {
				j.settle(ctx, &outs[i], vecs[k], nil, false)
			}
			return
		case err == nil:
			err = fmt.Errorf("the embedder returned %d vectors for %d texts", len(vecs), len(todo))
		}
		if ctx.Err() == nil && hypha.ErrorCode(err) != hypha.EInvalid {
			// Logged once for the batch (reference §12.10), not per job.
			j.log.Warn("embedding batch failed", "texts", len(todo), "model", j.embedder.Model(),
				"first_lease_id", outs[todo[0]].job.Key, "attempt", outs[todo[0]].job.Attempts, "max_attempts", j.opts.MaxAttempts, "err", err)
			for _, i := range todo {
				j.settle(ctx, &outs[i], nil, err, false)
			}
			return
		}
		if ctx.Err() == nil {
			j.log.Info("embedding batch refused; embedding its texts one by one", "texts", len(todo), "err", err)
		}
	}
	for _, i := range todo {
		if err := ctx.Err(); err != nil {
			outs[i].err = err // abandoned: RunOnce releases the batch
			continue
		}
		vec, err := j.embedder.Embed(ctx, outs[i].todo.text)
		j.settle(ctx, &outs[i], vec, err, true)
	}
}

// settle records the vector (checked against the embedder's dimension) or
// the failure of one pending outcome, logging a failure when asked.
func (j *Jobs) settle(ctx context.Context, o *outcome, vec []float32, err error, logFailure bool) {
	p := o.todo
	o.todo = nil
	if err == nil && len(vec) != j.embedder.Dims() {
		err = fmt.Errorf("the embedder returned %d dimensions, want %d", len(vec), j.embedder.Dims())
		logFailure = true
	}
	if err != nil {
		if logFailure && ctx.Err() == nil {
			// Every embedding failure is logged (reference §12.10): a
			// broken embedder must never look like success.
			j.log.Warn("embedding failed", "grove", o.job.GroveID, "lease_id", o.job.Key, "model", j.embedder.Model(),
				"attempt", o.job.Attempts, "max_attempts", j.opts.MaxAttempts, "err", err)
		}
		o.err = &embedError{err}
		return
	}
	o.emb = &hypha.Embedding{Key: p.key, Model: j.embedder.Model(), Vector: vec, ContentHash: p.hash, UpdatedAt: j.opts.Clock().Unix()}
}
