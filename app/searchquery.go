package app

import (
	"strings"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
)

// checkQuery validates q and fills its defaults.
func checkQuery(q *hypha.SearchQuery) error {
	q.Text = strings.TrimSpace(q.Text)
	if q.Text == "" {
		return hypha.Errorf(hypha.EInvalid, `Missing query parameter "q"`)
	}
	if !utf8.ValidString(q.Text) || strings.ContainsRune(q.Text, 0) {
		return hypha.Errorf(hypha.EInvalid, "the query must be UTF-8 text without NUL")
	}
	// The filters reach the store's keyword index too (while this server's
	// own is built), where PostgreSQL would fail on such bytes.
	if err := validateKeys("project_id", q.ProjectID, "machine_id", q.MachineID, "status", q.Status,
		"observation_type", q.ObservationType, "session_id", q.SessionID, "source_path", q.SourcePath, "name", q.Name,
		"release_state", q.ReleaseState, "release_confidence", q.ReleaseConfidence); err != nil {
		return err
	}
	for _, t := range q.Types {
		if err := hypha.ValidateKeyText("types", t); err != nil {
			return err
		}
	}
	switch q.Mode {
	case "":
		q.Mode = hypha.SearchHybrid
	case hypha.SearchHybrid, hypha.SearchSemantic, hypha.SearchKeyword:
	default:
		return hypha.Errorf(hypha.EInvalid, "mode must be hybrid, semantic or keyword, not %q", hypha.Clip(q.Mode))
	}
	if q.Limit <= 0 {
		q.Limit = hypha.DefaultSearchLimit
	}
	q.Limit = min(q.Limit, hypha.MaxSearchLimit)
	return nil
}
