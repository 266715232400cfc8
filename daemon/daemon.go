package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
)

// Options configures a Daemon. Zero durations take the defaults.
type Options struct {
	Home    Home
	Version string // sent as package_version and in the User-Agent
	// PollInterval is how often each grove polls /health (default 5 s).
	PollInterval time.Duration
	// FlushInterval is how often an idle grove looks at its outbox without
	// a local write waking it (default 1 s).
	FlushInterval time.Duration
	// ConnectInterval is the least time between two /connect calls of one
	// grove (default 1 minute, the seed's rate).
	ConnectInterval time.Duration
	// BackoffMax caps the exponential backoff of failed flushes (default 5 min).
	BackoffMax time.Duration
	Logger     *slog.Logger
	HTTPClient *http.Client // to the team servers; default: a client with keep-alive
}

// Defaults of Options.
const (
	DefaultPollInterval    = 5 * time.Second
	DefaultFlushInterval   = time.Second
	DefaultConnectInterval = time.Minute
	DefaultBackoffMax      = 5 * time.Minute
)

// Daemon is the global daemon: every grove of one HYPHA_HOME, its control
// socket and its lock. Start it, then Stop it.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	http    *http.Client
	id      Identity
	started time.Time

	lock    *os.File
	ln      net.Listener
	srv     *http.Server
	srvDone chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// reloadMu makes Reload run one at a time: the control socket, the
	// grove watcher and a request for a grove not yet open all call it,
	// and each grove must be opened, and its loops started, once.
	reloadMu  sync.Mutex
	openStore func(ctx context.Context, path, machineID string) (*Store, error)

	mu     sync.Mutex
	groves map[string]*grove

	stopOnce sync.Once
	stopReq  chan struct{}
	stopped  sync.Once
}

// New returns a daemon for opts; Start runs it.
func New(opts Options) *Daemon {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.ConnectInterval <= 0 {
		opts.ConnectInterval = DefaultConnectInterval
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 8
		hc = &http.Client{Transport: tr}
	}
	return &Daemon{opts: opts, log: opts.Logger, http: hc, openStore: OpenStore, groves: map[string]*grove{}, stopReq: make(chan struct{})}
}

// maxSocketPath is the longest Unix socket path every platform accepts
// (sun_path is 104 bytes on macOS and the BSDs, 108 on Linux).
const maxSocketPath = 103

// Start takes the machine's daemon lock, opens every installed grove,
// starts their flushers and watchers, and serves the control socket. It
// fails on a machine without any grove installation, and when another
// daemon already runs for the same HYPHA_HOME.
func (d *Daemon) Start(ctx context.Context) error {
	home := d.opts.Home
	if _, err := ListGroves(home); err != nil {
		return err
	}
	if err := ensureDir(home.DaemonDir()); err != nil {
		return err
	}
	if n := len(home.SocketPath()); n > maxSocketPath {
		return fmt.Errorf("the control socket path %s is %d bytes, over the %d a Unix socket allows: use a shorter HYPHA_HOME", home.SocketPath(), n, maxSocketPath)
	}
	lock, err := acquireLock(home.LockPath())
	if errors.Is(err, errLocked) {
		pid, _ := lockHolder(home.LockPath())
		return fmt.Errorf("a daemon already runs for %s (pid %d); see `hypha daemon status`, or stop it with `hypha daemon stop`", home.Dir, pid)
	}
	if err != nil {
		return err
	}
	d.lock = lock
	if d.id, err = EnsureIdentity(home, ""); err != nil {
		releaseLock(lock)
		return err
	}
	d.started = time.Now()
	d.ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := d.Reload(ctx); err != nil {
		d.cancel()
		d.closeGroves()
		releaseLock(lock)
		return err
	}
	// We hold the lock, so a socket file left behind is stale. The socket
	// lives in a 0700 directory and is made 0600 before anyone can use it.
	_ = os.Remove(home.SocketPath())
	ln, err := net.Listen("unix", home.SocketPath())
	if err != nil {
		d.Stop()
		return fmt.Errorf("listen on %s: %w", home.SocketPath(), err)
	}
	if err := os.Chmod(home.SocketPath(), 0o600); err != nil {
		ln.Close()
		d.Stop()
		return fmt.Errorf("restrict the control socket: %w", err)
	}
	d.ln = ln
	d.srv = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	d.srvDone = make(chan struct{})
	go func() {
		defer close(d.srvDone)
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("control socket", "err", err)
		}
	}()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.watchGroves() }()
	d.log.Info("hypha daemon running", "daemon_id", d.id.DaemonID, "machine_id", d.id.MachineID, "socket", home.SocketPath(),
		"groves", d.groveIDs())
	return nil
}

// Reload opens groves installed since the last look and re-reads the
// settings, Team Key and token of the others. Reloads run one at a time,
// so a grove is opened once and has one flusher and one watcher.
func (d *Daemon) Reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	ids, err := ListGroves(d.opts.Home)
	if err != nil && !IsNoGroves(err) {
		return err
	}
	for _, id := range ids {
		d.mu.Lock()
		g := d.groves[id]
		d.mu.Unlock()
		if g != nil {
			if err := g.reload(); err != nil {
				g.log.Warn("reload grove settings", "err", err)
			}
			continue
		}
		st, err := d.openStore(ctx, filepath.Join(d.opts.Home.GroveDir(id), storeFile), d.id.MachineID)
		if err != nil {
			d.log.Error("cannot open a grove's local store; skipping it", "grove", id, "err", err)
			continue
		}
		g = newGrove(d, id, st)
		if err := g.reload(); err != nil {
			st.Close()
			d.log.Error("cannot read a grove's settings; skipping it", "grove", id, "err", err)
			continue
		}
		g.checkSchema(ctx)
		d.mu.Lock()
		if d.ctx.Err() != nil {
			d.mu.Unlock()
			st.Close()
			return nil
		}
		if d.groves[id] != nil {
			// Only Reload installs, under reloadMu, so this does not
			// happen; if it ever does, the grove already runs: keep it.
			d.mu.Unlock()
			st.Close()
			continue
		}
		d.groves[id] = g
		d.wg.Add(2)
		go func() { defer d.wg.Done(); g.runFlusher(d.ctx) }()
		go func() { defer d.wg.Done(); g.runWatcher(d.ctx) }()
		d.mu.Unlock()
		d.log.Info("serving grove", "grove", id, "server", g.cfg.ServerURL)
	}
	return nil
}

// watchGroves picks up groves installed while the daemon runs.
func (d *Daemon) watchGroves() {
	t := time.NewTicker(max(d.opts.PollInterval, time.Second))
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
			ids, err := ListGroves(d.opts.Home)
			if err != nil {
				continue
			}
			d.mu.Lock()
			fresh := false
			for _, id := range ids {
				if d.groves[id] == nil {
					fresh = true
				}
			}
			d.mu.Unlock()
			if fresh {
				_ = d.Reload(d.ctx)
			}
		}
	}
}

// grove returns the running grove id or a grove_not_installed error.
func (d *Daemon) grove(id string) (*grove, error) {
	d.mu.Lock()
	g := d.groves[id]
	d.mu.Unlock()
	if g == nil {
		if err := hypha.ValidateGroveID(id); err != nil {
			return nil, err
		}
		if _, err := LoadGroveConfig(d.opts.Home, id); err == nil {
			// Installed after the last look: open it now.
			if err := d.Reload(d.ctx); err != nil {
				return nil, err
			}
			d.mu.Lock()
			g = d.groves[id]
			d.mu.Unlock()
		}
	}
	if g == nil {
		return nil, notInstalled(d.opts.Home, id)
	}
	return g, nil
}

func (d *Daemon) groveIDs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.groves))
	for id := range d.groves {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Status returns the daemon's and every grove's status.
func (d *Daemon) Status(ctx context.Context) *Status {
	st := &Status{Daemon: DaemonInfo{Running: true, DaemonID: d.id.DaemonID, MachineID: d.id.MachineID, PID: os.Getpid(),
		StartedAt: fmtTime(d.started), Version: d.opts.Version, Home: d.opts.Home.Dir, Socket: d.opts.Home.SocketPath()}}
	st.Groves = []GroveStatus{}
	for _, id := range d.groveIDs() {
		if g, err := d.grove(id); err == nil {
			st.Groves = append(st.Groves, g.status(ctx))
		}
	}
	return st
}

// WriteStats returns how many local write requests the daemon committed in
// grove since it started, and in how many transactions (see groupcommit.go).
func (d *Daemon) WriteStats(grove string) (requests, transactions int64, err error) {
	g, err := d.grove(grove)
	if err != nil {
		return 0, 0, err
	}
	requests, transactions = g.store.WriteStats()
	return requests, transactions, nil
}

// StopRequested is closed when a client asked the daemon to stop over the
// control socket; the owner then calls Stop.
func (d *Daemon) StopRequested() <-chan struct{} { return d.stopReq }

func (d *Daemon) requestStop() { d.stopOnce.Do(func() { close(d.stopReq) }) }

// Stop stops serving the socket, ends every loop (an /enqueue in flight is
// abandoned: its rows stay in the outbox and are sent again, which the
// server's idempotent upsert makes harmless), closes the stores and
// releases the lock.
func (d *Daemon) Stop() { d.stopped.Do(d.stop) }

func (d *Daemon) stop() {
	if d.cancel != nil {
		d.cancel()
	}
	if d.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = d.srv.Shutdown(sctx)
		cancel()
		<-d.srvDone
		_ = os.Remove(d.opts.Home.SocketPath())
	}
	d.wg.Wait()
	d.http.CloseIdleConnections()
	d.closeGroves()
	if d.lock != nil {
		releaseLock(d.lock)
		d.lock = nil
	}
	d.log.Info("hypha daemon stopped")
}

func (d *Daemon) closeGroves() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, g := range d.groves {
		if n, txs := g.store.WriteStats(); n > 0 {
			g.log.Debug("local writes committed", "requests", n, "transactions", txs)
		}
		g.store.Close()
		delete(d.groves, id)
	}
}
