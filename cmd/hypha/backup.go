package main

import "github.com/spf13/cobra"

// exportCommand and importCommand are completed once the backup package
// lands; until then they are not registered.
func (m *Main) exportCommand() *cobra.Command { return &cobra.Command{Use: "export", Hidden: true} }
func (m *Main) importCommand() *cobra.Command { return &cobra.Command{Use: "import", Hidden: true} }
