package backup

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
)

// progressEvery is how many rows pass between two Progress calls.
const progressEvery = 1000

// ExportOptions configures Export.
type ExportOptions struct {
	// Progress, if set, is called every 1,000 rows and at the end of each
	// table with the rows written so far; totalRows is -1 until the table
	// ends, then equals rows.
	Progress func(table string, rows, totalRows int64)
	// CreatedAt is stamped in the header; zero means now.
	CreatedAt time.Time
}

// Export writes a consistent snapshot of every table of src to w as one
// backup file. On failure it stops without writing the trailer, so what
// was written never verifies; callers writing a file should still write to
// a temporary name and rename it on success.
func Export(ctx context.Context, src hypha.Backuper, w io.Writer, opts ExportOptions) (*Summary, error) {
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("open a snapshot for export: %w", err)
	}
	defer snap.Close()
	h := &Header{
		Format:        FormatName,
		FormatVersion: FormatVersion,
		SchemaVersion: snap.SchemaVersion(),
		Engine:        engineOf(src),
		CreatedAt:     opts.CreatedAt,
		Tables:        snap.Tables(),
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now()
	}
	h.CreatedAt = h.CreatedAt.UTC().Truncate(time.Second)
	for _, t := range h.Tables {
		for i, typ := range t.Types {
			if !knownType(typ) {
				return nil, hypha.Errorf(hypha.EInvalid, "cannot export table %s: column %s has type %q, which has no portable form", t.Name, t.Columns[i], typ)
			}
		}
	}
	ew := newEncoder(w)
	if err := ew.json(h); err != nil {
		return nil, err
	}
	sum := &Summary{}
	for i := range h.Tables {
		t := &h.Tables[i]
		n, err := exportTable(ctx, snap, ew, t, opts.Progress)
		if err != nil {
			return nil, err
		}
		sum.Tables = append(sum.Tables, TableSummary{Name: t.Name, Rows: n})
		sum.Rows += n
	}
	sum.SHA256 = hex.EncodeToString(ew.hash.Sum(nil))
	ntables := len(h.Tables)
	if err := ew.trailer(&control{Kind: kindTrailer, Tables: &ntables, Rows: &sum.Rows, SHA256: sum.SHA256}); err != nil {
		return nil, err
	}
	return sum, nil
}

// exportTable writes one table's section and returns its row count.
func exportTable(ctx context.Context, snap hypha.Snapshot, ew *encoder, t *hypha.BackupTable, progress func(string, int64, int64)) (int64, error) {
	if err := ew.json(&control{Kind: kindTable, Name: t.Name}); err != nil {
		return 0, err
	}
	var n int64
	err := snap.Scan(ctx, t.Name, func(row []any) error {
		if len(row) != len(t.Columns) {
			return fmt.Errorf("export %s: the snapshot returned %d values for %d columns", t.Name, len(row), len(t.Columns))
		}
		b := append(ew.buf[:0], '[')
		for i, v := range row {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, t.Types[i], v); err != nil {
				return hypha.Errorf(hypha.EInvalid, "cannot export column %s.%s of row %d (%s): %v", t.Name, t.Columns[i], n+1, keyOf(t, row), err)
			}
		}
		ew.buf = append(b, ']')
		if err := ew.line(ew.buf); err != nil {
			return err
		}
		n++
		if progress != nil && n%progressEvery == 0 {
			progress(t.Name, n, -1)
		}
		return nil
	})
	if err != nil {
		var he *hypha.Error
		if errors.As(err, &he) {
			return 0, err
		}
		return 0, fmt.Errorf("export table %s: %w", t.Name, err)
	}
	if progress != nil {
		progress(t.Name, n, n)
	}
	return n, ew.json(&control{Kind: kindEnd, Name: t.Name, Rows: &n})
}

// keyOf renders the primary key of a row for messages.
func keyOf(t *hypha.BackupTable, row []any) string {
	parts := make([]string, 0, len(t.Key))
	for _, k := range t.Key {
		for i, c := range t.Columns {
			if c == k && i < len(row) {
				parts = append(parts, fmt.Sprintf("%s=%s", k, clip(fmt.Sprint(row[i]))))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// engineOf names the engine of src when it says.
func engineOf(src hypha.Backuper) string {
	if e, ok := src.(interface{ Engine() string }); ok {
		return e.Engine()
	}
	return ""
}

// encoder writes lines through gzip, hashing everything but the trailer.
type encoder struct {
	gz   *gzip.Writer
	hash hash.Hash
	buf  []byte
}

func newEncoder(w io.Writer) *encoder {
	return &encoder{gz: gzip.NewWriter(w), hash: sha256.New()}
}

// line writes one hashed line; b must not contain a newline.
func (e *encoder) line(b []byte) error {
	b = append(b, '\n')
	e.hash.Write(b)
	if _, err := e.gz.Write(b); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	return nil
}

func (e *encoder) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	return e.line(b)
}

// trailer writes the unhashed last line and completes the gzip stream.
func (e *encoder) trailer(c *control) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	if _, err := e.gz.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	if err := e.gz.Close(); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	return nil
}
