package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// drainOnSignal returns a context that ends at the first SIGINT or SIGTERM,
// when a long-running command (serve, daemon run) starts its graceful
// drain. A second signal does not wait for the drain: it logs and ends the
// process at once with exit code 1. stop releases the signals; call it when
// the command returns.
func (m *Main) drainOnSignal(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case sig := <-sigs:
			m.Logger.Info("signal received: draining (send it again to exit at once)", "signal", sig.String())
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			m.Logger.Error("second signal: exiting now", "signal", sig.String())
			os.Exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		<-exited
		cancel()
	}
}
