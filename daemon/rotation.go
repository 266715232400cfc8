package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hyphateam/hypha"
)

// runWatcher polls the team server's /health every PollInterval until ctx
// ends (the seed's Procedure B/E rotation detection).
func (g *grove) runWatcher(ctx context.Context) {
	t := time.NewTicker(g.d.opts.PollInterval)
	defer t.Stop()
	for {
		g.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// strOf renders an optional JSON string for logs.
func strOf(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// pollOnce reads /health with X-Grove-ID and X-Daemon-ID and reacts: it
// records the server's protocol window and Team Key status, pauses or
// resumes the grove on a protocol mismatch, and calls /connect when the
// token fingerprint or the grove scope differs from what the last /connect
// stored, compared as opaque strings.
func (g *grove) pollOnce(ctx context.Context) {
	g.checkSchema(ctx)
	cfg, key := g.settings()
	if cfg.ServerURL == "" || key == "" {
		return
	}
	h, err := g.remote(cfg).health(ctx, key)
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	g.mu.Lock()
	g.polls++
	poll := g.polls
	if err != nil {
		state, _ := failureState(err)
		if g.healthErr == nil {
			g.log.Warn("team server health check failed", "state", state, "error", err.Error())
		}
		g.healthErr = &callError{state: state, msg: "GET /health: " + err.Error(), at: now}
		g.mu.Unlock()
		return
	}
	if g.healthErr != nil {
		g.log.Info("team server reachable again")
	}
	g.healthErr, g.lastHealthAt = nil, now
	g.serverProto, g.serverMin, g.serverVersion = h.SyncProtocolVersion, h.MinCompatClientVersion, h.PackageVersion
	if h.TeamKeyStatus != g.teamKeyStatus {
		if h.TeamKeyStatus != "active" {
			g.log.Warn("the grove's Team Key needs attention: see GET /validate-team-key on the server, or ask the operator for a new key",
				"team_key_status", h.TeamKeyStatus)
		} else if g.teamKeyStatus != "" {
			g.log.Info("the grove's Team Key is active again")
		}
		g.teamKeyStatus = h.TeamKeyStatus
	}
	compatible := h.SyncProtocolVersion == 0 ||
		(h.MinCompatClientVersion <= hypha.SyncProtocolVersion && hypha.SyncProtocolVersion <= h.SyncProtocolVersion)
	switch {
	case !compatible:
		g.pauseProtocolLocked(fmt.Sprintf("the server accepts sync protocol %d–%d, this daemon speaks %d: upgrade the older side",
			h.MinCompatClientVersion, h.SyncProtocolVersion, hypha.SyncProtocolVersion))
	case !g.protoPausedAt.IsZero() && now.Sub(g.protoPausedAt) >= g.d.opts.ConnectInterval:
		g.log.Info("the server's protocol window includes this daemon again; syncing resumes")
		g.protoPausedAt, g.protoReason = time.Time{}, ""
		g.poke()
	}
	var reason string
	switch tok := g.token; {
	case tok == nil:
		reason = "no MCP token yet"
	case h.MCPTokenHash == nil || *h.MCPTokenHash != tok.Hash:
		reason = fmt.Sprintf("mcp_token_hash on /health is %s, not the %.12s… stored at the last /connect", strOf(h.MCPTokenHash), tok.Hash)
	case h.GroveScope == nil || *h.GroveScope != tok.GroveScope:
		reason = fmt.Sprintf("grove_scope on /health is %s, not the %q stored at the last /connect", strOf(h.GroveScope), tok.GroveScope)
	}
	if reason != "" && g.tokenStale == "" && g.token != nil {
		g.log.Info("grove token rotated or scope changed on the server; calling /connect", "reason", reason, "poll", poll)
	}
	if reason != "" {
		if g.tokenStale == "" {
			g.staleAtPoll = poll
		}
		g.tokenStale = reason
	}
	g.mu.Unlock()
	if reason != "" {
		if err := g.connect(ctx, reason, poll); err != nil && ctx.Err() == nil {
			var rl *connectWait
			if errors.As(err, &rl) {
				g.log.Debug("token refresh waits for the /connect rate limit", "wait", rl.wait.Round(time.Millisecond).String())
			} else {
				g.log.Warn("POST /connect failed; will retry", "error", err.Error())
			}
		}
	}
}

// connectWait is returned by connect inside the one-a-minute window.
type connectWait struct{ wait time.Duration }

func (e *connectWait) Error() string {
	return fmt.Sprintf("the last /connect of this grove was less than a minute ago; next one in %s", e.wait.Round(time.Second))
}

// connect calls /connect for a fresh MCP token and stores it (0600), at most
// once per ConnectInterval per grove (the seed: never more than once a
// minute), and wakes the calls waiting for a new token.
func (g *grove) connect(ctx context.Context, reason string, poll int64) error {
	g.connectMu.Lock()
	defer g.connectMu.Unlock()
	cfg, key := g.settings()
	if cfg.ServerURL == "" || key == "" {
		return hypha.Errorf(ENotConfigured, "grove %s has no team server or Team Key: run `hypha init --grove --grove-id %s --server URL --team-key-file F`", g.id, g.id)
	}
	now := time.Now()
	g.mu.Lock()
	if wait := g.nextConnect.Sub(now); wait > 0 {
		g.mu.Unlock()
		return &connectWait{wait: wait}
	}
	g.nextConnect = now.Add(g.d.opts.ConnectInterval)
	schemaVersion := 0
	if g.schema != nil {
		schemaVersion = g.schema.Current
	}
	g.mu.Unlock()
	ans, err := g.remote(cfg).connect(ctx, key, g.store.MachineID(), schemaVersion)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		state, status := failureState(err)
		var re *RemoteError
		g.mu.Lock()
		if errors.As(err, &re) && re.Status == http.StatusTooManyRequests && re.RetryAfter > 0 {
			g.nextConnect = time.Now().Add(min(re.RetryAfter, maxRetryAfter))
		}
		switch state {
		case StateProtocolPaused:
			g.pauseProtocolLocked("POST /connect: " + err.Error())
		case StateAuthFailed:
			g.authErr = &callError{state: state, msg: "POST /connect: " + err.Error(), at: time.Now()}
		}
		g.mu.Unlock()
		_ = g.store.RecordFailure(ctx, "connect", status, err.Error())
		return fmt.Errorf("POST /connect: %w", err)
	}
	tok := &TokenState{Token: ans.MCPAccessToken, Hash: ans.MCPTokenHash, GroveScope: ans.GroveID, ExpiresAt: ans.ExpiresAt,
		ConnectedAt: time.Now().UTC().Format(time.RFC3339Nano), DaemonID: g.d.id.DaemonID, ServerURL: cfg.ServerURL,
		MCPServerURL: ans.MCPServerURL, TeamKeyStatus: ans.TeamKeyStatus}
	if err := writeToken(g.d.opts.Home, g.id, tok); err != nil {
		return err
	}
	g.mu.Lock()
	rotated := g.token != nil
	detected := g.staleAtPoll
	if detected == 0 {
		detected = poll
	}
	g.setTokenLocked(tok)
	g.connects++
	if rotated {
		g.rotations++
		g.lastRotation = &RotationEvent{At: tok.ConnectedAt, DetectedPoll: detected, Poll: poll, Reason: reason}
	}
	if g.authErr != nil && g.authErr.msg != "" {
		g.authErr = nil
	}
	g.mu.Unlock()
	g.log.Info("stored a new MCP token for the grove", "reason", reason, "expires_at", ans.ExpiresAt, "team_key_status", ans.TeamKeyStatus)
	return nil
}

// maxTokenWait bounds how long a call that failed with 401 waits for the
// /connect rate limit before giving up.
const maxTokenWait = 20 * time.Second

// remoteGet reads a route of the team server with the grove's MCP token. A
// 401 means the token was rotated, revoked or expired: the grove gets a new
// one from /connect (waiting for the rate limit up to maxTokenWait) and the
// call is retried once with it.
func (g *grove) remoteGet(ctx context.Context, pathAndQuery string) (int, http.Header, []byte, error) {
	cfg, _ := g.settings()
	if cfg.ServerURL == "" {
		return 0, nil, nil, hypha.Errorf(ENotConfigured, "grove %s has no team server: run `hypha init --grove --grove-id %s --server URL --team-key-file F`", g.id, g.id)
	}
	for attempt := 0; ; attempt++ {
		g.mu.Lock()
		tok, seq := g.token, g.tokenSeq
		g.mu.Unlock()
		if tok == nil {
			if err := g.refreshToken(ctx, seq, "no MCP token yet"); err != nil {
				return 0, nil, nil, err
			}
			continue
		}
		status, hdr, body, err := g.remote(cfg).get(ctx, tok.Token, pathAndQuery)
		if err != nil {
			return 0, nil, nil, hypha.WrapError(ERemoteUnreachable, "cannot reach the team server", err)
		}
		if status != http.StatusUnauthorized || attempt > 0 {
			return status, hdr, body, nil
		}
		reason := "401 from GET " + pathAndQuery
		g.mu.Lock()
		if g.tokenSeq == seq {
			if g.tokenStale == "" {
				g.staleAtPoll = g.polls
			}
			g.tokenStale = reason
		}
		g.mu.Unlock()
		g.log.Info("a call with the grove's MCP token was refused; refreshing the token and retrying", "path", pathAndQuery)
		if err := g.refreshToken(ctx, seq, reason); err != nil {
			return 0, nil, nil, err
		}
	}
}

// refreshToken returns once the grove holds a token newer than seq, calling
// /connect itself when the rate limit allows and waiting for it otherwise.
func (g *grove) refreshToken(ctx context.Context, seq uint64, reason string) error {
	deadline := time.Now().Add(maxTokenWait)
	for {
		g.mu.Lock()
		changed, ch, poll := g.tokenSeq != seq, g.tokenCh, g.polls
		g.mu.Unlock()
		if changed {
			return nil
		}
		err := g.connect(ctx, reason, poll)
		if err == nil {
			return nil
		}
		var cw *connectWait
		if !errors.As(err, &cw) {
			if hypha.ErrorCode(err) == ENotConfigured {
				return err
			}
			return hypha.WrapError(ETokenUnavailable, "the grove has no usable MCP token and /connect failed", err)
		}
		if time.Now().Add(cw.wait).After(deadline) {
			e := hypha.Errorf(ETokenUnavailable, "the grove's MCP token is being refreshed; %s", cw.Error())
			e.RetryAfter = int(cw.wait/time.Second) + 1
			return e
		}
		t := time.NewTimer(cw.wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-ch:
			t.Stop()
		case <-t.C:
		}
	}
}
