package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/seal"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/wire"
	"github.com/spf13/cobra"
)

func (m *Main) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list, revoke and rotate Team Keys and grove MCP tokens",
		Long: `Credentials of the team server:

  Team Key        org-level bearer for daemons and operators, valid for every
                  grove. Several may be active at once, so a rotation can
                  overlap: create the new key, hand it out, revoke the old one.
  MCP token       grove-scoped bearer for MCP clients. Daemons get theirs from
                  POST /connect; 'create-mcp' makes a named one for a client
                  without a daemon. Clients that send no daemon id (Myco's
                  daemon) share one token per grove, the "shared" token.

Secrets are printed once, at creation, and stored only as SHA-256 digests
(the shared token's plaintext also sealed under the server key, so /connect
can hand it out again).
A running server sees changes made here within 2 seconds.`,
	}
	addConfigFlag(cmd.PersistentFlags(), "db")
	addConfigFlag(cmd.PersistentFlags(), "mcp_token_ttl")

	var name, expires, grove string
	var asJSON bool
	createKey := &cobra.Command{
		Use:   "create-team-key",
		Short: "Create a Team Key and print its secret once",
		Example: `  hypha token create-team-key --name "alice laptop" --expires 90d
  hypha token create-team-key --name ci --expires 720h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ttl, err := parseExpiry(expires, true)
			if err != nil {
				return &exitError{code: 2, msg: "--expires: " + err.Error()}
			}
			return m.withCredentials(cmd.Context(), false, func(c *app.Credentials) error {
				secret, k, err := c.CreateTeamKey(cmd.Context(), name, ttl)
				if err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "Created Team Key %s (%s), expires %s.\n\n", k.ID, k.Name, expiryText(k.ExpiresAt))
				fmt.Fprintf(m.Stdout, "  %s\n\n", secret)
				fmt.Fprintln(m.Stdout, "This is the only time the key is shown: store it now. Daemons send it as")
				fmt.Fprintln(m.Stdout, "'Authorization: Bearer <key>'. Revoke it with 'hypha token revoke "+k.ID+"'.")
				return nil
			})
		},
	}
	createKey.Flags().StringVar(&name, "name", "team key", "a name that says who or what uses the key")
	createKey.Flags().StringVar(&expires, "expires", "never", "lifetime: 90d, 2w, 720h … or never")

	var mcpName, mcpExpires string
	createMCP := &cobra.Command{
		Use:   "create-mcp",
		Short: "Create a named grove MCP token for a client without a daemon, and print it once",
		Long: `Creates an MCP Access Token scoped to one grove for an MCP client that has no
daemon to call /connect (an editor, an agent, a script). Creating the same name
again in the same grove replaces the previous token.`,
		Example: `  hypha token create-mcp --grove user_primary --name cursor --expires 30d`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grove == "" || mcpName == "" {
				return &exitError{code: 2, msg: "create-mcp needs --grove and --name"}
			}
			ttl, err := parseExpiry(mcpExpires, false)
			if err != nil {
				return &exitError{code: 2, msg: "--expires: " + err.Error()}
			}
			return m.withCredentials(cmd.Context(), false, func(c *app.Credentials) error {
				t, err := c.CreateNamedMCPToken(cmd.Context(), grove, mcpName, ttl)
				if err != nil {
					return err
				}
				r := t.Record
				fmt.Fprintf(m.Stdout, "Created MCP token %s (%s) for grove %s, expires %s.\n\n", r.ID, r.Name, r.GroveID, expiryText(r.ExpiresAt))
				fmt.Fprintf(m.Stdout, "  %s\n\n", t.Token)
				fmt.Fprintln(m.Stdout, "This is the only time the token is shown: store it now. MCP clients send it as")
				fmt.Fprintf(m.Stdout, "'Authorization: Bearer <token>' with '%s: %s' to http://%s/mcp\n", wire.HeaderGrove, r.GroveID, m.Config.Listen)
				fmt.Fprintf(m.Stdout, "(or this server's public URL). Its fingerprint is %s.\n", r.TokenHash)
				return nil
			})
		},
	}
	createMCP.Flags().StringVar(&grove, "grove", "", "the grove the token may read (required)")
	createMCP.Flags().StringVar(&mcpName, "name", "", "the client's name, e.g. cursor (required)")
	createMCP.Flags().StringVar(&mcpExpires, "expires", "", "lifetime: 30d, 2w, 720h … (default: mcp_token_ttl)")

	var listGrove string
	list := &cobra.Command{
		Use:   "list",
		Short: "List Team Keys and grove MCP tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return m.withCredentials(cmd.Context(), false, func(c *app.Credentials) error {
				creds, err := c.ListCredentials(cmd.Context(), listGrove)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(m.Stdout)
					enc.SetIndent("", "  ")
					if creds == nil {
						creds = []app.CredentialInfo{}
					}
					return enc.Encode(creds)
				}
				tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tKIND\tNAME\tGROVE\tDAEMON\tSTATUS\tEXPIRES")
				for _, c := range creds {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Kind, c.Name, dash(c.GroveID), dash(c.DaemonID), c.Status, expiryText(c.ExpiresAt))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&listGrove, "grove", "", "list only the MCP tokens of this grove")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a Team Key (tk_…) with the MCP tokens minted through it, or an MCP token (mt_…)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return m.withCredentials(cmd.Context(), false, func(c *app.Credentials) error {
				if strings.HasPrefix(args[0], "tk_") {
					_, n, err := c.RevokeTeamKey(cmd.Context(), args[0])
					if err != nil {
						return err
					}
					fmt.Fprintf(m.Stdout, "revoked team key %s and the %d MCP token(s) minted through it\n", args[0], n)
					return nil
				}
				kind, err := c.RevokeCredential(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "revoked %s %s\n", strings.ReplaceAll(kind, "_", " "), args[0])
				return nil
			})
		},
	}

	var rotGrove string
	var showToken, acceptNewKey bool
	rotate := &cobra.Command{
		Use:   "rotate-mcp",
		Short: "Revoke every MCP token of a grove and replace its shared token; its daemons reconnect for new ones",
		Long: `Revokes every MCP token of the grove (daemon tokens, named ones and the shared
token) and mints the grove a new shared token, as POST /mcp/rotate does. Each
daemon that sends X-Daemon-ID sees its mcp_token_hash on /health become null and
calls POST /connect for a new token of its own; clients that send no daemon id
(Myco's daemon) see the shared token's mcp_token_hash change and call POST
/connect, which hands them the new shared token. Named tokens must be created
again with 'hypha token create-mcp'.

The new shared token is not printed unless --show-token is given: daemons fetch
it themselves. It is sealed under the server key, so this command needs the key
the servers use: HYPHA_SERVER_KEY, or --server-key-file (server_key_file); with
SQLite, the key file beside the data directory is found as 'hypha serve' finds
it. Myco's clients notice a changed fingerprint but never a missing one, so
the command refuses, revoking nothing, when the grove has a shared token and it
has no key, or a key other than the one the token was sealed under (if that key
is lost, --accept-new-key replaces the token with one sealed under this key). A
grove without a shared token, rotated without a key, has its tokens revoked and
gets no shared token.`,
		Example: `  hypha token rotate-mcp --grove user_primary
  HYPHA_SERVER_KEY=… hypha token rotate-mcp --db postgres://… --grove user_primary`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rotGrove == "" {
				return &exitError{code: 2, msg: "rotate-mcp needs --grove"}
			}
			return m.withCredentials(cmd.Context(), true, func(c *app.Credentials) error {
				r, err := c.RotateGroveTokensWith(cmd.Context(), rotGrove, app.RotateOptions{AcceptNewKey: acceptNewKey})
				if err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "revoked %d MCP token(s) of grove %s; its daemons reconnect on their next /health poll\n", r.Revoked, rotGrove)
				if r.Shared == nil {
					fmt.Fprintf(m.Stdout, "no new shared token: %s\n", hypha.ErrorMessage(r.SharedErr))
					return nil
				}
				fmt.Fprintf(m.Stdout, "replaced the grove's shared token (for clients without a daemon id): new mcp_token_hash %s, expires %s\n",
					r.Shared.Record.TokenHash, expiryText(r.Shared.Record.ExpiresAt))
				if showToken {
					fmt.Fprintf(m.Stdout, "\n  %s\n\n", r.Shared.Token)
				}
				return nil
			})
		},
	}
	rotate.Flags().StringVar(&rotGrove, "grove", "", "the grove whose tokens to revoke (required)")
	rotate.Flags().BoolVar(&showToken, "show-token", false, "print the new shared token")
	rotate.Flags().BoolVar(&acceptNewKey, "accept-new-key", false, "replace a shared token sealed under another server key (one that is lost) with one sealed under this key")
	addConfigFlag(rotate.Flags(), "server_key_file")

	cmd.AddCommand(createKey, createMCP, list, revoke, rotate)
	return cmd
}

// withCredentials opens the configured database, checks its schema is one
// this binary can use, and runs fn with the credential service; with
// needKey, the service has the server key serve uses (created as serve
// would when there is none yet).
func (m *Main) withCredentials(ctx context.Context, needKey bool, fn func(*app.Credentials) error) error {
	db, _, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := requireSchema(ctx, db); err != nil {
		return err
	}
	opts := app.CredentialsOptions{MCPTokenTTL: m.Config.MCPTokenTTL, Logger: m.Logger}
	if needKey {
		if opts.ServerKey, err = m.loadServerKey(ctx, db); err != nil {
			return err
		}
	}
	return fn(app.NewCredentials(db, opts))
}

func requireSchema(ctx context.Context, db *sqlstore.DB) error {
	r, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("%s", r.Problem())
	}
	return nil
}

// parseExpiry reads a lifetime: Go durations (720h), days (90d) or weeks
// (2w). "never" or "0" means no expiry where allowed; "" means the default
// (0).
func parseExpiry(s string, neverOK bool) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, nil
	}
	if s == "never" || s == "0" {
		if !neverOK {
			return 0, fmt.Errorf("MCP tokens always expire; give a lifetime such as 30d")
		}
		return 0, nil
	}
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		unit = 7 * 24 * time.Hour
	}
	var d time.Duration
	if unit != 0 {
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n <= 0 || n > 36500 {
			return 0, fmt.Errorf("%q is not a lifetime such as 90d, 2w or 720h", s)
		}
		d = time.Duration(n) * unit
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			return 0, fmt.Errorf("%q is not a lifetime such as 90d, 2w or 720h", s)
		}
	}
	if d < time.Minute {
		return 0, fmt.Errorf("%q is shorter than a minute", s)
	}
	return d, nil
}

// expiryText renders an expiry for people.
func expiryText(epoch int64) string {
	if epoch == 0 {
		return "never"
	}
	return time.Unix(epoch, 0).UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// firstRun is the Team Key created on the first start, shown once.
type firstRun struct {
	secret string
	key    *hypha.TeamKey
}

// startCredentials builds the credential service and the health figures
// for serve, starts their background refresh, and creates the first Team
// Key when the database has none. stop ends the background work.
func (m *Main) startCredentials(ctx context.Context, db *sqlstore.DB, schema *app.SchemaWatcher, key *seal.Key) (*app.Credentials, *app.Health, *firstRun, func()) {
	creds := app.NewCredentials(db, app.CredentialsOptions{MCPTokenTTL: m.Config.MCPTokenTTL, ConnectInterval: m.Config.ConnectInterval,
		ConnectLimit: int(m.Config.ConnectLimit), ServerKey: key, Logger: m.Logger})
	health := &app.Health{Store: db, Logger: m.Logger}
	var first *firstRun
	if schema.State().OK {
		secret, k, created, err := creds.EnsureFirstTeamKey(ctx)
		switch {
		case err != nil:
			m.Logger.Warn("could not create the first Team Key; create one with 'hypha token create-team-key'", "err", err)
		case created:
			first = &firstRun{secret: secret, key: k}
			m.Logger.Info("created the first Team Key; its secret is printed once on standard output", "id", k.ID)
		}
	} else {
		m.Logger.Warn("schema not usable yet: no first Team Key was created; after 'hypha migrate up', create one with 'hypha token create-team-key'")
	}
	creds.Start(ctx)
	health.Start(ctx)
	return creds, health, first, func() { health.Stop(); creds.Stop() }
}

// printFirstRun prints the first Team Key and the next steps, once, on
// standard output (never to the log).
func (m *Main) printFirstRun(addr string, f *firstRun) {
	if f == nil {
		return
	}
	base := "http://" + addr
	fmt.Fprintf(m.Stdout, `
First run: created Team Key %[1]s. It is shown only this once; store it now:

  %[2]s

Connect a daemon (Myco's team join takes this URL and key):
  server URL   %[3]s
  Team Key     send it as 'Authorization: Bearer <key>'
  grove        send 'X-Grove-ID: <grove>' (without it: the grove %[4]q)
  daemon       send 'X-Daemon-ID: <id of the global daemon>' to /connect and
               /health, so the daemon sees its token rotate

  curl -X POST %[3]s/connect \
    -H "Authorization: Bearer $TEAM_KEY" -H "X-Grove-ID: user_primary" \
    -H "X-Daemon-ID: my-laptop" -H "Content-Type: application/json" \
    -d '{"machine_id":"my-laptop","global_daemon":true}'

The answer carries the grove's MCP access token for that daemon; MCP clients
use it at %[3]s/mcp with the same X-Grove-ID. More keys and tokens:
'hypha token --help'.

`, f.key.ID, f.secret, base, hypha.DefaultGroveID)
}
