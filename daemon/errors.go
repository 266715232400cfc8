package daemon

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// Error codes of the control socket besides the hypha ones (invalid,
// bad_json, not_found, payload_too_large, unavailable, internal, …). Clients
// switch on them; they are stable.
const (
	// EGroveNotInstalled: the named grove has no installation on this
	// machine (404).
	EGroveNotInstalled = "grove_not_installed"
	// ESchemaBehind: the grove's local store is behind this binary; run
	// `hypha daemon migrate --grove G` (503).
	ESchemaBehind = "schema_behind"
	// ETokenUnavailable: the grove has no usable MCP token and /connect
	// cannot be called yet (503, Retry-After).
	ETokenUnavailable = "token_unavailable"
	// ENotConfigured: the grove has no team server (409); the server's
	// code of the same meaning.
	ENotConfigured = hypha.ENotConfigured
	// ERemoteUnreachable: the team server could not be reached (502).
	ERemoteUnreachable = "remote_unreachable"
)

// statusByCode maps the control socket's own codes to their status; every
// other code has the server's status (wire.StatusOf).
var statusByCode = map[string]int{
	EGroveNotInstalled: http.StatusNotFound,
	ESchemaBehind:      http.StatusServiceUnavailable,
	ETokenUnavailable:  http.StatusServiceUnavailable,
	ERemoteUnreachable: http.StatusBadGateway,
}

// statusOf returns the HTTP status of a code.
func statusOf(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return wire.StatusOf(code)
}

// ErrNoGroves is returned by team-sync operations on a machine without any
// grove installation.
type ErrNoGroves struct {
	Dir string // the groves directory that holds none
}

func (e *ErrNoGroves) Error() string {
	return fmt.Sprintf("Team sync requires Grove installation (no grove in %s)\nInstall Grove first: hypha init --grove", e.Dir)
}

// IsNoGroves reports whether err says the machine has no grove installation.
func IsNoGroves(err error) bool {
	var e *ErrNoGroves
	return errors.As(err, &e)
}

// notInstalled is the error for a grove id with no installation here.
func notInstalled(home Home, grove string) error {
	return hypha.Errorf(EGroveNotInstalled, "grove %q is not installed on this machine (%s): create it with `hypha init --grove --grove-id %s`",
		grove, home.GrovesDir(), grove)
}
