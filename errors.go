package hypha

import (
	"errors"
	"fmt"
)

// Error codes are stable strings that clients switch on. The HTTP layer maps
// each one to a status code in a single table; anything without a code is an
// internal error.
const (
	EInvalid             = "invalid"                      // malformed or out-of-range input (400)
	EBadJSON             = "bad_json"                     // request body is not valid JSON (400)
	EUnauthorized        = "unauthorized"                 // missing or invalid credential (401)
	ETokenExpired        = "token_expired"                // credential past its expiry (401)
	ETokenRevoked        = "token_revoked"                // credential revoked (401)
	EForbidden           = "forbidden"                    // authenticated but not allowed (403)
	EGroveForbidden      = "grove_forbidden"              // credential used outside its grove (403)
	ENotFound            = "not_found"                    // no such object or route (404)
	EMethodNotAllowed    = "method_not_allowed"           // the route exists, not with this method (405)
	EConflict            = "conflict"                     // compare-and-set lost, or a uniqueness clash (409)
	EProtocolUnsupported = "protocol_version_unsupported" // client protocol outside the window (409)
	ETooLarge            = "payload_too_large"            // body or batch over its limit (413)
	EUnsupportedMedia    = "unsupported_media_type"       // body not sent as a media type the route takes (415)
	ERateLimited         = "rate_limited"                 // too many requests (429)
	EUnavailable         = "unavailable"                  // store unreachable or busy (503)
	ESchemaMismatch      = "schema_mismatch"              // database schema not at the binary's version (503)
	EInternal            = "internal"                     // a bug or an unexpected failure (500)
)

// Error is the one application error type. Code is stable; Message is for
// humans and may change between versions.
type Error struct {
	Code    string
	Message string
	Err     error // optional cause, never shown to clients
	// RetryAfter, when positive, is how many seconds a client should wait
	// before trying again (sent as Retry-After on 429 and 503).
	RetryAfter int
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause so errors.Is and errors.As see through an Error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with the given code and message that keeps err
// as its cause.
func WrapError(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// RateLimitedf returns a rate_limited error telling the client to retry
// after the given number of seconds (at least 1).
func RateLimitedf(retryAfter int, format string, args ...any) *Error {
	e := Errorf(ERateLimited, format, args...)
	e.RetryAfter = max(retryAfter, 1)
	return e
}

// RetryAfter returns the RetryAfter seconds of the first *Error in err's
// chain that sets one, or 0.
func RetryAfter(err error) int {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return 0
		}
		if e.RetryAfter > 0 {
			return e.RetryAfter
		}
		err = e.Err
	}
	return 0
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c *ConflictError
	if errors.As(err, &c) {
		return EConflict
	}
	return EInternal
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or "internal error" for errors that carry no code: their text may hold
// details that must not reach a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Message != "" {
			return e.Message
		}
		return e.Code
	}
	var c *ConflictError
	if errors.As(err, &c) {
		return c.Error()
	}
	return "internal error"
}

// ConflictError is the typed error of a lost compare-and-set race (the seed's
// GroveConflictError): another writer changed Key since the caller read
// version Expected. The HTTP layer answers it with 409 conflict.
type ConflictError struct {
	Key      string
	Expected int64 // version the caller based its write on; 0 means "must not exist"
	Actual   int64 // version found; 0 when the key does not exist
}

func (e *ConflictError) Error() string {
	if e.Expected == 0 {
		return fmt.Sprintf("conflict on %q: it already exists at version %d", e.Key, e.Actual)
	}
	if e.Actual == 0 {
		return fmt.Sprintf("conflict on %q: expected version %d but it no longer exists", e.Key, e.Expected)
	}
	return fmt.Sprintf("conflict on %q: expected version %d but found %d (updated by another writer)", e.Key, e.Expected, e.Actual)
}
