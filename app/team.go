package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"

	"github.com/hyphateam/hypha"
)

// TeamConfig returns team_config after making sure it names the team: a
// Myco daemon refuses to join a server whose config has no team_id
// (worker_missing_team_id). Missing identity keys are created once, in the
// groups the Myco daemon seeds them, so an existing name is never replaced.
func TeamConfig(ctx context.Context, store hypha.Store) (map[string]string, error) {
	cfg, err := store.TeamConfig(ctx)
	if err != nil {
		return nil, err
	}
	add := map[string]string{}
	if cfg["team_id"] == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		add["team_id"] = "team_" + hex.EncodeToString(b)
	}
	if cfg["team_name"] == "" {
		add["team_name"] = "Hypha team"
		add["created_at"] = strconv.FormatInt(store.Now().Unix(), 10)
		add["created_by"] = "hypha"
	}
	if len(add) == 0 {
		return cfg, nil
	}
	// Two servers racing here each write a team_id; re-read so every
	// caller returns the one that was stored last.
	if err := store.InTx(ctx, func(tx hypha.Queries) error {
		cur, err := tx.TeamConfig(ctx)
		if err != nil {
			return err
		}
		for k := range add {
			if cur[k] != "" {
				delete(add, k)
			}
		}
		if len(add) == 0 {
			return nil
		}
		return tx.PutTeamConfig(ctx, add)
	}); err != nil {
		return nil, err
	}
	return store.TeamConfig(ctx)
}

// SetTeamID replaces the team's identity: an operator's step (never a
// client's, see PutConfig) for a team moved from another server, whose
// daemons already hold its team_<32 hex> id.
func SetTeamID(ctx context.Context, store hypha.Store, id string) error {
	if !TeamIDPattern.MatchString(id) {
		return hypha.Errorf(hypha.EInvalid, "team_id must be team_<32 hex digits>, got %q", truncateID(id))
	}
	return store.PutTeamConfig(ctx, map[string]string{"team_id": id})
}
