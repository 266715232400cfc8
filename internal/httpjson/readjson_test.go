package httpjson_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/httpjson"
	"github.com/hyphateam/hypha/wire"
)

// shouting is a field with its own check that fails with a coded error.
type shouting string

var errShouting = hypha.Errorf(hypha.EConflict, "no shouting")

func (s *shouting) UnmarshalJSON(b []byte) error {
	if strings.ToUpper(string(b)) == string(b) {
		return errShouting
	}
	*s = shouting(b)
	return nil
}

type inner struct {
	N int `json:"n"`
}

type body struct {
	Name    string   `json:"name"`
	Count   int      `json:"count"`
	Ratio   float64  `json:"ratio"`
	Version wire.Int `json:"version"`
	Inner   inner    `json:"inner"`
	List    []inner  `json:"list"`
	Voice   shouting `json:"voice"`
}

// TestReadJSON: what a request body decodes to, and the coded error of
// each way it can be wrong.
func TestReadJSON(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		allowEmpty bool
		limit      int64 // http.MaxBytesReader limit; 0: none
		wantCode   string
		wantMsg    string // a part of the message
		want       body   // when wantCode is ""
	}{
		{name: "object", body: `{"name":"a","count":2,"version":"3","inner":{"n":1}}`,
			want: body{Name: "a", Count: 2, Version: wire.NewInt(3), Inner: inner{N: 1}}},
		{name: "trailing whitespace", body: "{\"name\":\"a\"} \n\t", want: body{Name: "a"}},
		{name: "unknown fields are ignored", body: `{"name":"a","extra":[1,2]}`, want: body{Name: "a"}},
		{name: "empty allowed", body: "", allowEmpty: true},
		{name: "blank allowed", body: " \n ", allowEmpty: true},
		{name: "empty refused", body: "", wantCode: hypha.EBadJSON, wantMsg: "body is empty"},
		{name: "blank refused", body: "  ", wantCode: hypha.EBadJSON, wantMsg: "body is empty"},
		{name: "malformed", body: `{"name":`, wantCode: hypha.EBadJSON, wantMsg: "not valid JSON"},
		{name: "not JSON", body: `name=a`, wantCode: hypha.EBadJSON, wantMsg: "not valid JSON"},
		{name: "trailing garbage", body: `{"name":"a"} x`, wantCode: hypha.EBadJSON, wantMsg: "data after"},
		{name: "second value", body: `{"name":"a"}{"name":"b"}`, wantCode: hypha.EBadJSON, wantMsg: "data after"},
		{name: "trailing garbage though empty allowed", body: `{} ]`, allowEmpty: true, wantCode: hypha.EBadJSON, wantMsg: "data after"},
		{name: "string for an int", body: `{"count":"two"}`, wantCode: hypha.EInvalid, wantMsg: "field count: expected an integer, got JSON string"},
		{name: "fraction for an int", body: `{"count":2.5}`, wantCode: hypha.EInvalid, wantMsg: "field count: expected an integer, got JSON number 2.5"},
		{name: "number for a string", body: `{"name":7}`, wantCode: hypha.EInvalid, wantMsg: "field name: expected a string, got JSON number"},
		{name: "string for a float", body: `{"ratio":"x"}`, wantCode: hypha.EInvalid, wantMsg: "field ratio: expected a number"},
		{name: "nested field", body: `{"inner":{"n":true}}`, wantCode: hypha.EInvalid, wantMsg: "field inner.n: expected an integer, got JSON bool"},
		{name: "field in an array", body: `{"list":[{"n":1},{"n":"x"}]}`, wantCode: hypha.EInvalid, wantMsg: "field list.n:"},
		{name: "array for an object", body: `[1]`, wantCode: hypha.EInvalid, wantMsg: "expected an object, got JSON array"},
		{name: "wire.Int fraction names the field", body: `{"version":3.5}`, wantCode: hypha.EInvalid,
			wantMsg: "field version: expected an integer, got JSON number 3.5"},
		{name: "wire.Int garbage names the field", body: `{"version":"three"}`, wantCode: hypha.EInvalid,
			wantMsg: `field version: expected an integer, got JSON string "three"`},
		{name: "wire.Int overflow names the field", body: `{"version":4294967296}`, wantCode: hypha.EInvalid,
			wantMsg: "field version: expected an integer, got JSON number 4294967296 (out of range)"},
		{name: "over the limit", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, limit: 64, wantCode: hypha.ETooLarge, wantMsg: "64-byte limit"},
		{name: "over the limit after the value", body: `{"name":"a"}` + strings.Repeat(" ", 100), limit: 64, wantCode: hypha.ETooLarge, wantMsg: "64-byte limit"},
		{name: "at the limit", body: `{"name":"a"}`, limit: 12, want: body{Name: "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(tt.body))
			if tt.limit > 0 {
				r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, tt.limit)
			}
			var got body
			err := httpjson.ReadJSON(r, &got, tt.allowEmpty)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("ReadJSON(%q) = %v", tt.body, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ReadJSON(%q) decoded %+v, want %+v", tt.body, got, tt.want)
				}
				return
			}
			var he *hypha.Error
			if !errors.As(err, &he) {
				t.Fatalf("ReadJSON(%q) = %v (%T), want a *hypha.Error", tt.body, err, err)
			}
			if he.Code != tt.wantCode || !strings.Contains(he.Message, tt.wantMsg) {
				t.Fatalf("ReadJSON(%q) = %s %q, want %s containing %q", tt.body, he.Code, he.Message, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestReadJSON_CodedErrorPassesThrough: a field's own check that fails with
// a *hypha.Error keeps its code and message.
func TestReadJSON_CodedErrorPassesThrough(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{"voice":"LOUD"}`))
	var got body
	err := httpjson.ReadJSON(r, &got, false)
	if err != errShouting {
		t.Fatalf("ReadJSON = %v, want the field's own error %v", err, errShouting)
	}
}
