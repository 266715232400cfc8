package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/hyphateam/hypha"
)

// Int is an integer field Myco clients send as a number or a numeric
// string (the worker accepted both). A value that is neither is an
// invalid-input error naming the field's value; null or absence leaves Set
// false.
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
			return hypha.Errorf(hypha.EInvalid, "expected an integer, got %s", Clip(string(b)))
		}
		num = json.Number(strings.TrimSpace(s))
	}
	i, err := strconv.ParseInt(string(num), 10, 32)
	if err != nil {
		return hypha.Errorf(hypha.EInvalid, "expected an integer, got %s", Clip(string(b)))
	}
	*n = Int{Value: int(i), Set: true}
	return nil
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
