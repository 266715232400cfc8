package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/backup"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
)

// coreTables must carry rows after populate, beside every synced table.
var coreTables = []string{"groves", "projects", "nodes", "team_config", "kv", "embeddings"}

func TestRoundTrip(t *testing.T) {
	for _, from := range testdb.Engines() {
		for _, to := range testdb.Engines() {
			t.Run(from+"_to_"+to, func(t *testing.T) {
				src := testdb.MustOpen(t, from)
				populate(t, src)
				a := exportFile(t, src)

				c := decodeFile(t, a)
				for _, name := range coreTables {
					if c.rowCount(name) <= 0 {
						t.Errorf("table %s: %d rows in the export", name, c.rowCount(name))
					}
				}
				for _, st := range hypha.SyncedTables {
					if c.rowCount(st.Name) <= 0 {
						t.Errorf("table %s: %d rows in the export", st.Name, c.rowCount(st.Name))
					}
				}

				dst := testdb.MustOpen(t, to)
				sum := importFile(t, dst, a)
				if int(sum.Rows) != c.totalRows() {
					t.Errorf("summary counts %d rows, the file has %d", sum.Rows, c.totalRows())
				}
				// The migrations create the default grove, so one row is
				// already there (kv_revision, there too, is raised and counts).
				if sum.Inserted != sum.Rows-1 {
					t.Errorf("inserted %d of %d rows, want all but the default grove", sum.Inserted, sum.Rows)
				}
				b := exportFile(t, dst)
				assertSameContent(t, a, b)
				assertStoreReads(t, src, dst)

				t.Run("again_is_a_no_op", func(t *testing.T) {
					sum := importFile(t, dst, a)
					if sum.Inserted != 0 {
						t.Errorf("a second import inserted %d rows", sum.Inserted)
					}
					assertSameContent(t, a, exportFile(t, dst))
				})

				t.Run("kv_versions_continue", func(t *testing.T) {
					// Versions are never reused: the restored counter goes on
					// where the source's stood.
					want, err := src.KVPut(context.Background(), "next", []byte("x"), hypha.KVPutOptions{})
					if err != nil {
						t.Fatal(err)
					}
					got, err := dst.KVPut(context.Background(), "next", []byte("x"), hypha.KVPutOptions{})
					if err != nil || got != want {
						t.Errorf("the next KV version after the import is %d (%v), in the source %d", got, err, want)
					}
				})
			})
		}
	}
}

// assertStoreReads reads restored values back through the store.
func assertStoreReads(t *testing.T, src, db *sqlstore.DB) {
	t.Helper()
	ctx := context.Background()
	for _, want := range testEmbeddings(10) {
		got, err := db.FindEmbedding(ctx, want.Key)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want.Vector {
			if math.Float32bits(got.Vector[i]) != math.Float32bits(want.Vector[i]) {
				t.Fatalf("embedding %s: value %d is %v, want %v", want.Key.ID, i, got.Vector[i], want.Vector[i])
			}
		}
	}
	e, err := db.KVGet(ctx, "binary")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Value) != 1024 || e.Value[255] != 255 || string(e.Metadata) != `{"a":"ü","n":1}` || e.ExpiresAt == 0 {
		t.Errorf("kv binary came back as %d bytes, metadata %s, expiry %d", len(e.Value), e.Metadata, e.ExpiresAt)
	}
	for _, key := range []string{"plain", "binary", "empty", "unicode kéy 🍄"} {
		want, err := src.KVGet(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.KVGet(ctx, key)
		if err != nil || got.Version != want.Version || !bytes.Equal(got.Value, want.Value) ||
			!bytes.Equal(got.Metadata, want.Metadata) || got.ExpiresAt != want.ExpiresAt {
			t.Errorf("kv %q: got %+v (%v), want %+v", key, got, err, want)
		}
	}
	r, err := db.FindRecord(ctx, hypha.RecordKey{Table: hypha.LookupTable("spores"), GroveID: groveID, MachineID: "machine-0", ID: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := r.Value("content").(string); s != strings.Repeat("large text ✓ \"q\"\n", 20_000) {
		t.Errorf("large spore content came back as %d bytes", len(s))
	}
	cfg, err := db.TeamConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["control"] != testTexts[3] || cfg["team.name"] != testTexts[1] {
		t.Errorf("team config came back as %q", cfg)
	}
}

func TestInterruptedImport(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			src := testdb.MustOpen(t, "sqlite")
			populate(t, src)
			path := exportFile(t, src)
			total := decodeFile(t, path).totalRows()

			for _, stopAfter := range []int{1, 20} {
				t.Run(fmt.Sprintf("cancelled_after_%d_batches", stopAfter), func(t *testing.T) {
					dst := testdb.MustOpen(t, engine)
					empty := decodeFile(t, exportFile(t, dst)).totalRows()
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					calls := 0
					_, err := backup.Import(ctx, dst, opener(path), backup.ImportOptions{
						BatchRows: 2,
						Progress: func(string, int64, int64) {
							if calls++; calls == stopAfter {
								cancel()
							}
						},
					})
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("import with a cancelled context: %v", err)
					}
					if !strings.Contains(err.Error(), "running the import again completes it") {
						t.Errorf("message does not say what to do: %v", err)
					}
					partial := decodeFile(t, exportFile(t, dst)).totalRows()
					if partial <= empty || partial >= total {
						t.Fatalf("after the interruption the database has %d of %d rows", partial, total)
					}
					// The re-run inserts every missing row, and raises the KV
					// revision counter (which an empty database already has)
					// if the first run did not get to it.
					sum := importFile(t, dst, path)
					if got := int(sum.Inserted); got != total-partial && got != total-partial+1 {
						t.Errorf("the re-run inserted %d rows, want %d (+1)", got, total-partial)
					}
					assertSameContent(t, path, exportFile(t, dst))
				})
			}

			t.Run("part_of_a_table_then_all", func(t *testing.T) {
				// A backup holding only some rows of spores, then the full one.
				lines := unseal(t, readFile(t, path))
				_, rows := tableLines(t, lines, "spores")
				var part [][]byte
				for i, l := range lines {
					if i > rows[1] && i <= rows[len(rows)-1] {
						continue
					}
					if i == rows[len(rows)-1]+1 {
						l = []byte(`{"kind":"end","name":"spores","rows":2}`)
					}
					part = append(part, l)
				}
				dst := testdb.MustOpen(t, engine)
				importFile(t, dst, writeFile(t, seal(t, part)))
				if n := decodeFile(t, exportFile(t, dst)).rowCount("spores"); n != 2 {
					t.Fatalf("the partial import left %d spores, want 2", n)
				}
				sum := importFile(t, dst, path)
				if want := int64(len(rows) - 2); sum.Inserted != want {
					t.Errorf("the full import inserted %d rows, want the %d missing spores", sum.Inserted, want)
				}
				assertSameContent(t, path, exportFile(t, dst))
			})
		})
	}
}

func TestOlderSchema(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			old := testdb.Open(t, engine, nil)
			if _, err := old.Migrate(ctx, 2); err != nil {
				t.Fatal(err)
			}
			populateOlder(t, old)
			oldFile := exportFile(t, old)
			if v := decodeFile(t, oldFile).SchemaVersion; v != 2 {
				t.Fatalf("an export of a database at version 2 says version %d", v)
			}

			t.Run("imports_into_a_newer_database", func(t *testing.T) {
				dst := testdb.MustOpen(t, engine)
				importFile(t, dst, oldFile)
				got := decodeFile(t, exportFile(t, dst))
				want := decodeFile(t, oldFile)
				if got.totalRows() != want.totalRows() {
					t.Errorf("the newer database holds %d rows, the file %d", got.totalRows(), want.totalRows())
				}
			})

			t.Run("newer_file_is_refused", func(t *testing.T) {
				src := testdb.MustOpen(t, engine)
				populate(t, src)
				_, err := backup.Import(ctx, old, opener(exportFile(t, src)), backup.ImportOptions{Name: "new.hypha"})
				if hypha.ErrorCode(err) != hypha.ESchemaMismatch || !strings.Contains(err.Error(), fmt.Sprintf("new.hypha comes from schema version %d but the target database is at version 2", latestSchema(t))) ||
					!strings.HasSuffix(err.Error(), "; nothing was imported") {
					t.Fatalf("importing a newer file: %v", err)
				}
			})

			t.Run("file_lacking_columns", func(t *testing.T) {
				// testdata/older.jsonl is a hand-written backup whose tables
				// lack columns: they must take their defaults.
				data, err := os.ReadFile("testdata/older.jsonl")
				if err != nil {
					t.Fatal(err)
				}
				lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
				dst := testdb.MustOpen(t, engine)
				sum := importFile(t, dst, writeFile(t, seal(t, lines)))
				if sum.Rows != 4 || sum.Inserted != 4 {
					t.Errorf("imported %d of %d rows, want 4 of 4", sum.Inserted, sum.Rows)
				}
				r, err := dst.FindRecord(ctx, hypha.RecordKey{Table: hypha.LookupTable("spores"), GroveID: "old_grove", MachineID: "m1", ID: "s1"})
				if err != nil {
					t.Fatal(err)
				}
				if r.Value("content") != "from an older schema" || r.Value("status") != "active" || r.Value("importance") != int64(5) || r.Value("tags") != nil {
					t.Errorf("spore from an older file: content %v, status %v, importance %v, tags %v",
						r.Value("content"), r.Value("status"), r.Value("importance"), r.Value("tags"))
				}
				e, err := dst.KVGet(ctx, "old")
				if err != nil || string(e.Value) != "value" || e.Metadata != nil || e.Version != 4 {
					t.Errorf("kv from an older file: %+v, %v", e, err)
				}
				// The file has no kv_revision: the counter still moves past
				// every restored version.
				if v, err := dst.KVPut(ctx, "new", []byte("x"), hypha.KVPutOptions{}); err != nil || v != 5 {
					t.Errorf("the first KV version after the import is %d (%v), want 5", v, err)
				}
			})
		})
	}
}

// populateOlder populates a database at an older schema version, as an
// older binary did: this binary writes the columns later steps added
// (sharing_policy, step 7), so they exist while it writes and go after.
func populateOlder(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	var shareable []string
	for _, tb := range hypha.SyncedTables {
		if tb.Shareable {
			shareable = append(shareable, tb.Name)
		}
	}
	exec := func(query string) {
		t.Helper()
		if _, err := db.WriteDB().ExecContext(context.Background(), query); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	for _, name := range shareable {
		exec("ALTER TABLE " + name + " ADD COLUMN " + hypha.ColSharingPolicy + " TEXT")
	}
	populate(t, db)
	for _, name := range shareable {
		exec("ALTER TABLE " + name + " DROP COLUMN " + hypha.ColSharingPolicy)
	}
}

func TestLargeValues(t *testing.T) {
	ctx := context.Background()
	src := testdb.MustOpen(t, "sqlite")
	embs := make([]*hypha.Embedding, 0, 2000)
	var recs []*hypha.Record
	for i := range 2000 {
		e := testEmbeddings(1)[0]
		e.Key.ID = fmt.Sprintf("spore-%04d", i)
		e.Vector[1] = float32(i)
		embs = append(embs, e)
		text := fmt.Sprintf("spore %d ", i)
		if i%500 == 0 {
			text = strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		}
		r, err := hypha.NewRecord(hypha.LookupTable("spores"), groveID, "machine-0", e.Key.ID, map[string]any{"content": text})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := src.CreateGrove(ctx, &hypha.Grove{ID: groveID, Name: "large"}); err != nil {
		t.Fatal(err)
	}
	if err := src.PutEmbeddings(ctx, embs); err != nil {
		t.Fatal(err)
	}
	if _, err := src.UpsertRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff}, 1<<18)
	for i := range 3 {
		if _, err := src.KVPut(ctx, fmt.Sprintf("blob-%d", i), blob, hypha.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	path := exportFile(t, src)
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			dst := testdb.MustOpen(t, engine)
			var batches int
			sum, err := backup.Import(ctx, dst, opener(path), backup.ImportOptions{
				Progress: func(table string, rows, total int64) {
					batches++
					if rows > total {
						t.Errorf("progress of %s: %d of %d rows", table, rows, total)
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := decodeFile(t, path).totalRows(); sum.Rows != int64(want) || sum.Rows < 4000 || batches < 4 {
				t.Errorf("imported %d of %d rows in %d batches", sum.Rows, want, batches)
			}
			assertSameContent(t, path, exportFile(t, dst))
		})
	}
}

func TestProgress(t *testing.T) {
	src := testdb.MustOpen(t, "sqlite")
	populate(t, src)
	var buf bytes.Buffer
	last := map[string][2]int64{}
	sum, err := backup.Export(context.Background(), src, &buf, backup.ExportOptions{
		Progress: func(table string, rows, total int64) { last[table] = [2]int64{rows, total} },
	})
	if err != nil {
		t.Fatal(err)
	}
	h, vsum, err := backup.Verify(context.Background(), bytes.NewReader(buf.Bytes()), backup.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Engine != "sqlite" || h.SchemaVersion != latestSchema(t) || len(h.Tables) != len(sum.Tables) {
		t.Errorf("header: %+v", h)
	}
	if vsum.SHA256 != sum.SHA256 || vsum.Rows != sum.Rows {
		t.Errorf("verify summary %+v differs from export summary %+v", vsum, sum)
	}
	for _, ts := range sum.Tables {
		if got := last[ts.Name]; got != [2]int64{ts.Rows, ts.Rows} {
			t.Errorf("last progress of %s: %v, want %d of %d", ts.Name, got, ts.Rows, ts.Rows)
		}
	}
}
