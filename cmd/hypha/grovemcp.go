package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/spf13/cobra"
)

// groveMCPAnonymousCommand shows, enables or turns off a grove's anonymous
// MCP tier.
func (m *Main) groveMCPAnonymousCommand() *cobra.Command {
	var grove, tools string
	var off, asJSON bool
	cmd := &cobra.Command{
		Use:   "mcp-anonymous --grove G [--tools T1,T2 | --off]",
		Short: "Show, enable or turn off a grove's anonymous MCP tier",
		Long: `The anonymous MCP tier lets MCP clients without a credential call the listed
tools of a grove, by naming it in X-Grove-ID, and see only the records the
grove marks public ("sharing_policy": "public"). It is off unless a grove
turns it on here. Without --tools or --off the command shows the setting.
A running server applies a change at once.

Tools: ` + strings.Join(hypha.MCPTools, ", "),
		Example: `  hypha grove mcp-anonymous --grove docs --tools myco_search,myco_spores
  hypha grove mcp-anonymous --grove docs --off
  hypha grove mcp-anonymous --grove docs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grove == "" {
				return &exitError{code: 2, msg: "grove mcp-anonymous needs --grove"}
			}
			if off && tools != "" {
				return &exitError{code: 2, msg: "give --tools or --off, not both"}
			}
			ctx := cmd.Context()
			return m.withGrants(ctx, func(db *sqlstore.DB) error {
				anon := &app.AnonymousMCP{Store: db}
				if off || tools != "" {
					var list []string
					if !off {
						list = strings.Split(tools, ",")
						if len(strings.TrimSpace(strings.ReplaceAll(tools, ",", ""))) == 0 {
							return &exitError{code: 2, msg: "--tools names no tool; use --off to turn the tier off"}
						}
					}
					if _, err := anon.Set(ctx, grove, list); err != nil {
						return err
					}
				}
				open, err := anon.Tools(ctx, grove)
				if err != nil {
					return err
				}
				if asJSON {
					b, _ := json.Marshal(map[string]any{"grove_id": grove, "anonymous": len(open) > 0, "tools": append([]string{}, open...)})
					fmt.Fprintln(m.Stdout, string(b))
					return nil
				}
				if len(open) == 0 {
					fmt.Fprintf(m.Stdout, "grove %s: the anonymous MCP tier is off\n", grove)
					return nil
				}
				fmt.Fprintf(m.Stdout, "grove %s: anonymous MCP callers (X-Grove-ID: %s, no credential) may call %s over its public records\n",
					grove, grove, strings.Join(open, ", "))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&grove, "grove", "", "the grove")
	cmd.Flags().StringVar(&tools, "tools", "", "comma-separated tools to open to anonymous callers")
	cmd.Flags().BoolVar(&off, "off", false, "turn the anonymous tier off")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the setting as JSON")
	return cmd
}
