package search_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hyphateam/hypha/search"
)

func TestTruncateForEmbedding(t *testing.T) {
	const max = search.MaxEmbeddingUnits
	suffix := search.TruncationSuffix
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"short", "hello", "hello"},
		{"exactly_at_the_limit", strings.Repeat("a", max), strings.Repeat("a", max)},
		{"one_over", strings.Repeat("a", max+1), strings.Repeat("a", max) + suffix},
		{"two_byte_runes_count_one_unit", strings.Repeat("é", max+5), strings.Repeat("é", max) + suffix},
		{"three_byte_runes_count_one_unit", strings.Repeat("語", max), strings.Repeat("語", max)},
		{"astral_runes_count_two_units", strings.Repeat("🍄", max/2), strings.Repeat("🍄", max/2)},
		{"astral_over", strings.Repeat("🍄", max/2+1), strings.Repeat("🍄", max/2) + suffix},
		// 7,999 units then a two-unit character: JavaScript would keep half
		// of it; the whole character goes.
		{"astral_across_the_limit", strings.Repeat("a", max-1) + "🍄" + "b", strings.Repeat("a", max-1) + suffix},
		{"astral_exactly_to_the_limit", strings.Repeat("a", max-2) + "🍄", strings.Repeat("a", max-2) + "🍄"},
		{"astral_to_the_limit_then_more", strings.Repeat("a", max-2) + "🍄x", strings.Repeat("a", max-2) + "🍄" + suffix},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := search.TruncateForEmbedding(c.in)
			if got != c.want {
				t.Fatalf("TruncateForEmbedding: got %d units (%d bytes), want %d units (%d bytes)",
					search.UTF16Len(got), len(got), search.UTF16Len(c.want), len(c.want))
			}
			if !utf8.ValidString(got) {
				t.Fatal("result is not valid UTF-8")
			}
			if body, cut := strings.CutSuffix(got, suffix); cut && search.UTF16Len(body) > max {
				t.Fatalf("kept %d units, over the %d limit", search.UTF16Len(body), max)
			}
		})
	}
}

func TestUTF16Len(t *testing.T) {
	for in, want := range map[string]int{"": 0, "abc": 3, "é": 1, "語": 1, "🍄": 2, "a🍄b": 4} {
		if got := search.UTF16Len(in); got != want {
			t.Errorf("UTF16Len(%q) = %d, want %d", in, got, want)
		}
	}
}
