// Package testlog gives a test a logger that keeps the debug log in memory
// and prints it only if the test fails, so a failure that shows only under
// the whole suite's load comes with its story. HERALD_TEST_DEBUG=1 prints
// the log as it happens instead.
//
// Its place in the whole: test support for the actor shell, in
// docs/architecture.md.
package testlog

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// New returns t's logger.
func New(t testing.TB) *slog.Logger {
	if os.Getenv("HERALD_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("debug log of the failed test:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
