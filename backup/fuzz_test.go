package backup_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/backup"
	"github.com/hyphateam/hypha/internal/testdb"
)

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, and
// every refusal must be an EInvalid error with a one-line message.
func FuzzVerify(f *testing.F) {
	src := testdb.MustOpen(f, "sqlite")
	var good bytes.Buffer
	if _, err := backup.Export(context.Background(), src, &good, backup.ExportOptions{}); err != nil {
		f.Fatal(err)
	}
	lines := unseal(f, good.Bytes())
	f.Add(good.Bytes())
	f.Add(seal(f, lines[:1]))
	f.Add(gzipLines(f, lines[:3]))
	f.Add(gzipLines(f, [][]byte{[]byte(`{"format":"hypha-backup","format_version":1,"schema_version":1,"created_at":"2024-01-01T00:00:00Z","tables":[{"name":"t","columns":["a"],"types":["integer"],"key":["a"]}]}`),
		[]byte(`{"kind":"table","name":"t"}`), []byte(`[1]`), []byte(`["x"]`)}))
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte("not a backup"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, sum, err := backup.Verify(context.Background(), bytes.NewReader(data), backup.VerifyOptions{})
		if err != nil {
			if hypha.ErrorCode(err) != hypha.EInvalid || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Verify returned %s error %q", hypha.ErrorCode(err), err)
			}
			return
		}
		if sum == nil || len(sum.SHA256) != 64 {
			t.Fatalf("Verify accepted a file with summary %+v", sum)
		}
	})
}
