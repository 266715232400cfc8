package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/hyphateam/hypha"
)

// Int is an integer field Myco clients send as a number or a numeric
// string (the worker accepted both). Null or absence leaves Set false; any
// other value fails with a *json.UnmarshalTypeError, which encoding/json
// completes with the field's path, so httpjson.ReadJSON's 400 names the
// field.
type Int struct {
	Value int
	Set   bool
}

// NewInt returns a set Int.
func NewInt(v int) Int { return Int{Value: v, Set: true} }

// UnmarshalJSON reads a number or a numeric string within 32 bits.
func (n *Int) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*n = Int{}
		return nil
	}
	var num json.Number
	if json.Unmarshal(b, &num) != nil {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return intError(b, "")
		}
		num = json.Number(strings.TrimSpace(s))
	}
	i, err := strconv.ParseInt(string(num), 10, 32)
	if err != nil {
		why := ""
		if errors.Is(err, strconv.ErrRange) {
			why = " (out of range)"
		}
		return intError(b, why)
	}
	*n = Int{Value: int(i), Set: true}
	return nil
}

// intError describes a value that is not an Int the way encoding/json
// describes its own type errors ("number 3.5"), the value clipped. The
// decoder fills in Field (encoding/json v1 completes every
// *UnmarshalTypeError a field's decoding returns, its own or not).
func intError(b []byte, why string) error {
	kind := "number"
	if len(b) > 0 {
		switch b[0] {
		case '"':
			kind = "string"
		case 't', 'f':
			kind = "bool"
		case '[':
			kind = "array"
		case '{':
			kind = "object"
		}
	}
	return &json.UnmarshalTypeError{Value: kind + " " + hypha.Clip(string(b)) + why, Type: reflect.TypeFor[int32]()}
}

// MarshalJSON writes the number, or null when unset.
func (n Int) MarshalJSON() ([]byte, error) {
	if !n.Set {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, int64(n.Value), 10), nil
}

// MaybeInt is an integer the server only checks when the client sent a
// whole number (the worker's rule for /connect's versions): anything else
// reads as unset rather than failing the request.
type MaybeInt struct {
	Value int64
	Set   bool
}

// NewMaybeInt returns a set MaybeInt.
func NewMaybeInt(v int64) MaybeInt { return MaybeInt{Value: v, Set: true} }

// UnmarshalJSON never fails: a whole number sets the value.
func (n *MaybeInt) UnmarshalJSON(b []byte) error {
	*n = MaybeInt{}
	var num json.Number
	if json.Unmarshal(b, &num) == nil {
		if i, err := num.Int64(); err == nil {
			*n = MaybeInt{Value: i, Set: true}
		}
	}
	return nil
}

// MarshalJSON writes the number, or null when unset.
func (n MaybeInt) MarshalJSON() ([]byte, error) {
	if !n.Set {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, n.Value, 10), nil
}

// Ptr returns the value, or nil when unset.
func (n MaybeInt) Ptr() *int64 {
	if !n.Set {
		return nil
	}
	v := n.Value
	return &v
}

// Nullable returns nil for "" and &s otherwise: the JSON null of optional
// strings in Myco's answers.
func Nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// NullableInt returns nil for 0 and &n otherwise.
func NullableInt(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

// OptString is a string field some answers carry and others leave out:
// absent when !Present, null when present without a value.
type OptString struct {
	Value   *string
	Present bool
}

// Opt returns a present OptString, null for "".
func Opt(s string) OptString { return OptString{Value: Nullable(s), Present: true} }

// IsZero makes `omitzero` leave an absent field out.
func (o OptString) IsZero() bool { return !o.Present }

// MarshalJSON writes the string or null.
func (o OptString) MarshalJSON() ([]byte, error) { return json.Marshal(o.Value) }

// UnmarshalJSON reads a string or null.
func (o *OptString) UnmarshalJSON(b []byte) error {
	o.Present = true
	return json.Unmarshal(b, &o.Value)
}
