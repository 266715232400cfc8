package hypha_test

import (
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
)

// The derivation is part of the data: a change would move every legacy
// row's later upserts into another project. These values were computed
// independently (Python hashlib) from the documented formula.
func TestLegacyProjectID_Golden(t *testing.T) {
	tests := []struct{ grove, root, want string }{
		{"default", "/home/dana/src/webshop", "proj_a1deca80b5fbad721aada667eaf5f223"},
		{"default", "/home/dana/src/webshop/", "proj_a1deca80b5fbad721aada667eaf5f223"},
		{"default", "", "proj_cd81ac35e8c327d3f643763b87ab93c9"},
		{"default", " \t", "proj_cd81ac35e8c327d3f643763b87ab93c9"},
	}
	for _, tt := range tests {
		if got := hypha.LegacyProjectID(tt.grove, tt.root); got != tt.want {
			t.Errorf("LegacyProjectID(%q, %q) = %s, want %s", tt.grove, tt.root, got, tt.want)
		}
	}
	if got := hypha.DefaultProjectID("default"); got != "proj_cd81ac35e8c327d3f643763b87ab93c9" {
		t.Errorf("DefaultProjectID = %s", got)
	}
	for _, id := range []string{hypha.LegacyProjectID("g", "/x"), hypha.DefaultProjectID("g")} {
		if !hypha.ProjectIDPattern.MatchString(id) {
			t.Errorf("%s is not a valid project id", id)
		}
	}
}

func TestLegacyProjectID_DistinctInputs(t *testing.T) {
	ids := map[string]string{}
	for _, in := range [][2]string{
		{"a", "/x"}, {"b", "/x"}, {"a", "/y"}, {"a", ""}, {"b", ""},
		{"a\x00", "/x"}, {"a", "\x00/x"}, // separators cannot be shifted
		{"a", "/"}, {"a", "x"},
	} {
		id := hypha.LegacyProjectID(in[0], in[1])
		if prev, ok := ids[id]; ok {
			t.Errorf("%q and %q derive the same project %s", prev, in, id)
		}
		ids[id] = in[0] + "|" + in[1]
	}
}

func TestNormalizeProjectRootAndName(t *testing.T) {
	long := "/src/" + strings.Repeat("é", 150) // 300 bytes in the last element
	tests := []struct{ root, norm, name string }{
		{"", "", hypha.DefaultProjectName},
		{"   ", "", hypha.DefaultProjectName},
		{"/home/x/repo", "/home/x/repo", "repo"},
		{"/home/x/repo/", "/home/x/repo", "repo"},
		{" /home/x/repo// ", "/home/x/repo", "repo"},
		{`C:\Users\x\repo`, "C:/Users/x/repo", "repo"},
		{`C:\Users\x\repo\`, "C:/Users/x/repo", "repo"},
		{`\\server\share\repo`, "//server/share/repo", "repo"},
		{"/", "/", "/"},
		{"///", "/", "/"},
		{`C:\`, "C:", "C:"},
		{"repo", "repo", "repo"},
		{"/a/../b", "/a/../b", "b"},
		{long, long, strings.Repeat("é", 100)},
	}
	for _, tt := range tests {
		if got := hypha.NormalizeProjectRoot(tt.root); got != tt.norm {
			t.Errorf("NormalizeProjectRoot(%q) = %q, want %q", tt.root, got, tt.norm)
		}
		if got := hypha.LegacyProjectName(tt.root); got != tt.name {
			t.Errorf("LegacyProjectName(%q) = %q, want %q", tt.root, got, tt.name)
		}
	}
}
