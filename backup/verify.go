package backup

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/hyphateam/hypha"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Name is how messages call the file, such as its path; the default is
	// "the backup".
	Name string
	// Progress, if set, is called every 1,000 rows and at the end of each
	// table with the rows checked so far; totalRows is -1 until the table
	// ends, then equals rows.
	Progress func(table string, rows, totalRows int64)
}

// Verify reads a whole backup and checks its header, every row against its
// column types, every table's row count and the trailer's checksum, writing
// nothing. A damaged, truncated or foreign file is an EInvalid error with a
// one-line message.
func Verify(ctx context.Context, r io.Reader, opts VerifyOptions) (*Header, *Summary, error) {
	return decode(ctx, r, opts.Name, handler{progress: opts.Progress})
}

// handler receives what decode reads. Every field may be nil.
type handler struct {
	progress func(table string, rows, totalRows int64)
	// row receives a decoded row (its own slice) and the size of its line.
	row func(t *hypha.BackupTable, row []any, size int) error
	// end is called after the end line of a table checks out.
	end func(t *hypha.BackupTable, rows int64) error
}

// errTruncated marks input that stops before the backup is complete.
var errTruncated = errors.New("truncated")

// decoder reads the lines of a backup and keeps the running checksum.
type decoder struct {
	name   string
	br     *bufio.Reader
	hash   hash.Hash
	buf    []byte
	lineNo int64
}

// decode reads and checks a whole backup, passing its rows to hd.
func decode(ctx context.Context, r io.Reader, name string, hd handler) (*Header, *Summary, error) {
	if name == "" {
		name = "the backup"
	}
	d := &decoder{name: name, hash: sha256.New()}
	// gzip reads through raw byte by byte, so what follows the compressed
	// stream stays in raw and can be checked.
	raw := bufio.NewReader(r)
	magic, err := raw.Peek(2)
	switch {
	case len(magic) == 0 && errors.Is(err, io.EOF):
		return nil, nil, hypha.Errorf(hypha.EInvalid, "%s is empty", name)
	case len(magic) > 0 && magic[0] != 0x1f, len(magic) > 1 && magic[1] != 0x8b:
		return nil, nil, hypha.Errorf(hypha.EInvalid, "%s is not a hypha backup: it is not gzip-compressed", name)
	}
	gz, err := gzip.NewReader(raw)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, nil, d.truncated("it ends inside its gzip header")
	case errors.Is(err, gzip.ErrHeader):
		return nil, nil, hypha.Errorf(hypha.EInvalid, "%s is not a hypha backup: it is not gzip-compressed", name)
	default:
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer gz.Close()
	gz.Multistream(false)
	d.br = bufio.NewReaderSize(gz, 64<<10)

	line, err := d.next(true)
	if err != nil {
		return nil, nil, d.at(err, "it ends before the end of its header")
	}
	h := &Header{}
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, h) != nil {
		return nil, nil, hypha.Errorf(hypha.EInvalid, "%s is not a hypha backup: its first line is not a backup header", name)
	}
	if err := validateHeader(h); err != nil {
		return nil, nil, hypha.Errorf(hypha.EInvalid, "%s cannot be read: %v", name, err)
	}

	sum := &Summary{}
	for i := range h.Tables {
		t := &h.Tables[i]
		line, err := d.next(true)
		if err != nil {
			if i == 0 {
				return nil, nil, d.at(err, "it ends after its header, before any table")
			}
			return nil, nil, d.at(err, fmt.Sprintf("it ends after table %s, before table %s", h.Tables[i-1].Name, t.Name))
		}
		if c, err := d.control(line); err != nil || c.Kind != kindTable || c.Name != t.Name {
			return nil, nil, d.corrupt("line %d should start table %s but does not", d.lineNo, t.Name)
		}
		n, err := d.table(ctx, t, hd)
		if err != nil {
			return nil, nil, err
		}
		sum.Tables = append(sum.Tables, TableSummary{Name: t.Name, Rows: n})
		sum.Rows += n
	}

	computed := hex.EncodeToString(d.hash.Sum(nil))
	line, err = d.next(false)
	if err != nil {
		return nil, nil, d.at(err, "it ends before its trailer, after the last table")
	}
	c, err := d.control(line)
	if err != nil || c.Kind != kindTrailer || c.Tables == nil || c.Rows == nil {
		return nil, nil, d.corrupt("line %d should be its trailer but is not", d.lineNo)
	}
	if c.SHA256 != computed {
		return nil, nil, d.corrupt("its content does not match the checksum in its trailer")
	}
	if *c.Tables != len(h.Tables) || *c.Rows != sum.Rows {
		return nil, nil, d.corrupt("its trailer counts %d tables and %d rows but it holds %d tables and %d rows", *c.Tables, *c.Rows, len(h.Tables), sum.Rows)
	}
	sum.SHA256 = computed
	switch _, err := d.next(false); {
	case errors.Is(err, io.EOF):
	case errors.Is(err, errTruncated):
		return nil, nil, d.truncated("its compressed data ends early")
	case err != nil:
		return nil, nil, err
	default:
		return nil, nil, d.corrupt("it has data after its trailer")
	}
	if _, err := raw.Peek(1); err == nil {
		return nil, nil, d.corrupt("it has data after the end of its compressed stream")
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	return h, sum, nil
}

// table reads the rows and the end line of table t and returns its count.
func (d *decoder) table(ctx context.Context, t *hypha.BackupTable, hd handler) (int64, error) {
	var n int64
	for {
		line, err := d.next(true)
		if err != nil {
			return n, d.at(err, fmt.Sprintf("it ends inside table %s after %s", t.Name, plural(n, "row")))
		}
		if len(line) == 0 || line[0] != '[' {
			c, err := d.control(line)
			if err != nil || c.Kind != kindEnd || c.Name != t.Name || c.Rows == nil {
				return n, d.corrupt("line %d should be a row or the end of table %s but is neither", d.lineNo, t.Name)
			}
			if *c.Rows != n {
				return n, d.corrupt("table %s should have %s but has %d", t.Name, plural(*c.Rows, "row"), n)
			}
			break
		}
		row, err := d.row(t, line, n+1)
		if err != nil {
			return n, err
		}
		if hd.row != nil {
			if err := hd.row(t, row, len(line)); err != nil {
				return n, err
			}
		}
		n++
		if n%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			if hd.progress != nil {
				hd.progress(t.Name, n, -1)
			}
		}
	}
	if hd.end != nil {
		if err := hd.end(t, n); err != nil {
			return n, err
		}
	}
	if hd.progress != nil {
		hd.progress(t.Name, n, n)
	}
	return n, ctx.Err()
}

// row decodes row number nth of table t and checks it against the columns.
func (d *decoder) row(t *hypha.BackupTable, line []byte, nth int64) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var vals []any
	if err := dec.Decode(&vals); err != nil {
		return nil, d.corrupt("row %d of table %s (line %d) is not a valid JSON array", nth, t.Name, d.lineNo)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, d.corrupt("row %d of table %s (line %d) has data after its closing bracket", nth, t.Name, d.lineNo)
	}
	if len(vals) != len(t.Columns) {
		return nil, d.corrupt("row %d of table %s has %d values for %d columns", nth, t.Name, len(vals), len(t.Columns))
	}
	for i, v := range vals {
		x, err := decodeValue(t.Types[i], v)
		if err != nil {
			return nil, d.corrupt("row %d of table %s has %v in column %s", nth, t.Name, err, t.Columns[i])
		}
		vals[i] = x
	}
	for _, k := range t.Key {
		for i, c := range t.Columns {
			if c == k && vals[i] == nil {
				return nil, d.corrupt("row %d of table %s has no value for key column %s", nth, t.Name, k)
			}
		}
	}
	return vals, nil
}

// control decodes a table start, table end or trailer line.
func (d *decoder) control(line []byte) (*control, error) {
	if len(line) == 0 || line[0] != '{' {
		return nil, errors.New("not an object")
	}
	c := &control{}
	if err := json.Unmarshal(line, c); err != nil {
		return nil, err
	}
	return c, nil
}

// next returns the next line without its newline, adding it to the
// checksum when hashed. The line is valid until the next call. A clean end
// of input is io.EOF; input cut inside a line or inside the compressed
// stream is errTruncated.
func (d *decoder) next(hashed bool) ([]byte, error) {
	d.buf = d.buf[:0]
	var line []byte
	for {
		chunk, err := d.br.ReadSlice('\n')
		if err == nil && len(d.buf) == 0 {
			line = chunk
			break
		}
		if len(d.buf)+len(chunk) > maxLineBytes {
			return nil, d.corrupt("line %d is longer than %d bytes", d.lineNo+1, maxLineBytes)
		}
		d.buf = append(d.buf, chunk...)
		if err == nil {
			line = d.buf
			break
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(d.buf) == 0 {
				return nil, io.EOF
			}
			return nil, errTruncated
		}
		return nil, d.readError(err)
	}
	d.lineNo++
	if hashed {
		d.hash.Write(line)
	}
	return line[:len(line)-1], nil
}

// readError classifies an error of the decompressing reader.
func (d *decoder) readError(err error) error {
	var corrupt flate.CorruptInputError
	var internal flate.InternalError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errTruncated
	case errors.Is(err, gzip.ErrChecksum):
		return d.corrupt("its compressed data fails the gzip checksum")
	case errors.As(err, &corrupt), errors.As(err, &internal):
		return d.corrupt("its compressed data is damaged (%v)", err)
	}
	return fmt.Errorf("read %s: %w", d.name, err)
}

// at turns a premature end of input into a truncation error that says
// where the file ends, and passes other errors through.
func (d *decoder) at(err error, where string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, errTruncated) {
		return d.truncated(where)
	}
	return err
}

func (d *decoder) truncated(where string) error {
	return hypha.Errorf(hypha.EInvalid, "%s is truncated: %s", d.name, where)
}

func (d *decoder) corrupt(format string, args ...any) error {
	return hypha.Errorf(hypha.EInvalid, "%s is corrupt: %s", d.name, fmt.Sprintf(format, args...))
}

// plural renders a count with its noun, such as "1 row" or "812 rows".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
