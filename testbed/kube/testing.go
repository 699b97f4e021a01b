package kube

import (
	"context"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/internal/logtail"
)

// StartForTest starts a control plane for t (see Start) and registers
// Stop with t.Cleanup, which also runs when the test fails or panics. If
// opts.Logf is nil, t.Logf is used. When the test has failed, the tail of
// the kube-apiserver log is logged before the directory is removed. The
// first call on a machine builds the binaries (about 5 minutes).
func StartForTest(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver log (tail):\n%s", logtail.Lines(c.APIServerLog(), 40))
		}
		c.Stop()
	})
	return c
}
