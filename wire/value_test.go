package wire_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// TestInt: what an Int field accepts, and that everything else fails with
// a type error naming the field.
func TestInt(t *testing.T) {
	tests := []struct {
		name    string
		json    string // the field's value; "" leaves the field out
		want    wire.Int
		wantErr string // a part of the error's Value; "" for no error
	}{
		{name: "number", json: `3`, want: wire.NewInt(3)},
		{name: "zero", json: `0`, want: wire.NewInt(0)},
		{name: "negative", json: `-7`, want: wire.NewInt(-7)},
		{name: "numeric string", json: `"3"`, want: wire.NewInt(3)},
		{name: "numeric string with spaces", json: `" 12 "`, want: wire.NewInt(12)},
		{name: "32-bit max", json: `2147483647`, want: wire.NewInt(2147483647)},
		{name: "32-bit min", json: `-2147483648`, want: wire.NewInt(-2147483648)},
		{name: "null", json: `null`, want: wire.Int{}},
		{name: "absent", json: ``, want: wire.Int{}},
		{name: "fraction", json: `3.5`, wantErr: "number 3.5"},
		{name: "exponent", json: `1e3`, wantErr: "number 1e3"},
		{name: "fraction as a string", json: `"3.5"`, wantErr: `string "3.5"`},
		{name: "garbage string", json: `"three"`, wantErr: `string "three"`},
		{name: "empty string", json: `""`, wantErr: `string ""`},
		{name: "bool", json: `true`, wantErr: "bool true"},
		{name: "array", json: `[3]`, wantErr: "array [3]"},
		{name: "object", json: `{"v":3}`, wantErr: `object {"v":3}`},
		{name: "overflow", json: `2147483648`, wantErr: "number 2147483648 (out of range)"},
		{name: "underflow", json: `-2147483649`, wantErr: "(out of range)"},
		{name: "overflow as a string", json: `"99999999999"`, wantErr: "(out of range)"},
		{name: "long garbage is clipped", json: `"` + strings.Repeat("x", 500) + `"`, wantErr: "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{}`
			if tt.json != "" {
				in = `{"protocol":` + tt.json + `}`
			}
			var got struct {
				Protocol wire.Int `json:"protocol"`
			}
			got.Protocol = wire.NewInt(42) // null resets it; an absent field is left alone
			err := json.Unmarshal([]byte(in), &got)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("decode %s: %v", in, err)
				}
				want := tt.want
				if tt.json == "" {
					want = wire.NewInt(42) // an absent field is not touched
				}
				if got.Protocol != want {
					t.Fatalf("decode %s = %+v, want %+v", in, got.Protocol, want)
				}
				return
			}
			var ute *json.UnmarshalTypeError
			if !errors.As(err, &ute) {
				t.Fatalf("decode %s = %v (%T), want a *json.UnmarshalTypeError", in, err, err)
			}
			if ute.Field != "protocol" || !strings.Contains(ute.Value, tt.wantErr) {
				t.Fatalf("decode %s: field %q value %q, want field protocol, value containing %q", in, ute.Field, ute.Value, tt.wantErr)
			}
			if len(ute.Value) > hypha.MaxEcho+40 {
				t.Fatalf("the error echoes %d bytes of the value", len(ute.Value))
			}
		})
	}
}

// TestInt_Marshal: a set Int is its number, an unset one null, and both
// read back as they were.
func TestInt_Marshal(t *testing.T) {
	for _, tt := range []struct {
		in   wire.Int
		want string
	}{{wire.NewInt(3), `3`}, {wire.NewInt(-1), `-1`}, {wire.NewInt(0), `0`}, {wire.Int{}, `null`}} {
		b, err := json.Marshal(tt.in)
		if err != nil || string(b) != tt.want {
			t.Fatalf("Marshal(%+v) = %s, %v; want %s", tt.in, b, err, tt.want)
		}
		var back wire.Int
		if err := json.Unmarshal(b, &back); err != nil || back != tt.in {
			t.Fatalf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, tt.in)
		}
	}
}

// TestMaybeInt never fails: a whole number (or a string holding one, which
// the worker's JavaScript compared as a number) sets it, anything else
// leaves it unset.
func TestMaybeInt(t *testing.T) {
	tests := []struct {
		json string
		want wire.MaybeInt
	}{
		{`5`, wire.NewMaybeInt(5)},
		{`-4`, wire.NewMaybeInt(-4)},
		{`9007199254740993`, wire.NewMaybeInt(9007199254740993)},
		{`"5"`, wire.NewMaybeInt(5)},
		{`3.5`, wire.MaybeInt{}},
		{`1e3`, wire.MaybeInt{}},
		{`9223372036854775808`, wire.MaybeInt{}},
		{`"latest"`, wire.MaybeInt{}},
		{`"5 "`, wire.MaybeInt{}},
		{`null`, wire.MaybeInt{}},
		{`true`, wire.MaybeInt{}},
		{`[]`, wire.MaybeInt{}},
		{`{"a":1}`, wire.MaybeInt{}},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			got := wire.NewMaybeInt(42) // a bad value resets it
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatalf("Unmarshal(%s) = %v; MaybeInt never fails", tt.json, err)
			}
			if got != tt.want {
				t.Fatalf("Unmarshal(%s) = %+v, want %+v", tt.json, got, tt.want)
			}
			p := got.Ptr()
			if (p != nil) != got.Set || (p != nil && *p != got.Value) {
				t.Fatalf("Ptr() = %v for %+v", p, got)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var back wire.MaybeInt
			if err := json.Unmarshal(b, &back); err != nil || back != got {
				t.Fatalf("round trip of %+v through %s = %+v, %v", got, b, back, err)
			}
		})
	}
}

// TestOptString: absent (omitzero leaves it out), null and a value each
// survive a round trip.
func TestOptString(t *testing.T) {
	type doc struct {
		Hash wire.OptString `json:"hash,omitzero"`
	}
	tests := []struct {
		name string
		in   wire.OptString
		json string
	}{
		{"absent", wire.OptString{}, `{}`},
		{"null", wire.Opt(""), `{"hash":null}`},
		{"value", wire.Opt("abc"), `{"hash":"abc"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(doc{Hash: tt.in})
			if err != nil || string(b) != tt.json {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.json)
			}
			var back doc
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.Hash.Present != tt.in.Present || (back.Hash.Value == nil) != (tt.in.Value == nil) ||
				(back.Hash.Value != nil && *back.Hash.Value != *tt.in.Value) {
				t.Fatalf("Unmarshal(%s) = %+v, want %+v", b, back.Hash, tt.in)
			}
		})
	}
	var bad doc
	if err := json.Unmarshal([]byte(`{"hash":7}`), &bad); err == nil {
		t.Fatalf("a number decoded as an OptString: %+v", bad.Hash)
	}
}

// TestClip keeps at most hypha.MaxEcho bytes, cut on a character
// boundary, so an echoed value is always valid UTF-8.
func TestClip(t *testing.T) {
	pad := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short", "abc", "abc"},
		{"empty", "", ""},
		{"exactly the limit", pad(80), pad(80)},
		{"one over", pad(81), pad(80) + "…"},
		{"2-byte char across the cut", pad(79) + "é" + "b", pad(79) + "…"},
		{"2-byte char ending at the cut", pad(78) + "é" + "b", pad(78) + "é" + "…"},
		{"3-byte char across the cut", pad(78) + "€" + "b", pad(78) + "…"},
		{"4-byte char across the cut", pad(77) + "🍄" + "b", pad(77) + "…"},
		{"4-byte char ending at the cut", pad(76) + "🍄" + "b", pad(76) + "🍄" + "…"},
		{"all multibyte", strings.Repeat("é", 60), strings.Repeat("é", 40) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hypha.Clip(tt.in)
			if got != tt.want {
				t.Fatalf("Clip = %q (%d bytes), want %q", got, len(got), tt.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("Clip(%q) is not valid UTF-8: %q", tt.in, got)
			}
		})
	}
}
