package backup_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/backup"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/sqlite"
)

// latestSchema is the newest migration version of the binary.
func latestSchema(t *testing.T) int {
	t.Helper()
	steps, err := sqlite.Steps()
	if err != nil {
		t.Fatal(err)
	}
	return steps[len(steps)-1].Version
}

// badFile is a file Import must refuse before writing anything.
type badFile struct {
	name string
	data []byte
	code string // expected error code
	want string // expected part of the message; "" to skip
}

// badFiles derives damaged files from the valid backup good.
func badFiles(t *testing.T, good []byte) []badFile {
	t.Helper()
	lines := unseal(t, good)
	rng := rand.New(rand.NewPCG(3, 4))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	with := func(i int, line string) [][]byte {
		out := append([][]byte(nil), lines...)
		out[i] = []byte(line)
		return out
	}
	_, groveRows := tableLines(t, lines, "groves")
	kvStart, kvRows := tableLines(t, lines, "kv")

	files := []badFile{
		{"empty", nil, hypha.EInvalid, "backup.hypha is empty"},
		{"random_bytes", garbage, hypha.EInvalid, "not gzip-compressed"},
		{"plain_text", []byte("hello\n"), hypha.EInvalid, "not gzip-compressed"},
		{"gzip_magic_only", []byte{0x1f, 0x8b}, hypha.EInvalid, "truncated"},
		{"gzip_of_garbage", gz(garbage), hypha.EInvalid, "not a hypha backup"},
		{"gzip_of_json", gz([]byte("{}\n")), hypha.EInvalid, `not a hypha backup (format "")`},
		{"header_only", gzipLines(t, lines[:1]), hypha.EInvalid, "truncated: it ends after its header, before any table"},
		{"header_only_sealed", seal(t, lines[:1]), hypha.EInvalid, "should start table"},
		{"cut_inside_kv", gzipLines(t, lines[:kvRows[0]+1]),
			hypha.EInvalid, "backup.hypha is truncated: it ends inside table kv after 1 row; nothing was imported"},
		{"cut_between_tables", gzipLines(t, lines[:kvStart]), hypha.EInvalid, "it ends after table knowledge_release_state, before table kv"},
		{"no_trailer", gzipLines(t, lines), hypha.EInvalid, "it ends before its trailer"},
		{"wrong_format", seal(t, editHeader(t, lines, func(h map[string]any) { h["format"] = "other-backup" })),
			hypha.EInvalid, `not a hypha backup (format "other-backup")`},
		{"newer_format", seal(t, editHeader(t, lines, func(h map[string]any) { h["format_version"] = 2 })),
			hypha.EInvalid, "written by a newer hypha"},
		{"header_type_unknown", seal(t, editHeader(t, lines, func(h map[string]any) {
			h["tables"].([]any)[0].(map[string]any)["types"].([]any)[0] = "timestamp"
		})), hypha.EInvalid, `unknown type "timestamp"`},
		{"wrong_arity", seal(t, with(groveRows[0], `["default","Default grove"]`)), hypha.EInvalid, "row 1 of table groves has 2 values for 4 columns"},
		{"string_for_integer", seal(t, with(groveRows[0], `["default","Default grove","one",0]`)),
			hypha.EInvalid, `row 1 of table groves has the string "one" where an integer belongs in column is_default`},
		{"fraction_for_integer", seal(t, with(groveRows[0], `["default","Default grove",1.5,0]`)), hypha.EInvalid, "1.5 is not a 64-bit integer"},
		{"huge_integer", seal(t, with(groveRows[0], `["default","Default grove",1,99999999999999999999]`)), hypha.EInvalid, "is not a 64-bit integer"},
		{"null_key", seal(t, with(groveRows[0], `[null,"Default grove",1,0]`)), hypha.EInvalid, "no value for key column id"},
		{"bad_base64", seal(t, with(kvRows[0], `["binary","***",null,1,null,0]`)), hypha.EInvalid, "not valid base64"},
		{"row_not_json", seal(t, with(groveRows[0], `["default",`)), hypha.EInvalid, "not a valid JSON array"},
		{"junk_after_row", seal(t, with(groveRows[0], `["default","Default grove",1,0] x`)), hypha.EInvalid, "data after its closing bracket"},
		{"wrong_row_count", seal(t, with(groveRows[len(groveRows)-1]+1, `{"kind":"end","name":"groves","rows":7}`)),
			hypha.EInvalid, "table groves should have 7 rows but has 2"},
		{"missing_end", seal(t, with(groveRows[len(groveRows)-1]+1, `{"kind":"table","name":"kv"}`)), hypha.EInvalid, "row or the end of table groves"},
		{"data_after_trailer", gzipLines(t, append(unsealedWithTrailer(t, good), []byte("[1]"))), hypha.EInvalid, "data after its trailer"},
		{"gzip_after_gzip", append(append([]byte(nil), good...), gz([]byte("[1]\n"))...), hypha.EInvalid, "data after the end of its compressed stream"},
		{"bytes_after_gzip", append(append([]byte(nil), good...), "junk"...), hypha.EInvalid, "data after the end of its compressed stream"},
		{"newer_schema", seal(t, editHeader(t, lines, func(h map[string]any) { h["schema_version"] = 99 })),
			hypha.ESchemaMismatch, fmt.Sprintf("backup.hypha comes from schema version 99 but the target database is at version %d", latestSchema(t))},
		{"renamed_in_header_only", seal(t, editHeader(t, lines, func(h map[string]any) {
			h["tables"].([]any)[0].(map[string]any)["name"] = "bogus"
		})), hypha.EInvalid, "should start table bogus"},
	}

	// A table the target does not have: renamed everywhere, so the file
	// itself is sound.
	first := editHeader(t, lines, func(h map[string]any) { h["tables"].([]any)[0].(map[string]any)["name"] = "bogus" })
	name := decodeFile(t, writeFile(t, good)).Tables[0].Meta.Name
	_, rows := tableLines(t, first, name)
	first[1] = []byte(`{"kind":"table","name":"bogus"}`)
	first[rows[len(rows)-1]+1] = []byte(fmt.Sprintf(`{"kind":"end","name":"bogus","rows":%d}`, len(rows)))
	files = append(files, badFile{"unknown_table", seal(t, first), hypha.ESchemaMismatch,
		"backup.hypha has table bogus, which the target database does not have"})

	// Same bytes, one row changed: only the checksum can tell.
	raw := bytes.Join(append(with(groveRows[0], `["default","Default grove",1,1]`), nil), []byte("\n"))
	files = append(files, badFile{"changed_row", gzipWithTrailerOf(t, raw, good), hypha.EInvalid, "does not match the checksum in its trailer"})

	for _, cut := range []int{5, 10, 11, 50, len(good) / 3, len(good) / 2, len(good) - 100, len(good) - 9, len(good) - 8, len(good) - 1} {
		files = append(files, badFile{fmt.Sprintf("cut_at_%d_of_%d", cut, len(good)), good[:cut], hypha.EInvalid, "truncated"})
	}
	for i := range 12 {
		at := 10 + i*(len(good)-10)/12
		if i == 11 {
			at = len(good) - 5 // inside the gzip footer
		}
		flipped := append([]byte(nil), good...)
		flipped[at] ^= 0xff
		files = append(files, badFile{fmt.Sprintf("flipped_byte_%d", at), flipped, hypha.EInvalid, ""})
	}
	return files
}

// unsealedWithTrailer returns every line of the backup good, trailer included.
func unsealedWithTrailer(t *testing.T, good []byte) [][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	if _, err := all.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(all.Bytes(), []byte("\n")), []byte("\n"))
}

// gzipWithTrailerOf gzips raw lines followed by the trailer of good.
func gzipWithTrailerOf(t *testing.T, raw, good []byte) []byte {
	t.Helper()
	lines := unsealedWithTrailer(t, good)
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(raw)
	w.Write(lines[len(lines)-1])
	w.Write([]byte("\n"))
	w.Close()
	return buf.Bytes()
}

func TestImportRefuses(t *testing.T) {
	src := testdb.MustOpen(t, "sqlite")
	populate(t, src)
	good := readFile(t, exportFile(t, src))
	files := badFiles(t, good)
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			dst := testdb.MustOpen(t, engine)
			empty := decodeFile(t, exportFile(t, dst)).totalRows()
			for _, f := range files {
				t.Run(f.name, func(t *testing.T) {
					path := writeFile(t, f.data)
					_, err := backup.Import(context.Background(), dst, opener(path), backup.ImportOptions{Name: "backup.hypha"})
					if err == nil {
						t.Fatal("imported a bad file")
					}
					msg := err.Error()
					if hypha.ErrorCode(err) != f.code || !strings.Contains(msg, f.want) || strings.Contains(msg, "\n") ||
						!strings.HasSuffix(msg, "; nothing was imported") || hypha.ErrorMessage(err) != msg {
						t.Errorf("got %s error %q, want %s containing %q and ending with \"; nothing was imported\"", hypha.ErrorCode(err), msg, f.code, f.want)
					}
					if n := decodeFile(t, exportFile(t, dst)).totalRows(); n != empty {
						t.Errorf("the database holds %d rows after a refused import, want %d", n, empty)
					}
				})
			}
		})
	}
	t.Run("verify", func(t *testing.T) {
		for _, f := range files {
			if f.code != hypha.EInvalid {
				continue
			}
			_, _, err := backup.Verify(context.Background(), bytes.NewReader(f.data), backup.VerifyOptions{Name: "backup.hypha"})
			if hypha.ErrorCode(err) != hypha.EInvalid || strings.Contains(err.Error(), "nothing was imported") {
				t.Errorf("%s: Verify returned %v", f.name, err)
			}
		}
		if _, _, err := backup.Verify(context.Background(), bytes.NewReader(good), backup.VerifyOptions{}); err != nil {
			t.Errorf("good file: %v", err)
		}
	})
}

func TestExportFailureLeavesNoValidFile(t *testing.T) {
	src := testdb.MustOpen(t, "sqlite")
	populate(t, src)
	var buf bytes.Buffer
	w := &failingWriter{w: &buf, left: 2000}
	if _, err := backup.Export(context.Background(), src, w, backup.ExportOptions{}); err == nil {
		t.Fatal("export into a failing writer succeeded")
	}
	if _, _, err := backup.Verify(context.Background(), bytes.NewReader(buf.Bytes()), backup.VerifyOptions{}); hypha.ErrorCode(err) != hypha.EInvalid {
		t.Errorf("what a failed export wrote verifies: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	buf.Reset()
	if _, err := backup.Export(ctx, src, &buf, backup.ExportOptions{}); err == nil {
		t.Fatal("export with a cancelled context succeeded")
	}
	if _, _, err := backup.Verify(context.Background(), bytes.NewReader(buf.Bytes()), backup.VerifyOptions{}); hypha.ErrorCode(err) != hypha.EInvalid {
		t.Errorf("what a cancelled export wrote verifies: %v", err)
	}
}

// failingWriter fails once more than left bytes were written.
type failingWriter struct {
	w    *bytes.Buffer
	left int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		return 0, fmt.Errorf("disk full")
	}
	f.left -= len(p)
	return f.w.Write(p)
}
