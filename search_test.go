package hypha_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hyphateam/hypha"
)

func TestNewSearchResponse(t *testing.T) {
	res := func(machines ...string) []hypha.SearchResult {
		var out []hypha.SearchResult
		for i, m := range machines {
			out = append(out, hypha.SearchResult{ID: string(rune('a' + i)), MachineID: m})
		}
		return out
	}
	tests := []struct {
		name    string
		results []hypha.SearchResult
		want    []string
	}{
		{"none", nil, []string{}},
		{"one machine", res("m1", "m1"), []string{"m1"}},
		{"first appearance order", res("m2", "m1", "m2", "m3", "m1"), []string{"m2", "m1", "m3"}},
	}
	for _, tt := range tests {
		got := hypha.NewSearchResponse(tt.results)
		if !reflect.DeepEqual(got.MachineIDs, tt.want) || len(got.Results) != len(tt.results) {
			t.Errorf("%s: machine_ids %q, %d results; want %q", tt.name, got.MachineIDs, len(got.Results), tt.want)
		}
	}
	b, err := json.Marshal(hypha.NewSearchResponse(nil))
	if err != nil || string(b) != `{"results":[],"machine_ids":[]}` {
		t.Fatalf("empty answer = %s, %v; want empty arrays, never null", b, err)
	}
}
