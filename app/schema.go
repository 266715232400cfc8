// Package app holds the logic of the team server written once over the store
// interfaces: validation, grove authorization, de-duplication, token
// lifecycle and the schema gate.
package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/migrate"
)

// SchemaState is what the server knows about its database schema.
type SchemaState struct {
	OK      bool
	Code    string // hypha.ESchemaMismatch or hypha.EUnavailable when not OK
	Problem string // plain words for operators and clients
	Report  *migrate.Report
	Checked time.Time
}

// SchemaWatcher re-reads the schema version in the background, so a server
// whose database is behind answers 503 until `hypha migrate up` has run,
// then serves again without a restart. Readers never touch the database.
type SchemaWatcher struct {
	Check    func(ctx context.Context) (*migrate.Report, error)
	Interval time.Duration
	Logger   *slog.Logger

	state atomic.Pointer[SchemaState]
	loop  periodic
}

// State returns the latest known state; before the first check it is not OK.
func (w *SchemaWatcher) State() *SchemaState {
	if s := w.state.Load(); s != nil {
		return s
	}
	return &SchemaState{Code: hypha.EUnavailable, Problem: "the schema has not been checked yet"}
}

// Refresh checks the schema now and stores the result.
func (w *SchemaWatcher) Refresh(ctx context.Context) *SchemaState {
	s := &SchemaState{Checked: time.Now()}
	r, err := w.Check(ctx)
	switch {
	case err != nil:
		s.Code, s.Problem = hypha.EUnavailable, "the database is unavailable: "+err.Error()
	case !r.OK():
		s.Code, s.Problem, s.Report = hypha.ESchemaMismatch, r.Problem(), r
	default:
		s.OK, s.Report = true, r
	}
	prev := w.state.Swap(s)
	if w.Logger != nil && (prev == nil || prev.OK != s.OK || prev.Problem != s.Problem) {
		if s.OK {
			w.Logger.Info("schema ready", "version", r.Current, "state", string(r.State))
		} else {
			w.Logger.Error("schema not usable; data routes answer 503 until it is fixed", "code", s.Code, "problem", s.Problem)
		}
	}
	return s
}

// Start checks once, then keeps checking every Interval until Stop.
func (w *SchemaWatcher) Start(ctx context.Context) {
	if w.Interval <= 0 {
		w.Interval = 5 * time.Second
	}
	w.loop.start(ctx, w.Interval, func(ctx context.Context) { w.Refresh(ctx) })
}

// Stop ends the background checks and waits for them.
func (w *SchemaWatcher) Stop() { w.loop.stop() }
