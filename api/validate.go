package api

import (
	"net/http"
	"strconv"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// Where a person is sent to fix a Team Key. Hypha is self-hosted: there is
// no web page that renews a key, only the operator's command, so renew_url
// is null and renew_command says what to run; support_docs names the
// section of the operations guide shipped with Hypha.
const (
	renewCommand      = "hypha token create-team-key --name <name> [--expires 90d]"
	supportDocs       = "docs/OPERATIONS.md#credentials"
	estimatedDowntime = "none once the daemon has the new key: it works at once on the server that created it and within 2 s on other instances; daemons keep unsent records in their outbox meanwhile"
)

// handleValidateTeamKey tells a caller what is wrong with its Team Key and
// what to do: 200 valid:true for an active key; 401 for a missing, unknown,
// expired or revoked one; 403 for a grove MCP token (a credential, but not
// a Team Key). grove_impact lists the groves whose daemons connected with
// the key; it is empty for unknown and revoked keys, whose holder may not
// be entitled to learn grove names.
func (s *Server) handleValidateTeamKey(w http.ResponseWriter, r *http.Request) {
	ans := wire.ValidateTeamKeyResponse{
		Actions:     wire.CredentialActions{RenewCommand: renewCommand, SupportDocs: supportDocs, EstimatedDowntime: estimatedDowntime},
		GroveImpact: []string{},
	}
	fail := func(status int, errorType, keyStatus string, err error) {
		ans.ErrorType, ans.TeamKeyStatus = errorType, keyStatus
		ans.Code, ans.Message = hypha.ErrorCode(err), hypha.ErrorMessage(err)
		ans.Error = ans.Message
		writeJSON(w, status, ans)
	}
	secret, present := bearer(r)
	if !present {
		fail(http.StatusUnauthorized, "missing_team_key", "missing",
			hypha.Errorf(hypha.EUnauthorized, "No Team Key: send it as 'Authorization: Bearer <key>'"))
		return
	}
	if secret == "" {
		fail(http.StatusUnauthorized, "invalid_team_key", "invalid",
			hypha.Errorf(hypha.EUnauthorized, "Invalid Team key: expected 'Authorization: Bearer <key>'"))
		return
	}
	check, err := s.Credentials.CheckTeamKey(r.Context(), secret)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if k := check.Key; k != nil {
		ans.KeyID, ans.Name, ans.ExpiresAt = k.ID, k.Name, rfc3339(k.ExpiresAt)
	}
	switch check.Status {
	case hypha.StatusActive:
		ans.Valid, ans.TeamKeyStatus = true, hypha.StatusActive
		ans.Message = "Team Key is active"
		if ans.ExpiresAt != nil {
			ans.Message += " until " + *ans.ExpiresAt
		}
		ans.GroveImpact = s.Credentials.GrovesUsingTeamKey(r.Context(), check.Key.ID)
		w.Header().Set(wire.HeaderProtocol, strconv.Itoa(hypha.SyncProtocolVersion))
		writeJSON(w, http.StatusOK, ans)
	case hypha.StatusExpired:
		ans.GroveImpact = s.Credentials.GrovesUsingTeamKey(r.Context(), check.Key.ID)
		fail(http.StatusUnauthorized, "expired_team_key", hypha.StatusExpired, check.Err)
	case hypha.StatusRevoked:
		fail(http.StatusUnauthorized, "invalid_team_key", hypha.StatusRevoked, check.Err)
	case "missing_permissions":
		fail(http.StatusForbidden, "missing_permissions", "invalid", check.Err)
	default:
		fail(http.StatusUnauthorized, "invalid_team_key", "invalid", check.Err)
	}
}
