package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestControllerCommandRefusesBadSettings(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.kubeconfig")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"controller", "--log-level", "loud"}, "--log-level"},
		{[]string{"controller", "--kubeconfig", missing}, "nope.kubeconfig"},
		{[]string{"controller", "extra"}, "unknown command"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: stderr %q does not mention %q", tc.args, errOut.String(), tc.want)
		}
	}
}

func TestControllerCommandFlags(t *testing.T) {
	cmd := newControllerCommand()
	for flag, def := range map[string]string{
		"namespace": "metallb-system", "lease-name": "herald-controller", "lb-class": "",
		"metrics-addr": ":7472", "kubeconfig": "", "lease-duration": "15s",
	} {
		f := cmd.Flags().Lookup(flag)
		if f == nil {
			t.Errorf("no --%s", flag)
			continue
		}
		if f.DefValue != def {
			t.Errorf("--%s defaults to %q, want %q", flag, f.DefValue, def)
		}
	}
}
