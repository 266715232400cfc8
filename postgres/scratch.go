package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// ScratchSchema creates an empty schema in the database at dbURL and returns
// a URL whose search_path selects it, and a function that drops it. It lets
// `hypha db diff` build the schema the migrations produce next to the live
// one without touching it.
func ScratchSchema(ctx context.Context, dbURL string) (string, func(), error) {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return "", nil, fmt.Errorf("invalid PostgreSQL URL: %w", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "hypha_scratch_" + hex.EncodeToString(b)
	admin := stdlib.OpenDB(*cfg)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create scratch schema: %w", err)
	}
	drop := func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		admin.Close()
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("invalid PostgreSQL URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
