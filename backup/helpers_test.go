package backup_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/backup"
	"github.com/hyphateam/hypha/internal/sqlstore"
)

const (
	groveID  = "team_a"
	projectA = "proj_0123456789abcdef0123456789abcdef"
	projectB = "proj_fedcba9876543210fedcba9876543210"
)

// Awkward values every column type is filled with.
var (
	testInts   = []int64{math.MaxInt64, math.MinInt64, 1<<53 + 1, -1, 0, 1_700_000_000}
	testFloats = []float64{0.1 + 0.2, 1e-300, 5e-324, math.MaxFloat64, -2.5, 1.0 / 3}
	testTexts  = []string{
		`plain`,
		"unicode: ünïcödé 🍄 中文 \u2028 end",
		`quotes "double" 'single' \back\slash </script> & <b>`,
		"control:\n\t\r\x01\x1f",
		"",
	}
)

// populate fills every kind of table of db: groves, projects, nodes, team
// config, three records of every synced table, KV entries and vectors.
func populate(tb testing.TB, db *sqlstore.DB) {
	tb.Helper()
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(db.CreateGrove(ctx, &hypha.Grove{ID: groveID, Name: `Équipe «α» "quoted"`, CreatedAt: 1_700_000_000}))
	if _, err := db.ClaimProjects(ctx, groveID, []string{projectA, projectB}); err != nil {
		tb.Fatal(err)
	}
	seven, three := int64(7), int64(3)
	must(db.UpsertNode(ctx, &hypha.Node{GroveID: groveID, MachineID: "m1", DaemonID: "d1", PackageVersion: "1.2.3",
		SchemaVersion: &seven, SyncProtocolVersion: &three, LastSeen: 1_700_000_100, RegisteredAt: 1_700_000_000}))
	must(db.UpsertNode(ctx, &hypha.Node{GroveID: hypha.DefaultGroveID, MachineID: "m2 ü", LastSeen: 1_700_000_200}))
	must(db.PutTeamConfig(ctx, map[string]string{"team.name": testTexts[1], "quotes": testTexts[2], "control": testTexts[3], "empty": ""}))

	var recs []*hypha.Record
	for _, t := range hypha.SyncedTables {
		for i := range 3 {
			data := map[string]any{hypha.ColSyncedAt: int64(1_700_000_000_123 + i)}
			if t.Scope == hypha.ScopeProject {
				data[hypha.ColProject] = []string{projectA, projectB}[i%2]
			}
			if i == 1 {
				data["undeclared"] = map[string]any{"nested": []any{1.5, "x", nil}, "ü": true}
			}
			for j, c := range t.Columns {
				if i == 2 && j%2 == 0 {
					continue // left to its default
				}
				switch c.Type {
				case hypha.TypeText:
					data[c.Name] = testTexts[(i+j)%len(testTexts)]
				case hypha.TypeInteger:
					data[c.Name] = testInts[(i+j)%len(testInts)]
				case hypha.TypeReal:
					data[c.Name] = testFloats[(i+j)%len(testFloats)]
				}
			}
			r, err := hypha.NewRecord(t, groveID, fmt.Sprintf("machine-%d", i%2), fmt.Sprintf("%s-%d-ü", t.Name, i), data)
			must(err)
			recs = append(recs, r)
		}
	}
	big, err := hypha.NewRecord(hypha.LookupTable("spores"), groveID, "machine-0", "big", map[string]any{
		hypha.ColProject: projectA, "content": strings.Repeat("large text ✓ \"q\"\n", 20_000)})
	must(err)
	recs = append(recs, big)
	_, err = db.UpsertRecords(ctx, recs)
	must(err)

	allBytes := make([]byte, 1024)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	for _, kv := range []struct {
		key   string
		value []byte
		opts  hypha.KVPutOptions
	}{
		{"plain", []byte("hello"), hypha.KVPutOptions{}},
		{"binary", allBytes, hypha.KVPutOptions{Metadata: []byte(`{"a":"ü","n":1}`), TTL: time.Hour}},
		{"empty", []byte{}, hypha.KVPutOptions{}},
		{"unicode kéy 🍄", []byte(testTexts[2]), hypha.KVPutOptions{Metadata: []byte(`{"quoted":"\"x\""}`), TTL: 24 * time.Hour}},
	} {
		_, err := db.KVPut(ctx, kv.key, kv.value, kv.opts)
		must(err)
	}
	_, err = db.KVPut(ctx, "plain", []byte("hello again"), hypha.KVPutOptions{}) // version 2
	must(err)
	must(db.PutEmbeddings(ctx, testEmbeddings(10)))
}

// testEmbeddings returns n 384-dimension vectors of spores, always the same.
func testEmbeddings(n int) []*hypha.Embedding {
	rng := rand.New(rand.NewPCG(1, 2))
	spores := hypha.LookupTable("spores")
	out := make([]*hypha.Embedding, n)
	for i := range out {
		v := make([]float32, 384)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		v[0] = math.Float32frombits(1) // a denormal
		out[i] = &hypha.Embedding{
			Key:   hypha.RecordKey{Table: spores, GroveID: groveID, MachineID: "machine-0", ID: fmt.Sprintf("spores-%d-ü", i)},
			Model: "test/minilm", Vector: v, ContentHash: fmt.Sprintf("hash-%d", i), UpdatedAt: 1_700_000_000 + int64(i),
		}
	}
	return out
}

// exportFile exports db into a new file and returns its path.
func exportFile(tb testing.TB, db hypha.Backuper) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "backup.hypha")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := backup.Export(context.Background(), db, f, backup.ExportOptions{}); err != nil {
		f.Close()
		tb.Fatalf("export: %v", err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// writeFile writes data into a new file and returns its path.
func writeFile(tb testing.TB, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "backup.hypha")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// opener opens path for Import.
func opener(path string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(path) }
}

// importFile imports the file at path into db and fails the test on error.
func importFile(tb testing.TB, db hypha.Backuper, path string) *backup.Summary {
	tb.Helper()
	sum, err := backup.Import(context.Background(), db, opener(path), backup.ImportOptions{Name: filepath.Base(path)})
	if err != nil {
		tb.Fatalf("import: %v", err)
	}
	return sum
}

// content is a backup decoded independently of the package under test.
type content struct {
	SchemaVersion int
	Tables        []tableContent
}

type tableContent struct {
	Meta hypha.BackupTable
	Rows [][]any
}

// decodeFile gunzips a backup and decodes its header and rows, ignoring
// the header's engine and created_at.
func decodeFile(tb testing.TB, path string) *content {
	tb.Helper()
	lines := unseal(tb, readFile(tb, path))
	var h backup.Header
	if err := json.Unmarshal(lines[0], &h); err != nil {
		tb.Fatalf("header: %v", err)
	}
	c := &content{SchemaVersion: h.SchemaVersion}
	for _, l := range lines[1:] {
		switch {
		case bytes.HasPrefix(l, []byte(`{"kind":"table"`)):
			c.Tables = append(c.Tables, tableContent{Meta: h.Tables[len(c.Tables)]})
		case l[0] == '[':
			d := json.NewDecoder(bytes.NewReader(l))
			d.UseNumber()
			var row []any
			if err := d.Decode(&row); err != nil {
				tb.Fatalf("row %s: %v", l, err)
			}
			t := &c.Tables[len(c.Tables)-1]
			t.Rows = append(t.Rows, row)
		}
	}
	return c
}

// rowCount is the number of rows of a table in c.
func (c *content) rowCount(table string) int {
	for _, t := range c.Tables {
		if t.Meta.Name == table {
			return len(t.Rows)
		}
	}
	return -1
}

func (c *content) totalRows() int {
	n := 0
	for _, t := range c.Tables {
		n += len(t.Rows)
	}
	return n
}

// assertSameContent compares two backups table by table.
func assertSameContent(tb testing.TB, wantPath, gotPath string) {
	tb.Helper()
	want, got := decodeFile(tb, wantPath), decodeFile(tb, gotPath)
	if want.SchemaVersion != got.SchemaVersion {
		tb.Errorf("schema_version: want %d, got %d", want.SchemaVersion, got.SchemaVersion)
	}
	if len(want.Tables) != len(got.Tables) {
		tb.Fatalf("want %d tables, got %d", len(want.Tables), len(got.Tables))
	}
	for i := range want.Tables {
		w, g := want.Tables[i], got.Tables[i]
		if !reflect.DeepEqual(w.Meta, g.Meta) {
			tb.Errorf("table %d: want %+v, got %+v", i, w.Meta, g.Meta)
			continue
		}
		if len(w.Rows) != len(g.Rows) {
			tb.Errorf("table %s: want %d rows, got %d", w.Meta.Name, len(w.Rows), len(g.Rows))
			continue
		}
		for j := range w.Rows {
			if !reflect.DeepEqual(w.Rows[j], g.Rows[j]) {
				tb.Errorf("table %s row %d:\nwant %s\ngot  %s", w.Meta.Name, j, clipRow(w.Rows[j]), clipRow(g.Rows[j]))
				break
			}
		}
	}
}

func clipRow(row []any) string {
	s := fmt.Sprint(row)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// unseal gunzips a backup and returns its lines without the trailer.
func unseal(tb testing.TB, data []byte) [][]byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if last := lines[len(lines)-1]; !bytes.HasPrefix(last, []byte(`{"kind":"trailer"`)) {
		tb.Fatalf("last line is not a trailer: %.100s", last)
	}
	return lines[:len(lines)-1]
}

// seal writes lines as a complete backup: it counts the tables and rows,
// appends a trailer with their checksum and gzips the whole.
func seal(tb testing.TB, lines [][]byte) []byte {
	tb.Helper()
	h := sha256.New()
	tables, rows := 0, 0
	for _, l := range lines {
		h.Write(l)
		h.Write([]byte{'\n'})
		switch {
		case bytes.HasPrefix(l, []byte(`{"kind":"table"`)):
			tables++
		case len(l) > 0 && l[0] == '[':
			rows++
		}
	}
	trailer := fmt.Sprintf(`{"kind":"trailer","tables":%d,"rows":%d,"sha256":"%s"}`, tables, rows, hex.EncodeToString(h.Sum(nil)))
	return gzipLines(tb, append(lines[:len(lines):len(lines)], []byte(trailer)))
}

// gzipLines gzips lines, each followed by a newline.
func gzipLines(tb testing.TB, lines [][]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, l := range lines {
		zw.Write(l)
		zw.Write([]byte{'\n'})
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// editHeader rewrites the header line of lines through fn.
func editHeader(tb testing.TB, lines [][]byte, fn func(h map[string]any)) [][]byte {
	tb.Helper()
	var h map[string]any
	if err := json.Unmarshal(lines[0], &h); err != nil {
		tb.Fatal(err)
	}
	fn(h)
	b, err := json.Marshal(h)
	if err != nil {
		tb.Fatal(err)
	}
	out := append([][]byte{b}, lines[1:]...)
	return out
}

// tableLines returns the index of the start line of table and the indexes
// of its rows.
func tableLines(tb testing.TB, lines [][]byte, table string) (start int, rows []int) {
	tb.Helper()
	start = -1
	for i, l := range lines {
		switch {
		case string(l) == fmt.Sprintf(`{"kind":"table","name":%q}`, table):
			start = i
		case start >= 0 && len(l) > 0 && l[0] == '[':
			rows = append(rows, i)
		case start >= 0 && bytes.HasPrefix(l, []byte(`{"kind":"end"`)):
			return start, rows
		}
	}
	tb.Fatalf("no table %s", table)
	return 0, nil
}
