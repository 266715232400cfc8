package bench_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testdb"
)

func TestZZExplore(t *testing.T) {
	path := "/tmp/ftbench/hypha.db"
	_, err := os.Stat(path)
	fresh := err != nil
	os.MkdirAll("/tmp/ftbench", 0o755)
	db := testdb.OpenSQLite(t, path, nil)
	ctx := context.Background()
	if fresh {
		if _, err := db.Migrate(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if err := loadSpores(ctx, db, vocabulary(5000), ftSpores); err != nil {
			t.Fatal(err)
		}
	}
	vocab := vocabulary(5000)
	q := `"` + vocab[3] + `" OR "` + vocab[7] + `"`
	w := db.WriteDB()
	for _, s := range []string{
		`SELECT count(*) FROM fulltext_index WHERE fulltext_index MATCH ?`,
		`SELECT count(*) FROM (SELECT rowid, bm25(fulltext_index) AS r FROM fulltext_index WHERE fulltext_index MATCH ?)`,
		`SELECT rowid FROM fulltext_index WHERE fulltext_index MATCH ? ORDER BY rank LIMIT 10`,
		`SELECT rowid FROM fulltext_index WHERE fulltext_index MATCH ? ORDER BY bm25(fulltext_index) LIMIT 10`,
		`SELECT d.doc_id FROM fulltext_index CROSS JOIN fulltext_docs AS d ON d.doc_id = fulltext_index.rowid WHERE fulltext_index MATCH ? AND d.grove_id = 'bench' ORDER BY bm25(fulltext_index) LIMIT 10`,
		`SELECT d.grove_id, d.table_name, d.machine_id, d.record_id, d.project_id, d.created_at, -bm25(fulltext_index) AS score FROM fulltext_index CROSS JOIN fulltext_docs AS d ON d.doc_id = fulltext_index.rowid WHERE fulltext_index MATCH ? AND d.grove_id = 'bench' ORDER BY score DESC, d.table_name, d.machine_id, d.record_id LIMIT 10`,
	} {
		for range 2 {
			t0 := time.Now()
			rows, err := w.Query(s, q)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			t.Logf("%8s %d  %.90s", time.Since(t0).Round(time.Millisecond), n, s)
		}
	}
	var c int
	w.QueryRow(`SELECT count(*) FROM fulltext_index WHERE fulltext_index MATCH ?`, q).Scan(&c)
	t.Logf("matches %d", c)
}
