// Package wire is the HTTP contract of the team server, written once: the
// header names, the error body and the one table mapping error codes to
// statuses, a request and a response type for every route, and Client,
// the Go client the daemon, the CLI, the benchmarks and the tests use.
// The server (package api) encodes exactly these types, so a field renamed
// here is renamed for both sides, and the round-trip tests in api fail when
// a route answers something its type does not describe.
//
// The routes are the Myco team worker's (field names and shapes are the
// worker's where it had the route) plus Hypha's grove extensions. It
// imports only the domain package and the standard library.
package wire

import (
	"net/http"
	"strings"

	"github.com/hyphateam/hypha"
)

// Headers of the grove extensions and the protocol.
const (
	HeaderGrove    = "X-Grove-ID"
	HeaderDaemon   = "X-Daemon-ID"
	HeaderProtocol = "X-Sync-Protocol-Version" // on every authenticated response
	HeaderRequest  = "X-Request-ID"
)

// statusByCode is the one table mapping the server's error codes to HTTP
// statuses.
var statusByCode = map[string]int{
	hypha.EInvalid:             http.StatusBadRequest,
	hypha.EBadJSON:             http.StatusBadRequest,
	hypha.EUnauthorized:        http.StatusUnauthorized,
	hypha.ETokenExpired:        http.StatusUnauthorized,
	hypha.ETokenRevoked:        http.StatusUnauthorized,
	hypha.EForbidden:           http.StatusForbidden,
	hypha.EGroveForbidden:      http.StatusForbidden,
	hypha.ENotFound:            http.StatusNotFound,
	hypha.EMethodNotAllowed:    http.StatusMethodNotAllowed,
	hypha.EConflict:            http.StatusConflict,
	hypha.EProtocolUnsupported: http.StatusConflict,
	hypha.EProtocolTooOldEmbed: http.StatusConflict,
	hypha.ETooLarge:            http.StatusRequestEntityTooLarge,
	hypha.EUnsupportedMedia:    http.StatusUnsupportedMediaType,
	hypha.ERateLimited:         http.StatusTooManyRequests,
	hypha.ENotConfigured:       http.StatusConflict,
	hypha.EUnavailable:         http.StatusServiceUnavailable,
	hypha.ESchemaMismatch:      http.StatusServiceUnavailable,
	hypha.EInternal:            http.StatusInternalServerError,
}

// StatusOf returns the HTTP status of an error code; an unknown code is 500.
func StatusOf(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON of every error: {error, code, message?}. A protocol
// refusal (409 protocol_*) also carries the server's protocol window, as
// the Myco worker's typed 409 did.
type ErrorBody struct {
	Error                  string `json:"error"`
	Code                   string `json:"code"`
	Message                string `json:"message,omitempty"`
	SyncProtocolVersion    int    `json:"sync_protocol_version,omitempty"`
	MinCompatClientVersion int    `json:"min_compat_client_version,omitempty"`
}

// IsProtocolCode reports whether code is the server refusing the client's
// sync protocol version.
func IsProtocolCode(code string) bool { return strings.HasPrefix(code, "protocol_") }
