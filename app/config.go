package app

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hyphateam/hypha"
)

// Limits of team_config. /connect hands the whole map to every daemon that
// joins, so what PUT /config may store is bounded as a whole, not only per
// request.
const (
	MaxConfigKeysPerPut = 200      // keys in one PUT /config
	MaxConfigKeys       = 500      // keys stored in all
	MaxConfigKeyBytes   = 128      // bytes of one key
	MaxConfigValueBytes = 16 << 10 // bytes of one value
	MaxConfigBytes      = 256 << 10
)

// configKeyPattern is the shape of a team_config key: the Myco worker's
// keys are snake_case, so letters, digits, '_', '.', ':' and '-' suffice,
// and a key never holds spaces, quotes or control characters.
var configKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]*$`)

// TeamIDPattern is the shape of the team's identity (reference §4.4).
var TeamIDPattern = regexp.MustCompile(`^team_[0-9a-f]{32}$`)

// serverOwnedConfig lists the team_config keys the server writes itself,
// with what each one records. A client may not change them through
// PUT /config: a new team_id would make every daemon that joined believe
// it talks to another team (upstream's daemon seeds it only when it is
// missing, and Hypha creates it before any client can read the config);
// a different embedding model or dimension would make the next start
// delete every vector and re-embed every record; the reindex status
// would lie about work the server did.
var serverOwnedConfig = map[string]string{
	"team_id":                 "the team's identity, created by the server; daemons keep it when they join",
	ConfigEmbeddingProvider:   "the embedder in use, recorded by the server at start",
	ConfigEmbeddingModel:      "the embedder in use, recorded by the server at start",
	ConfigEmbeddingDimensions: "the embedder in use, recorded by the server at start",
}

// serverOwnedConfigPrefix marks the reindex status keys (reference §4.4,
// including the legacy vector_reindex_last_table and its kin).
const serverOwnedConfigPrefix = "vector_reindex_"

// ServerOwnedConfigKey reports whether the server owns a team_config key,
// and what the key records.
func ServerOwnedConfigKey(key string) (what string, owned bool) {
	if what, ok := serverOwnedConfig[key]; ok {
		return what, true
	}
	if strings.HasPrefix(key, serverOwnedConfigPrefix) {
		return "the status of the last vector reindex, written by the server", true
	}
	return "", false
}

// PutConfig upserts team_config keys from a flat JSON object and returns
// how many keys the body set. Strings, numbers and booleans are stored as
// text; null, objects and arrays are refused rather than failing the
// write. A key the server owns (ServerOwnedConfigKey) may be sent only
// with the value it already has, so a daemon re-seeding what it read back
// succeeds; any other value is refused (team_id of the wrong shape as
// invalid, every other change as forbidden). Nothing is written unless the
// whole body is accepted.
func (s *Sync) PutConfig(ctx context.Context, body map[string]any) (int, error) {
	if len(body) == 0 {
		return 0, hypha.Errorf(hypha.EInvalid, "Empty config body")
	}
	if len(body) > MaxConfigKeysPerPut {
		return 0, hypha.Errorf(hypha.ETooLarge, "%d config keys in one request; at most %d", len(body), MaxConfigKeysPerPut)
	}
	values := make(map[string]string, len(body))
	for k, v := range body {
		str, err := configValue(k, v)
		if err != nil {
			return 0, err
		}
		values[k] = str
	}
	// The identity exists before any client can see the config (TeamConfig
	// creates it), so team_id is always compared with a stored value.
	if _, err := TeamConfig(ctx, s.Store); err != nil {
		return 0, err
	}
	err := s.Store.InTx(ctx, func(tx hypha.Queries) error {
		cur, err := tx.TeamConfig(ctx)
		if err != nil {
			return err
		}
		write := make(map[string]string, len(values))
		for k, v := range values {
			if err := checkServerOwned(k, v, cur); err != nil {
				return err
			}
			if cur[k] != v || !hasKey(cur, k) {
				write[k] = v
			}
		}
		if err := checkConfigSize(cur, write); err != nil {
			return err
		}
		if len(write) == 0 {
			return nil
		}
		return tx.PutTeamConfig(ctx, write)
	})
	if err != nil {
		return 0, err
	}
	return len(values), nil
}

// configValue checks one key and renders its value as stored text.
func configValue(k string, v any) (string, error) {
	if len(k) == 0 || len(k) > MaxConfigKeyBytes || !configKeyPattern.MatchString(k) {
		return "", hypha.Errorf(hypha.EInvalid, "config key %q must be 1-%d letters, digits, '_', '.', ':' or '-', starting with a letter, digit or '_'", truncateID(k), MaxConfigKeyBytes)
	}
	var str string
	switch x := v.(type) {
	case string:
		str = x
	case bool:
		str = fmt.Sprint(x)
	case fmt.Stringer: // json.Number
		str = x.String()
	case float64:
		str = fmt.Sprint(x)
	default:
		return "", hypha.Errorf(hypha.EInvalid, "config value of %q must be a string, number or boolean, got %s", k, jsonOf(v, true))
	}
	if !hypha.ValidText(str) {
		return "", hypha.Errorf(hypha.EInvalid, "config value of %q must be UTF-8 text without NUL", k)
	}
	if len(str) > MaxConfigValueBytes {
		return "", hypha.Errorf(hypha.ETooLarge, "config value of %q is %d bytes, over the %d-byte limit", k, len(str), MaxConfigValueBytes)
	}
	return str, nil
}

// checkServerOwned refuses a change of a key the server owns.
func checkServerOwned(k, v string, cur map[string]string) error {
	what, owned := ServerOwnedConfigKey(k)
	if !owned || (hasKey(cur, k) && cur[k] == v) {
		return nil
	}
	if k == "team_id" && !TeamIDPattern.MatchString(v) {
		return hypha.Errorf(hypha.EInvalid, "team_id must be team_<32 hex digits>, got %q; and it cannot be changed through PUT /config", truncateID(v))
	}
	stored := "it is not set"
	if hasKey(cur, k) {
		stored = fmt.Sprintf("it is %q", truncateID(cur[k]))
	}
	return hypha.Errorf(hypha.EForbidden, "config key %s is owned by the server (%s) and cannot be set through PUT /config: %s; send it unchanged or leave it out", k, what, stored)
}

// checkConfigSize refuses a write that would take team_config over its
// limits; a write that does not grow it past them (one that replaces values
// with shorter ones, say) always passes, even if it was over them already.
func checkConfigSize(cur, write map[string]string) error {
	keys, size := len(cur), configBytes(cur)
	newKeys, newSize := keys, size
	var added []string
	for k, v := range write {
		if old, ok := cur[k]; ok {
			newSize += len(v) - len(old)
			continue
		}
		newKeys++
		newSize += len(k) + len(v)
		added = append(added, k)
	}
	if newKeys > MaxConfigKeys && newKeys > keys {
		sort.Strings(added)
		return hypha.Errorf(hypha.ETooLarge, "team_config would hold %d keys, over the limit of %d (it holds %d; new: %s)", newKeys, MaxConfigKeys, keys, strings.Join(added, ", "))
	}
	if newSize > MaxConfigBytes && newSize > size {
		return hypha.Errorf(hypha.ETooLarge, "team_config would hold %d bytes of keys and values, over the limit of %d (it holds %d): /connect sends it whole to every daemon", newSize, MaxConfigBytes, size)
	}
	return nil
}

func configBytes(cfg map[string]string) int {
	n := 0
	for k, v := range cfg {
		n += len(k) + len(v)
	}
	return n
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
