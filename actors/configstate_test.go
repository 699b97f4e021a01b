package actors

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldlb/herald/api/v1beta1"
)

func TestTruncateKeepsCharactersWhole(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc..."},
		{"aé", 2, "a..."}, // é is two bytes: cut before it, not inside
		{"日本語", 5, "日..."},
		{"日本語", 6, "日本..."},
	} {
		got := truncate(tc.s, tc.n)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestConfigStatus(t *testing.T) {
	if got := ConfigStatus(nil); got.Result != v1beta1.ConfigurationValid || got.ErrorSummary != "" {
		t.Errorf("ConfigStatus(nil) = %+v", got)
	}
	long := errors.New(strings.Repeat("é", maxErrorSummary))
	got := ConfigStatus(long)
	if got.Result != v1beta1.ConfigurationInvalid || len(got.ErrorSummary) > maxErrorSummary+3 || !utf8.ValidString(got.ErrorSummary) {
		t.Errorf("ConfigStatus(long) = %s, %d bytes", got.Result, len(got.ErrorSummary))
	}
}
