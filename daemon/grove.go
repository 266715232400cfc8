package daemon

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/migrate"
)

// MaxBatch is the most records one /enqueue carries (as Myco's daemon).
const MaxBatch = 100

// maxRetryAfter bounds how long a Retry-After can park a grove.
const maxRetryAfter = 15 * time.Minute

// Connection states of a grove, as the status shows them.
const (
	StateConnected         = "connected"
	StateConnecting        = "connecting"          // no answer from the server yet
	StateNotConfigured     = "not_configured"      // no server URL or no Team Key
	StateLocalSchemaBehind = "local_schema_behind" // `hypha daemon migrate --grove G`
	StateProtocolPaused    = "protocol_paused"     // the server refused this daemon's protocol (409)
	StateAuthFailed        = "auth_failed"         // the Team Key was refused (401/403)
	StateUnreachable       = "unreachable"         // the server could not be reached
	StateServerUnavailable = "server_unavailable"  // 503 from the server
	StateRateLimited       = "rate_limited"        // 429 from the server
	StateFailing           = "failing"             // other errors; backing off
	StateDaemonNotRunning  = "daemon_not_running"  // status read without a daemon
)

// callError is the last failure of one kind of call to the server.
type callError struct {
	state string
	msg   string
	at    time.Time
}

// RotationEvent is one token refresh by /connect.
type RotationEvent struct {
	At string `json:"at"`
	// DetectedPoll is the /health poll count when the stale token was
	// noticed, Poll the count when /connect replaced it (later when the
	// one-a-minute limit made it wait).
	DetectedPoll int64  `json:"detected_poll"`
	Poll         int64  `json:"poll"`
	Reason       string `json:"reason"`
}

// grove is one installed grove served by the daemon.
type grove struct {
	id    string
	d     *Daemon
	store *Store
	log   *slog.Logger
	wake  chan struct{} // a local write or a flush request: look at the outbox now

	connectMu sync.Mutex // one /connect at a time

	mu            sync.Mutex
	cfg           GroveConfig
	teamKey       string
	token         *TokenState
	tokenSeq      uint64
	tokenCh       chan struct{} // closed when the token changes
	tokenStale    string        // why the stored token is known to be stale; "" if not
	staleAtPoll   int64         // the poll count when it was noticed
	schema        *migrate.Report
	schemaProblem string
	schemaLogged  bool
	healthErr     *callError
	flushErr      *callError
	authErr       *callError
	lastHealthAt  time.Time
	polls         int64
	serverProto   int
	serverMin     int
	serverVersion string
	teamKeyStatus string
	protoPausedAt time.Time // zero while not paused
	protoReason   string
	failures      int // consecutive failed flushes
	nextAttempt   time.Time
	batchLimit    int
	nextConnect   time.Time
	connects      int
	rotations     int
	lastRotation  *RotationEvent
}

func newGrove(d *Daemon, id string, st *Store) *grove {
	g := &grove{id: id, d: d, store: st, log: d.log.With("grove", id), wake: make(chan struct{}, 1),
		tokenCh: make(chan struct{}), batchLimit: MaxBatch}
	return g
}

// reload reads the grove's settings, Team Key and token from its directory.
func (g *grove) reload() error {
	cfg, err := LoadGroveConfig(g.d.opts.Home, g.id)
	if err != nil {
		return err
	}
	key, err := ReadTeamKey(g.d.opts.Home, g.id)
	if err != nil {
		return err
	}
	tok, err := ReadToken(g.d.opts.Home, g.id)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := cfg.ServerURL != g.cfg.ServerURL || key != g.teamKey
	g.cfg, g.teamKey = cfg, key
	if tok != nil && (g.token == nil || tok.Token != g.token.Token) {
		g.setTokenLocked(tok)
		// At most one /connect a minute per grove, across restarts and
		// `hypha init` (which connects too).
		if next := tok.connectedAt().Add(g.d.opts.ConnectInterval); next.After(g.nextConnect) {
			g.nextConnect = next
		}
	}
	if changed {
		g.authErr, g.flushErr, g.healthErr, g.failures, g.nextAttempt = nil, nil, nil, 0, time.Time{}
		g.poke()
	}
	return nil
}

func (g *grove) setTokenLocked(t *TokenState) {
	g.token = t
	g.tokenSeq++
	g.tokenStale, g.staleAtPoll = "", 0
	close(g.tokenCh)
	g.tokenCh = make(chan struct{})
}

// poke wakes the flusher.
func (g *grove) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *grove) settings() (GroveConfig, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg, g.teamKey
}

func (g *grove) remote(cfg GroveConfig) *remote {
	return newRemote(cfg.ServerURL, g.id, g.d.id.DaemonID, g.d.opts.Version, g.d.http)
}

// checkSchema re-reads the local schema state and reports whether the grove
// may sync. A grove whose local store is behind is not synced, and says why
// in its status and (once per episode) in the log.
func (g *grove) checkSchema(ctx context.Context) bool {
	r, err := g.store.SchemaStatus(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.schema, g.schemaProblem = nil, "cannot read the local schema version: "+err.Error()
		return false
	}
	wasOK := g.schema != nil && g.schema.OK()
	g.schema, g.schemaProblem = r, SchemaProblem(g.id, r)
	switch {
	case !r.OK() && !g.schemaLogged:
		g.schemaLogged = true
		g.log.Warn("not syncing this grove: its local schema is not usable", "problem", g.schemaProblem)
	case r.OK() && !wasOK:
		if g.schemaLogged {
			g.log.Info("local schema usable again; syncing resumes", "version", r.Current)
		}
		g.schemaLogged = false
		g.poke()
	}
	return r.OK()
}

func (g *grove) schemaOK() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.schema != nil && g.schema.OK(), g.schemaProblem
}

// write applies local writes through the grove's store and wakes the
// flusher. It refuses while the local schema is not usable: the tables
// this binary writes may not exist yet.
func (g *grove) write(ctx context.Context, writes []Write, force bool) ([]WriteResult, error) {
	if ok, _ := g.schemaOK(); !ok && !g.checkSchema(ctx) {
		_, problem := g.schemaOK()
		return nil, hypha.Errorf(ESchemaBehind, "%s", problem)
	}
	res, err := g.store.PutBatch(ctx, writes, force)
	if err != nil {
		return nil, err
	}
	g.poke()
	return res, nil
}

// backoff returns the wait after n consecutive failures: exponential from
// 500 ms, capped at BackoffMax, with equal jitter (half fixed, half random)
// so daemons that failed together do not come back together.
func backoff(n int, max time.Duration) time.Duration {
	base := min(500*time.Millisecond, max)
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// failureState names the state a failed call leaves the grove in.
func failureState(err error) (state string, status int) {
	var re *RemoteError
	if errors.As(err, &re) {
		switch {
		case re.ProtocolMismatch():
			return StateProtocolPaused, re.Status
		case re.Status == http.StatusUnauthorized || re.Status == http.StatusForbidden:
			return StateAuthFailed, re.Status
		case re.Status == http.StatusTooManyRequests:
			return StateRateLimited, re.Status
		case re.Status == http.StatusServiceUnavailable:
			return StateServerUnavailable, re.Status
		}
		return StateFailing, re.Status
	}
	return StateUnreachable, 0
}
