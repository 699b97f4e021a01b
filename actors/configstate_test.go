package actors

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
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
	if got := ConfigStatus(nil, nil); got.Result != v1beta1.ConfigurationValid || got.ErrorSummary != "" || got.WarningSummary != "" {
		t.Errorf("ConfigStatus(nil, nil) = %+v", got)
	}
	ws := []config.Warning{
		{Kind: "IPAddressPool", Namespace: "ns", Name: "p", Message: "no advertisement selects this pool", Whole: true},
		{Kind: "BGPPeer", Namespace: "ns", Name: "old", Field: "apiVersion", Message: "deprecated"},
	}
	if got := ConfigStatus(nil, ws); got.WarningSummary != "IPAddressPool ns/p: no advertisement selects this pool\nBGPPeer ns/old: apiVersion: deprecated" {
		t.Errorf("warnings summarised as %q", got.WarningSummary)
	}
	long := errors.New(strings.Repeat("é", maxErrorSummary))
	got := ConfigStatus(long, nil)
	if got.Result != v1beta1.ConfigurationInvalid || len(got.ErrorSummary) > maxErrorSummary+3 || !utf8.ValidString(got.ErrorSummary) {
		t.Errorf("ConfigStatus(long) = %s, %d bytes", got.Result, len(got.ErrorSummary))
	}
}
