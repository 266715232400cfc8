package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"sort"

	"github.com/hyphateam/hypha"
)

// PutEmbeddings upserts vectors with multi-row statements.
func (q *queries) PutEmbeddings(ctx context.Context, embs []*hypha.Embedding) error {
	const perRow = 9
	now := q.now()
	// The last vector of a repeated key wins. The table is part of the key:
	// the same id in two tables is two rows. Rows are written in key order
	// so concurrent writers that share keys lock them in the same order.
	keyOf := func(e *hypha.Embedding) [4]string {
		return [4]string{e.Key.GroveID, e.Key.Table.Name, e.Key.MachineID, e.Key.ID}
	}
	last := make(map[[4]string]int, len(embs))
	for i, e := range embs {
		last[keyOf(e)] = i
	}
	rows := make([]*hypha.Embedding, 0, len(last))
	for i, e := range embs {
		if last[keyOf(e)] == i {
			rows = append(rows, e)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := keyOf(rows[i]), keyOf(rows[j])
		return slices.Compare(a[:], b[:]) < 0
	})
	return chunks(len(rows), maxParams/perRow, func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*perRow)
		for _, e := range rows[lo:hi] {
			at := e.UpdatedAt
			if at == 0 {
				at = now
			}
			args = append(args, e.Key.GroveID, e.Key.Table.Name, e.Key.MachineID, e.Key.ID, e.Model, int64(len(e.Vector)),
				hypha.EncodeVector(e.Vector), nullString(e.ContentHash), at)
		}
		query := `INSERT INTO embeddings (grove_id, table_name, machine_id, record_id, model, dims, vector, content_hash, updated_at) VALUES ` +
			valuesRows(hi-lo, "(?, ?, ?, ?, ?, ?, ?, ?, ?)") + ` ON CONFLICT (grove_id, table_name, machine_id, record_id) DO UPDATE SET model = excluded.model, dims = excluded.dims,
			vector = excluded.vector, content_hash = excluded.content_hash, updated_at = excluded.updated_at`
		_, err := q.exec(ctx, query, args...)
		return q.db.wrap(err, "put embeddings")
	})
}

// DeleteEmbeddings removes vectors by record key.
func (q *queries) DeleteEmbeddings(ctx context.Context, keys []hypha.RecordKey) error {
	for _, k := range keys {
		if _, err := q.exec(ctx, `DELETE FROM embeddings WHERE grove_id = ? AND table_name = ? AND machine_id = ? AND record_id = ?`,
			k.GroveID, k.Table.Name, k.MachineID, k.ID); err != nil {
			return q.db.wrap(err, "delete embeddings")
		}
	}
	return nil
}

// FindEmbedding returns one record's vector.
func (q *queries) FindEmbedding(ctx context.Context, key hypha.RecordKey) (*hypha.Embedding, error) {
	e := &hypha.Embedding{Key: key}
	var blob []byte
	var hash sql.NullString
	err := q.queryRow(ctx, `SELECT model, vector, content_hash, updated_at FROM embeddings
		WHERE grove_id = ? AND table_name = ? AND machine_id = ? AND record_id = ?`,
		key.GroveID, key.Table.Name, key.MachineID, key.ID).Scan(&e.Model, &blob, &hash, &e.UpdatedAt)
	if err == sql.ErrNoRows {
		return nil, hypha.Errorf(hypha.ENotFound, "no embedding for %s %q", key.Table.Name, key.ID)
	}
	if err != nil {
		return nil, q.db.wrap(err, "find embedding")
	}
	v, err := hypha.DecodeVector(blob)
	if err != nil {
		return nil, err
	}
	e.Vector, e.ContentHash = v, hash.String
	return e, nil
}

// DeleteEmbeddingsNotOfModel deletes every vector of another model or
// dimension, in all groves.
func (q *queries) DeleteEmbeddingsNotOfModel(ctx context.Context, model string, dims int) (int64, error) {
	res, err := q.exec(ctx, "DELETE FROM embeddings WHERE model <> ? OR dims <> ?", model, int64(dims))
	if err != nil {
		return 0, q.db.wrap(err, "delete embeddings of other models")
	}
	n, _ := res.RowsAffected()
	return n, nil
}
