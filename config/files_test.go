package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/configtest"
	"github.com/heraldlb/herald/config/manifest"
)

// sentinels maps the names used in testdata "# is:" headers.
var sentinels = map[string]error{
	"ErrInvalidName": config.ErrInvalidName, "ErrDuplicateName": config.ErrDuplicateName,
	"ErrRequired": config.ErrRequired, "ErrDuplicateEntry": config.ErrDuplicateEntry,
	"ErrInvalidValue": config.ErrInvalidValue, "ErrOutOfRange": config.ErrOutOfRange,
	"ErrMutuallyExclusive": config.ErrMutuallyExclusive, "ErrInvalidAddress": config.ErrInvalidAddress,
	"ErrRangeReversed": config.ErrRangeReversed, "ErrMixedFamily": config.ErrMixedFamily,
	"ErrOverlap": config.ErrOverlap, "ErrInvalidSelector": config.ErrInvalidSelector,
	"ErrUnknownPool": config.ErrUnknownPool, "ErrNoPoolSelected": config.ErrNoPoolSelected,
	"ErrUnknownPeer": config.ErrUnknownPeer, "ErrUnknownBFDProfile": config.ErrUnknownBFDProfile,
	"ErrUnknownSecret": config.ErrUnknownSecret, "ErrSecretType": config.ErrSecretType,
	"ErrSecretKey": config.ErrSecretKey, "ErrInvalidPassword": config.ErrInvalidPassword,
	"ErrHoldTime": config.ErrHoldTime, "ErrKeepaliveTime": config.ErrKeepaliveTime,
	"ErrConnectTime": config.ErrConnectTime, "ErrInvalidCommunity": config.ErrInvalidCommunity,
	"ErrUnknownCommunity": config.ErrUnknownCommunity, "ErrAggregationLength": config.ErrAggregationLength,
	"ErrLocalPrefConflict": config.ErrLocalPrefConflict, "ErrMyASNConflict": config.ErrMyASNConflict,
	"ErrDuplicatePeerSession": config.ErrDuplicatePeerSession, "ErrUnknownField": config.ErrUnknownField,
}

// load decodes files as `herald validate` does and compiles them,
// returning decoding and compiling errors together.
func load(t *testing.T, paths ...string) ([]error, config.Result) {
	t.Helper()
	set := &manifest.Set{DefaultNamespace: "metallb-system"}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		set.Add(p, data)
	}
	res := config.Analyze(set.Input)
	errs := append([]error(nil), set.Errors...)
	for _, e := range res.Errors {
		errs = append(errs, e)
	}
	return errs, res
}

// header reads the "# key: value" lines at the top of a testdata file.
func header(t *testing.T, path string) map[string]string {
	t.Helper()
	h, err := configtest.Header(path)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestInvalidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 30 {
		t.Fatalf("%d invalid cases, want at least 30", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			h := header(t, f)
			if h["expect"] == "" {
				t.Fatal("no '# expect:' header")
			}
			errs, _ := load(t, f)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff([]string{h["expect"]}, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			sentinel, ok := sentinels[h["is"]]
			if !ok {
				t.Fatalf("unknown sentinel %q in '# is:' header", h["is"])
			}
			if len(errs) == 1 && !errors.Is(errs[0], sentinel) {
				t.Errorf("error %v is not %s", errs[0], h["is"])
			}
		})
	}
}

func TestExamplesCompile(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 15 {
		t.Fatalf("%d examples, want at least 15", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			errs, res := load(t, f)
			for _, e := range errs {
				t.Error(e)
			}
			if len(errs) == 0 && res.Config == nil {
				t.Error("no Config and no error")
			}
		})
	}
}
