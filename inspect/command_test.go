package inspect

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUsageErrorsExitTwo: kubectl's convention, a mistake in the command
// line exits 2, before any cluster is contacted (the kubeconfig here
// does not exist, so reaching for the cluster would exit 1).
func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"explain", "pod/x"},
		{"explain"},
		{"status", "--no-such-flag"},
		{"explain", "svc/x", "-o", "toml"},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), Env{Stdout: &out, Stderr: &errOut},
			append(args, "--kubeconfig", "/nonexistent/kubeconfig"))
		if code != 2 {
			t.Errorf("kubectl herald %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), code, errOut.String())
		}
	}
}
