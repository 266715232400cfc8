package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/daemon"
	"github.com/spf13/cobra"
)

func (m *Main) recordCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Write records to a grove's local store (they reach the team server through the daemon)",
		Long: `Each write updates the grove's local table and its outbox in one transaction;
the daemon sends the outbox to the team server. With the daemon running the write
goes through its control socket (the same HTTP API agent hooks can call);
without it the record is written to the local store directly and waits in the
outbox until the daemon starts.`,
	}
	addConfigFlag(cmd.PersistentFlags(), "home")
	// Each subcommand has its own variables: flags registered on one
	// variable would overwrite each other's defaults.
	var grove, table, id, file, delGrove, delTable, delID, delFile, getGrove, getTable, getID string
	var force, asJSON, delJSON bool
	common := func(c *cobra.Command, grove, table, id *string, idHelp string) {
		c.Flags().StringVar(grove, "grove", "", "the grove (required)")
		c.Flags().StringVar(table, "table", "", "the synced table, e.g. spores (required)")
		c.Flags().StringVar(id, "id", "", idHelp)
		_ = c.MarkFlagRequired("grove")
		_ = c.MarkFlagRequired("table")
	}
	put := &cobra.Command{
		Use:   "put --grove G --table T [--id ID] [--file F]",
		Short: "Upsert records from a JSON object (or an array of them) in a file or on standard input",
		Long: `Reads a JSON object (one record) or an array of objects (written in one
transaction) from --file or standard input. A record's id is --id or its "id"
field; project-scoped tables need a "project_id" of the form proj_<32 hex>.
A record equal to the stored one is not queued again unless --force is given
(to resend a record the server rejected).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := m.requireGrove(grove); err != nil {
				return err
			}
			writes, err := m.readWrites(file, table, id, daemon.OpUpsert, true)
			if err != nil {
				return err
			}
			return m.writeRecords(cmd.Context(), grove, writes, force, asJSON)
		},
	}
	common(put, &grove, &table, &id, "the record's id (default: its \"id\" field)")
	put.Flags().StringVar(&file, "file", "-", "JSON file to read; - is standard input")
	put.Flags().BoolVar(&force, "force", false, "queue the record even if it equals the stored one")
	put.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	del := &cobra.Command{
		Use:   "delete --grove G --table T --id ID [--file F]",
		Short: "Delete a record locally and on the team server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := m.requireGrove(delGrove); err != nil {
				return err
			}
			writes := []daemon.Write{{Table: delTable, ID: delID, Operation: daemon.OpDelete}}
			if delFile != "" {
				w, err := m.readWrites(delFile, delTable, delID, daemon.OpDelete, false)
				if err != nil {
					return err
				}
				writes = w
			}
			return m.writeRecords(cmd.Context(), delGrove, writes, false, delJSON)
		},
	}
	common(del, &delGrove, &delTable, &delID, "the record's id (required)")
	_ = del.MarkFlagRequired("id")
	del.Flags().StringVar(&delFile, "file", "", "optional JSON object with the record's project_id")
	del.Flags().BoolVar(&delJSON, "json", false, "print the result as JSON")
	var remote bool
	get := &cobra.Command{
		Use:   "get --grove G --table T --id ID [--remote]",
		Short: "Print a record from the local store, or with --remote from the team server (through the daemon)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return m.getRecord(cmd.Context(), getGrove, getTable, getID, remote)
		},
	}
	common(get, &getGrove, &getTable, &getID, "the record's id (required)")
	_ = get.MarkFlagRequired("id")
	get.Flags().BoolVar(&remote, "remote", false, "read the team server's copy with the grove's MCP token (needs the daemon)")
	cmd.AddCommand(put, del, get)
	return cmd
}

// requireGrove fails, with the command that fixes it, unless grove is
// installed on this machine.
func (m *Main) requireGrove(grove string) error {
	home, err := m.home()
	if err != nil {
		return err
	}
	_, err = daemon.LoadGroveConfig(home, grove)
	return teamSyncError(err)
}

// readWrites reads the JSON object or array of objects of file ("-": stdin).
func (m *Main) readWrites(file, table, id, op string, required bool) ([]daemon.Write, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(m.Stdin, 64<<20))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("read the record: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		if required {
			return nil, &exitError{code: 2, msg: "no record given: pass a JSON object on standard input or with --file"}
		}
		return []daemon.Write{{Table: table, ID: id, Operation: op}}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("the record is not one JSON value (%v)", err)}
	}
	switch x := v.(type) {
	case map[string]any:
		return []daemon.Write{{Table: table, ID: id, Operation: op, Data: x}}, nil
	case []any:
		if id != "" {
			return nil, &exitError{code: 2, msg: "--id names one record; an array gives each record's id in its \"id\" field"}
		}
		out := make([]daemon.Write, len(x))
		for i, e := range x {
			obj, ok := e.(map[string]any)
			if !ok {
				return nil, &exitError{code: 2, msg: fmt.Sprintf("element %d of the array is not a JSON object", i+1)}
			}
			out[i] = daemon.Write{Table: table, Operation: op, Data: obj}
		}
		if len(out) == 0 {
			return nil, &exitError{code: 2, msg: "the array holds no record"}
		}
		return out, nil
	}
	return nil, &exitError{code: 2, msg: "the record must be a JSON object (or an array of objects)"}
}

// writeRecords writes through the running daemon, or to the local store
// when none runs.
func (m *Main) writeRecords(ctx context.Context, grove string, writes []daemon.Write, force, asJSON bool) error {
	home, err := m.home()
	if err != nil {
		return err
	}
	res, err := daemon.NewClient(home).Write(ctx, grove, writes, force)
	direct := errors.Is(err, daemon.ErrNotRunning)
	if direct {
		res, err = daemon.LocalWrite(ctx, home, grove, writes, force)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(m.Stdout).Encode(map[string]any{"grove": grove, "results": res, "daemon_running": !direct})
	}
	queued, unchanged := 0, 0
	for _, r := range res {
		if r.Unchanged {
			unchanged++
		} else {
			queued++
		}
	}
	if len(res) == 1 {
		r := res[0]
		what := "queued for the team server"
		if r.Unchanged {
			what = "unchanged (equal to the stored record; --force queues it again)"
		}
		fmt.Fprintf(m.Stdout, "%s %s/%s in grove %s: %s\n", r.Operation, r.Table, r.ID, grove, what)
	} else {
		fmt.Fprintf(m.Stdout, "%d record(s) written in grove %s: %d queued for the team server, %d unchanged\n", len(res), grove, queued, unchanged)
	}
	if direct && queued > 0 {
		fmt.Fprintln(m.Stdout, "no daemon is running: the outbox keeps them until it starts (hypha daemon start)")
	}
	return nil
}

func (m *Main) getRecord(ctx context.Context, grove, table, id string, remote bool) error {
	if err := m.requireGrove(grove); err != nil {
		return err
	}
	home, err := m.home()
	if err != nil {
		return err
	}
	client := daemon.NewClient(home)
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	if remote {
		status, body, err := client.RemoteRecord(ctx, grove, table, id)
		if errors.Is(err, daemon.ErrNotRunning) {
			return fmt.Errorf("--remote reads through the daemon, which is not running: hypha daemon start")
		}
		if err != nil {
			return err
		}
		var v any
		if json.Unmarshal(body, &v) != nil {
			v = string(body)
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
		if status != 200 {
			return &exitError{code: 1, msg: fmt.Sprintf("the team server answered %d", status)}
		}
		return nil
	}
	rec, err := client.Get(ctx, grove, table, id)
	if errors.Is(err, daemon.ErrNotRunning) {
		var st *daemon.Store
		if st, err = daemon.OpenGroveStore(ctx, home, grove); err != nil {
			return err
		}
		defer st.Close()
		rec, err = st.Get(ctx, table, id)
	}
	if err != nil {
		if hypha.ErrorCode(err) == hypha.ENotFound {
			return &exitError{code: 1, msg: hypha.ErrorMessage(err)}
		}
		return err
	}
	return enc.Encode(rec)
}
