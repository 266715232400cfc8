package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/sqlite"
	"github.com/spf13/cobra"
)

func (m *Main) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go version, schema version and sync protocol window",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			steps, err := sqlite.Steps()
			if err != nil {
				return err
			}
			v, c := buildInfo()
			fmt.Fprintf(m.Stdout, "hypha %s\n", v)
			fmt.Fprintf(m.Stdout, "commit:          %s\n", c)
			fmt.Fprintf(m.Stdout, "go:              %s\n", runtime.Version())
			fmt.Fprintf(m.Stdout, "schema version:  %d\n", len(steps))
			fmt.Fprintf(m.Stdout, "sync protocol:   %d (accepts clients %d–%d)\n", hypha.SyncProtocolVersion, hypha.MinSyncProtocolVersion, hypha.SyncProtocolVersion)
			return nil
		},
	}
}

// buildInfo returns the version and commit, from -ldflags when set and from
// the Go build's VCS stamp otherwise.
func buildInfo() (string, string) {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if c == "" {
			dirty := ""
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					c = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						dirty = "-dirty"
					}
				}
			}
			if c != "" {
				c += dirty
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}
