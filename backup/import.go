package backup

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/migrate"
)

// MaxBatchRows is the most rows Import writes in one transaction.
const MaxBatchRows = 1000

// maxBatchBytes bounds the encoded size of one transaction's rows, so a
// table of large values is not held in memory a thousand rows at a time.
const maxBatchBytes = 16 << 20

// ImportOptions configures Import.
type ImportOptions struct {
	// Name is how messages call the file, such as its path; the default is
	// "the backup".
	Name string
	// TargetSchemaVersion is the schema version applied to the target
	// database. Zero asks dst, which must then have a MigrationStatus
	// method (every store of this module has one).
	TargetSchemaVersion int
	// BatchRows is the most rows per transaction: 1..MaxBatchRows, and 0
	// means MaxBatchRows.
	BatchRows int
	// Progress, if set, is called after each transaction with the rows of
	// table restored so far and the table's total.
	Progress func(table string, rows, totalRows int64)
	// VerifyProgress, if set, reports the verification pass that precedes
	// any write, as VerifyOptions.Progress does.
	VerifyProgress func(table string, rows, totalRows int64)
}

// migrationStatuser is how Import learns the target's schema version.
type migrationStatuser interface {
	MigrationStatus(ctx context.Context) (*migrate.Report, error)
}

// Import restores a backup into dst. It reads the file twice through open:
// once to verify all of it, refusing a damaged or truncated file, or one
// from a newer schema than dst's, before writing anything; then to insert
// its rows in transactions of at most BatchRows rows. Rows whose key already
// exists are kept as they are, so running Import again after an
// interruption completes it, and a backup from an older schema restores
// into a newer database (columns it lacks take their defaults).
func Import(ctx context.Context, dst hypha.Backuper, open func() (io.ReadCloser, error), opts ImportOptions) (*Summary, error) {
	if opts.Name == "" {
		opts.Name = "the backup"
	}
	if opts.BatchRows <= 0 || opts.BatchRows > MaxBatchRows {
		opts.BatchRows = MaxBatchRows
	}
	h, sum, err := verifyFile(ctx, open, opts)
	if err != nil {
		return nil, nothingImported(err)
	}
	if err := checkTarget(ctx, dst, h, opts); err != nil {
		return nil, nothingImported(err)
	}
	if err := restore(ctx, dst, open, h, sum, opts); err != nil {
		return nil, err
	}
	if err := dst.FinishImport(ctx); err != nil {
		return nil, fmt.Errorf("finish the import of %s (its rows are in; running the import again completes it): %w", opts.Name, err)
	}
	return sum, nil
}

// verifyFile runs the verification pass over a fresh reader from open.
func verifyFile(ctx context.Context, open func() (io.ReadCloser, error), opts ImportOptions) (*Header, *Summary, error) {
	rc, err := open()
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", opts.Name, err)
	}
	defer rc.Close()
	return decode(ctx, rc, opts.Name, handler{progress: opts.VerifyProgress})
}

// checkTarget refuses a target whose schema cannot take the backup's rows.
func checkTarget(ctx context.Context, dst hypha.Backuper, h *Header, opts ImportOptions) error {
	target := opts.TargetSchemaVersion
	if target <= 0 {
		ms, ok := dst.(migrationStatuser)
		if !ok {
			return hypha.Errorf(hypha.EInvalid, "cannot tell the schema version of the target database: set ImportOptions.TargetSchemaVersion")
		}
		r, err := ms.MigrationStatus(ctx)
		if err != nil {
			return fmt.Errorf("read the schema version of the target database: %w", err)
		}
		switch r.State {
		case migrate.StateEmpty:
			return hypha.Errorf(hypha.ESchemaMismatch, "the target database has no schema yet: run `hypha migrate up` first")
		case migrate.StateIncompatible:
			return hypha.Errorf(hypha.ESchemaMismatch, "the target database cannot take an import: %s", r.Problem())
		}
		target = r.Current
	}
	if h.SchemaVersion > target {
		return hypha.Errorf(hypha.ESchemaMismatch, "%s comes from schema version %d but the target database is at version %d: migrate it with a hypha that knows version %d (`hypha migrate up`) first",
			opts.Name, h.SchemaVersion, target, h.SchemaVersion)
	}
	live, err := dst.BackupTables(ctx)
	if err != nil {
		return fmt.Errorf("list the tables of the target database: %w", err)
	}
	byName := make(map[string]*hypha.BackupTable, len(live))
	for i := range live {
		byName[live[i].Name] = &live[i]
	}
	for _, t := range h.Tables {
		lt := byName[t.Name]
		if lt == nil {
			return hypha.Errorf(hypha.ESchemaMismatch, "%s has table %s, which the target database does not have", opts.Name, t.Name)
		}
		types := make(map[string]hypha.ColumnType, len(lt.Columns))
		for i, c := range lt.Columns {
			types[c] = lt.Types[i]
		}
		for i, c := range t.Columns {
			typ, ok := types[c]
			switch {
			case !ok:
				return hypha.Errorf(hypha.ESchemaMismatch, "%s has column %s.%s, which the target database does not have", opts.Name, t.Name, c)
			case typ != t.Types[i]:
				return hypha.Errorf(hypha.ESchemaMismatch, "column %s.%s is %s in %s but %s in the target database", t.Name, c, t.Types[i], opts.Name, typ)
			}
		}
	}
	return nil
}

// restore is the writing pass: it inserts every row in batches.
func restore(ctx context.Context, dst hypha.Backuper, open func() (io.ReadCloser, error), h *Header, sum *Summary, opts ImportOptions) error {
	rc, err := open()
	if err != nil {
		return fmt.Errorf("open %s again to import it: %w", opts.Name, err)
	}
	defer rc.Close()
	totals := make(map[string]int64, len(sum.Tables))
	for _, t := range sum.Tables {
		totals[t.Name] = t.Rows
	}
	var (
		batch    [][]any
		size     int
		table    string
		done     int64 // rows of table written
		inserted int64 // rows of table that were new
	)
	flush := func(t *hypha.BackupTable) error {
		if len(batch) == 0 {
			return nil
		}
		n, err := dst.ImportRows(ctx, t.Name, t.Columns, batch)
		if err != nil {
			return err
		}
		done += int64(len(batch))
		inserted += n
		clear(batch)
		batch, size = batch[:0], 0
		if opts.Progress != nil {
			opts.Progress(t.Name, done, totals[t.Name])
		}
		return nil
	}
	hd := handler{
		row: func(t *hypha.BackupTable, row []any, n int) error {
			if t.Name != table {
				table, done, inserted = t.Name, 0, 0
			}
			batch = append(batch, row)
			size += n
			if len(batch) >= opts.BatchRows || size >= maxBatchBytes {
				return flush(t)
			}
			return nil
		},
		end: func(t *hypha.BackupTable, rows int64) error {
			if t.Name != table {
				table, done, inserted = t.Name, 0, 0
			}
			if err := flush(t); err != nil {
				return err
			}
			if rows == 0 && opts.Progress != nil {
				opts.Progress(t.Name, 0, 0)
			}
			for i := range sum.Tables {
				if sum.Tables[i].Name == t.Name {
					sum.Tables[i].Inserted = inserted
				}
			}
			sum.Inserted += inserted
			return nil
		},
	}
	_, again, err := decode(ctx, rc, opts.Name, hd)
	if err == nil && again.SHA256 != sum.SHA256 {
		err = hypha.Errorf(hypha.EInvalid, "%s changed while it was imported", opts.Name)
	}
	if err != nil {
		if table == "" {
			return fmt.Errorf("import of %s stopped before its first row; running it again is safe: %w", opts.Name, err)
		}
		return fmt.Errorf("import of %s stopped in table %s after %d of its %d rows; the rows imported so far are kept and running the import again completes it: %w",
			opts.Name, table, done, totals[table], err)
	}
	return nil
}

// nothingImported says in err's message that the database was not touched.
func nothingImported(err error) error {
	var he *hypha.Error
	if errors.As(err, &he) && error(he) == err {
		return &hypha.Error{Code: he.Code, Message: he.Message + "; nothing was imported", Err: he.Err}
	}
	return fmt.Errorf("%w; nothing was imported", err)
}
