package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Conn runs statements inside the transaction of one step.
type Conn interface {
	Exec(ctx context.Context, sql string) error
	ColumnExists(ctx context.Context, table, column string) (bool, error)
	IndexExists(ctx context.Context, name string) (bool, error)
}

// Applied is the record of one applied step.
type Applied struct {
	Version   int
	Name      string
	Checksum  string
	AppliedAt time.Time
}

// Driver is what an engine provides to apply its steps.
type Driver interface {
	// Lock serialises migration runs across processes until release is
	// called (PostgreSQL: an advisory lock; SQLite: Apply's exclusive
	// transaction is the lock, so Lock may do nothing).
	Lock(ctx context.Context) (release func(), err error)
	// Applied lists the applied steps, creating the bookkeeping table if
	// the database has none yet.
	Applied(ctx context.Context) ([]Applied, error)
	// Apply runs fn and records s in one transaction. If s is already
	// recorded when the transaction starts (another process applied it), it
	// runs nothing and returns false.
	Apply(ctx context.Context, s Step, fn func(Conn) error) (bool, error)
}

// State summarises how a database relates to the binary's steps.
type State string

// States of a database schema.
const (
	StateCurrent      State = "current"      // every step applied, nothing more
	StateBehind       State = "behind"       // steps pending: run migrate up
	StateNewer        State = "newer"        // a newer binary added steps; compatible (expand-only)
	StateIncompatible State = "incompatible" // an applied step differs from the binary's, or a gap
	StateEmpty        State = "empty"        // no step applied yet
)

// Report is the migration status of a database.
type Report struct {
	State   State
	Current int    // highest applied version
	Target  int    // the binary's highest version
	Pending []Step // binary steps not applied, in order
	Unknown []Applied
	Changed []string // human descriptions of checksum mismatches and gaps
}

// OK reports whether a server can serve data with this schema.
func (r *Report) OK() bool { return r.State == StateCurrent || r.State == StateNewer }

// Problem explains in plain words what is wrong and what to do; "" if OK.
func (r *Report) Problem() string {
	switch r.State {
	case StateEmpty:
		return fmt.Sprintf("the database has no schema yet; this binary needs version %d: run `hypha migrate up`", r.Target)
	case StateBehind:
		ids := make([]string, len(r.Pending))
		for i, s := range r.Pending {
			ids[i] = s.ID()
		}
		return fmt.Sprintf("the database schema is at version %d but this binary needs version %d: run `hypha migrate up` (pending: %s)", r.Current, r.Target, strings.Join(ids, ", "))
	case StateIncompatible:
		return fmt.Sprintf("the database schema was changed incompatibly (%s); restore from a backup or use the binary that applied it", strings.Join(r.Changed, "; "))
	}
	return ""
}

// Status compares the applied steps with the binary's steps.
func Status(ctx context.Context, d Driver, steps []Step) (*Report, error) {
	applied, err := d.Applied(ctx)
	if err != nil {
		return nil, err
	}
	return compare(steps, applied), nil
}

func compare(steps []Step, applied []Applied) *Report {
	r := &Report{Target: len(steps)}
	byVersion := make(map[int]Applied, len(applied))
	for _, a := range applied {
		byVersion[a.Version] = a
		if a.Version > r.Current {
			r.Current = a.Version
		}
	}
	for _, s := range steps {
		a, ok := byVersion[s.Version]
		switch {
		case !ok:
			r.Pending = append(r.Pending, s)
		case a.Checksum != s.Checksum:
			r.Changed = append(r.Changed, fmt.Sprintf("step %s was applied with checksum %.12s but this binary has %.12s", s.ID(), a.Checksum, s.Checksum))
		}
	}
	for _, a := range applied {
		if a.Version > len(steps) {
			r.Unknown = append(r.Unknown, a)
		}
	}
	if len(r.Pending) > 0 && r.Current > r.Pending[0].Version {
		r.Changed = append(r.Changed, fmt.Sprintf("step %s is missing although version %d is applied", r.Pending[0].ID(), r.Current))
	}
	switch {
	case len(r.Changed) > 0:
		r.State = StateIncompatible
	case len(applied) == 0:
		r.State = StateEmpty
	case len(r.Pending) > 0:
		r.State = StateBehind
	case len(r.Unknown) > 0:
		r.State = StateNewer
	default:
		r.State = StateCurrent
	}
	return r
}

// ErrIncompatible is returned by Up when the database cannot be migrated.
var ErrIncompatible = errors.New("schema changed incompatibly")

// Up applies pending steps up to target (0 means all) under the lock, each
// in its own transaction, and returns those it applied.
func Up(ctx context.Context, d Driver, steps []Step, target int) ([]Step, error) {
	if target <= 0 || target > len(steps) {
		target = len(steps)
	}
	release, err := d.Lock(ctx)
	if err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	defer release()
	r, err := Status(ctx, d, steps)
	if err != nil {
		return nil, err
	}
	if r.State == StateIncompatible {
		return nil, fmt.Errorf("%w: %s", ErrIncompatible, r.Problem())
	}
	var done []Step
	for _, s := range r.Pending {
		if s.Version > target {
			break
		}
		ok, err := d.Apply(ctx, s, func(c Conn) error { return run(ctx, c, s) })
		if err != nil {
			return done, fmt.Errorf("apply migration %s: %w", s.ID(), err)
		}
		if ok {
			done = append(done, s)
		}
	}
	return done, nil
}

// run executes a step's statements, skipping columns that already exist and
// verifying afterwards that every added column and index is addressable.
func run(ctx context.Context, c Conn, s Step) error {
	for _, st := range s.Statements {
		if ac := st.AddColumn; ac != nil {
			exists, err := c.ColumnExists(ctx, ac.Table, ac.Column)
			if err != nil {
				return err
			}
			if !exists {
				if err := c.Exec(ctx, st.SQL); err != nil {
					return fmt.Errorf("%s: %w", firstLine(st.SQL), err)
				}
			}
			if ok, err := c.ColumnExists(ctx, ac.Table, ac.Column); err != nil || !ok {
				return fmt.Errorf("column %s.%s is not addressable after the step (err=%v)", ac.Table, ac.Column, err)
			}
			continue
		}
		if err := c.Exec(ctx, st.SQL); err != nil {
			return fmt.Errorf("%s: %w", firstLine(st.SQL), err)
		}
		if st.Index != "" {
			if ok, err := c.IndexExists(ctx, st.Index); err != nil || !ok {
				return fmt.Errorf("index %s is missing after the step (err=%v)", st.Index, err)
			}
		}
	}
	return nil
}
