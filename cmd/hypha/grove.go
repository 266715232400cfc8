package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/spf13/cobra"
)

// groveCommand manages per-grove settings of the team server: for now the
// grants that share one grove's cross_grove records with another (the
// collective will manage them later).
func (m *Main) groveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grove",
		Short: "Per-grove settings of the team server: sharing grants, the anonymous MCP tier",
		Long: `A record a daemon syncs with "sharing_policy": "cross_grove" stays in its grove
unless that grove grants another grove access: then the other grove's searches
and MCP tools see it too. Private records (no policy, or "private") are never
shared. A grant is one-way; a running server applies changes at once.`,
	}
	addConfigFlag(cmd.PersistentFlags(), "db")
	var grove, with string
	share := &cobra.Command{
		Use:     "share --grove OWNER --with GRANTEE",
		Short:   "Let GRANTEE read OWNER's cross_grove records",
		Example: `  hypha grove share --grove platform --with mobile`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grove == "" || with == "" {
				return &exitError{code: 2, msg: "grove share needs --grove OWNER and --with GRANTEE"}
			}
			return m.withGrants(cmd.Context(), func(db *sqlstore.DB) error {
				if err := db.PutGrant(cmd.Context(), grove, with); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "grove %s now sees the cross_grove records of grove %s\n", with, grove)
				return nil
			})
		},
	}
	unshare := &cobra.Command{
		Use:   "unshare --grove OWNER --with GRANTEE",
		Short: "Withdraw a grant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grove == "" || with == "" {
				return &exitError{code: 2, msg: "grove unshare needs --grove OWNER and --with GRANTEE"}
			}
			return m.withGrants(cmd.Context(), func(db *sqlstore.DB) error {
				if err := db.DeleteGrant(cmd.Context(), grove, with); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "grove %s no longer sees the records of grove %s\n", with, grove)
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{share, unshare} {
		c.Flags().StringVar(&grove, "grove", "", "the grove whose cross_grove records are shared")
		c.Flags().StringVar(&with, "with", "", "the grove that gets (or loses) access")
	}
	var of string
	shares := &cobra.Command{
		Use:   "shares --grove GRANTEE",
		Short: "List the groves whose cross_grove records GRANTEE sees",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if of == "" {
				return &exitError{code: 2, msg: "grove shares needs --grove GRANTEE"}
			}
			return m.withGrants(cmd.Context(), func(db *sqlstore.DB) error {
				from, err := db.ListGrantors(cmd.Context(), of)
				if err != nil {
					return err
				}
				if len(from) == 0 {
					fmt.Fprintf(m.Stdout, "grove %s sees no other grove's records\n", of)
					return nil
				}
				fmt.Fprintf(m.Stdout, "grove %s sees the cross_grove records of: %s\n", of, strings.Join(from, ", "))
				return nil
			})
		},
	}
	shares.Flags().StringVar(&of, "grove", "", "the grove that was granted access")
	cmd.AddCommand(share, unshare, shares, m.groveMCPAnonymousCommand())
	return cmd
}

func (m *Main) withGrants(ctx context.Context, fn func(db *sqlstore.DB) error) error {
	return m.withStore(ctx, true, func(db *sqlstore.DB, _ string) error {
		if err := requireSchema(ctx, db); err != nil {
			return err
		}
		return fn(db)
	})
}
