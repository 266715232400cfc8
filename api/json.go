package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/hyphateam/hypha"
)

// readJSON decodes the request body into v. Malformed JSON is a 400
// bad_json (never a 500), a body over the limit a 413, an empty body the
// zero value when allowEmpty.
func readJSON(r *http.Request, v any, allowEmpty bool) error {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	err := dec.Decode(v)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
	case errors.As(err, &mbe):
		return hypha.Errorf(hypha.ETooLarge, "request body is over the %d-byte limit", mbe.Limit)
	case errors.Is(err, io.EOF):
		if allowEmpty {
			return nil
		}
		return hypha.Errorf(hypha.EBadJSON, "request body is empty; expected a JSON object")
	default:
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			if ute.Field != "" {
				return hypha.Errorf(hypha.EInvalid, "field %s: expected %s, got JSON %s", ute.Field, ute.Type, ute.Value)
			}
			return hypha.Errorf(hypha.EInvalid, "expected %s, got JSON %s", ute.Type, ute.Value)
		}
		return hypha.Errorf(hypha.EBadJSON, "request body is not valid JSON: %v", err)
	}
	// Anything after the value is garbage too.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, &mbe) {
			return hypha.Errorf(hypha.ETooLarge, "request body is over the %d-byte limit", mbe.Limit)
		}
		return hypha.Errorf(hypha.EBadJSON, "request body has data after its JSON value")
	}
	return nil
}
