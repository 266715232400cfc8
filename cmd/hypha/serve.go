package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/api"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/mcp"
	"github.com/hyphateam/hypha/migrate"
	"github.com/spf13/cobra"
)

func (m *Main) serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the team server (embedded SQLite by default)",
		Long: `Runs the team server on --listen (default 127.0.0.1:8787).

With the embedded SQLite store (the default, ./hypha-data/hypha.db) the server
creates and migrates its database on start: there is no separate deploy step on
one machine. With PostgreSQL (--db postgres://…) it migrates only when --migrate
is given; otherwise run 'hypha migrate up' first. While the database schema is
behind what this binary needs, data routes answer 503 schema_mismatch with
Retry-After, and the server picks up the migrated schema without a restart.

The first signal (Ctrl-C, SIGTERM) drains in-flight requests; a second one exits
at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := m.drainOnSignal(cmd.Context())
			defer stop()
			return m.serve(ctx)
		},
	}
	for _, k := range []string{"db", "listen", "migrate", "sqlite_synchronous", "shutdown_timeout", "schema_check_interval", "mcp_token_ttl", "server_key_file", "connect_interval", "connect_limit", "mcp_stateless", "mcp_session_timeout", "mcp_allowed_hosts", "mcp_max_sessions", "mcp_rate_limit", "mcp_anonymous_rate_limit",
		"embedder", "embedding_url", "embedding_model", "embedding_dimensions", "embedding_api_key_env", "embedding_api_key_file",
		"embedding_timeout", "embedding_batch_size", "embedding_batch_chars"} {
		addConfigFlag(cmd.Flags(), k)
	}
	return cmd
}

func (m *Main) serve(ctx context.Context) error {
	db, engine, err := m.openStoreForWrite(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return m.serveStore(ctx, db, engine)
}

// serveStore runs the server on an open store until ctx ends.
func (m *Main) serveStore(ctx context.Context, db *sqlstore.DB, engine string) error {
	log := m.Logger
	key, err := m.loadServerKey(ctx, db)
	if err != nil {
		return err
	}
	if key == nil {
		log.Warn("no server key: clients that send no X-Daemon-ID (Myco's daemon) get an MCP token of their machine from /connect instead of the grove's shared token, and cannot notice a token rotation until a server key is configured; no provider token can be stored (POST /tokens/cf-api), and a grove's shared token cannot be rotated; set HYPHA_SERVER_KEY or server_key_file (the same key on every server of this database)")
	} else {
		log.Info("server key loaded", "key_id", key.ID())
	}
	// The provider token stored through POST /tokens/cf-api, kept
	// decrypted in memory: the embedder asks it on every request.
	secrets := app.NewSecrets(db, key, app.SecretsOptions{Logger: log})
	embedder, err := m.newEmbedder(secrets.ProviderAPIKey)
	if err != nil {
		return err
	}
	if engine == "sqlite" || m.Config.Migrate {
		done, err := db.Migrate(ctx, 0)
		for _, s := range done {
			log.Info("applied migration", "step", s.ID())
		}
		if err != nil && !errors.Is(err, migrate.ErrIncompatible) {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	watcher := &app.SchemaWatcher{Check: db.MigrationStatus, Interval: m.Config.SchemaCheck, Logger: log}
	watcher.Start(ctx)
	defer watcher.Stop()
	secrets.Start(ctx)
	defer secrets.Stop()
	// One vector space: a change of embedder deletes the old vectors and
	// queues every record again, before anything embeds (see
	// app.EmbeddingModel). The embed queue's consumer idles until then and
	// while the schema is not usable, and stops before the store closes.
	info := hypha.DescribeEmbedder(embedder)
	logEmbedder(log, info)
	model := &app.EmbeddingModel{Store: db, Embedder: info, Logger: log}
	if watcher.State().OK {
		model.Ready(ctx)
	}
	pctx, stopProbe := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() { defer close(probed); probeEmbedder(pctx, embedder, log) }()
	defer func() { stopProbe(); <-probed }()
	syncer := &app.Sync{Store: db, Logger: log}
	ready := func() bool { return watcher.State().OK && model.Ready(ctx) }
	// The in-memory vector index: built from the store once the schema
	// and the embedding model are settled, then kept current from the
	// store's search change sequence (this server's consumer wakes it).
	vectors := &app.SearchIndex{Store: db, Dims: embedder.Dims(), Logger: log, Ready: ready}
	vectors.Start(ctx)
	defer vectors.Stop()
	searcher := &app.Search{Store: db, Embedder: embedder, Index: vectors, Logger: log}
	jobs := app.NewJobs(db, embedder, log, app.JobsOptions{Ready: ready, Busy: syncer.Busy, Indexed: vectors.Notify})
	syncer.Jobs = jobs
	jobs.Start(ctx)
	defer jobs.Stop()

	ln, err := net.Listen("tcp", m.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Listen, err)
	}
	// After listen succeeded, so a first Team Key is never created by a
	// start that fails and so never gets printed.
	creds, health, first, stopCreds := m.startCredentials(ctx, db, watcher, key)
	defer stopCreds()
	v, _ := buildInfo()
	// The cloud MCP server, on the same port: /mcp and /mcp/call.
	mcpServer := mcp.New(mcp.Options{Store: db, Search: searcher, Stateless: m.Config.MCPStateless,
		SessionTimeout: m.Config.MCPSessionTimeout, MaxSessions: int(m.Config.MCPMaxSessions), AllowedHosts: splitList(m.Config.MCPAllowedHosts), Version: v, Logger: log})
	srv := &api.Server{Store: db, Schema: watcher, Auth: creds, Credentials: creds, Secrets: secrets, Health: health, Sync: syncer, Jobs: jobs, Search: searcher, Logger: log, PackageVersion: v,
		Embedder: &info, MCP: mcpServer.Handler(), MCPCall: mcpServer, AnonymousMCP: &app.AnonymousMCP{Store: db},
		MCPRateLimit: float64(m.Config.MCPRateLimit), MCPAnonymousRateLimit: float64(m.Config.MCPAnonRateLimit)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	log.Info("hypha serving", "addr", "http://"+addr, "engine", engine, "db", redactDB(m.Config.DB))
	m.printFirstRun(addr, first)
	if m.Ready != nil {
		m.Ready(addr)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", m.Config.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	mcpServer.Close() // MCP sessions and event streams would hold the drain up
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	<-errc
	log.Info("stopped")
	return nil
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
