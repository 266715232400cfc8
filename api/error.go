package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// retryAfterSeconds is sent with every 503 (and a 429 whose error names no
// wait) so daemons keep their outbox and come back later.
const retryAfterSeconds = 5

// maxErrorMessage bounds the message of an error answer.
const maxErrorMessage = 2048

// writeError answers with the error's code and the status wire.StatusOf
// gives it. Internal errors are logged here, once, and their details never
// reach the client.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := hypha.ErrorCode(err)
	status := wire.StatusOf(code)
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
	if len(msg) > maxErrorMessage {
		// A safety net: messages quote client input clipped, but never
		// let one grow without bound.
		cut := maxErrorMessage
		for cut > 0 && msg[cut]&0xC0 == 0x80 {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	body := wire.ErrorBody{Error: msg, Code: code}
	var he *hypha.Error
	if errors.As(err, &he) && he.Code == hypha.EInternal {
		body.Error = "internal error"
	}
	if wire.IsProtocolCode(code) {
		// The worker's typed 409: the code as the error, the window.
		body.Error, body.Message = code, msg
		body.SyncProtocolVersion, body.MinCompatClientVersion = hypha.SyncProtocolVersion, hypha.MinSyncProtocolVersion
	}
	writeJSON(w, status, body)
}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.WriteJSON(w, status, v) }

// readJSON decodes the request body into v (see httpjson.ReadJSON).
func readJSON(r *http.Request, v any, allowEmpty bool) error {
	return httpjson.ReadJSON(r, v, allowEmpty)
}
