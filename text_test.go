package hypha_test

import (
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
)

func TestValidateKeyText(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // "" when valid
	}{
		{"ascii", "sess-1", ""},
		{"empty", "", ""},
		{"unicode", "日本語-ü", ""},
		{"NUL", "a\x00b", "NUL byte (at byte 1)"},
		{"invalid UTF-8", "a\xffb", "not valid UTF-8"},
		{"lone continuation", "\x80", "not valid UTF-8"},
		{"surrogate half", "\xed\xa0\x80", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := hypha.ValidateKeyText("machine_id", tt.value)
		if tt.want == "" {
			if err != nil || !hypha.ValidText(tt.value) {
				t.Errorf("%s: %v, want valid", tt.name, err)
			}
			continue
		}
		if hypha.ErrorCode(err) != hypha.EInvalid || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "machine_id ") {
			t.Errorf("%s: %v, want an invalid error naming machine_id and containing %q", tt.name, err, tt.want)
		}
		if hypha.ValidText(tt.value) {
			t.Errorf("%s: ValidText = true", tt.name)
		}
	}
}
