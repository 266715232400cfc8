package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hyphateam/hypha"
)

// statusByCode is the one table mapping error codes to HTTP statuses.
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
	hypha.ETooLarge:            http.StatusRequestEntityTooLarge,
	hypha.EUnsupportedMedia:    http.StatusUnsupportedMediaType,
	hypha.ERateLimited:         http.StatusTooManyRequests,
	hypha.EUnavailable:         http.StatusServiceUnavailable,
	hypha.ESchemaMismatch:      http.StatusServiceUnavailable,
	hypha.EInternal:            http.StatusInternalServerError,
}

// StatusOf returns the HTTP status of an error code.
func StatusOf(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error: {error, code, message?}.
type errorBody struct {
	Error   string `json:"error"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// retryAfterSeconds is sent with every 503 (and a 429 whose error names no
// wait) so daemons keep their outbox and come back later.
const retryAfterSeconds = 5

// writeError answers with the error's code and status. Internal errors are
// logged here, once, and their details never reach the client.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := hypha.ErrorCode(err)
	status := StatusOf(code)
	msg := hypha.ErrorMessage(err)
	if code == hypha.EInternal {
		logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r.Context()), "err", err)
	}
	if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
		secs := hypha.RetryAfter(err)
		if secs <= 0 {
			secs = retryAfterSeconds
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	var he *hypha.Error
	body := errorBody{Error: msg, Code: code}
	if errors.As(err, &he) && he.Code == hypha.EInternal {
		body.Error = "internal error"
	}
	writeJSON(w, status, body)
}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
