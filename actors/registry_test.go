package actors

import (
	"log/slog"
	"runtime"
	"testing"
)

// An actor system costs little memory before it runs anything: its
// process registry holds one map per bucket, not 32.
func TestNewSystemIsSmall(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sys := NewSystem(slog.New(slog.DiscardHandler))
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(sys)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("a new actor system holds %d KiB of heap, want under 1 MiB (protoactor's registry with 32 shards per bucket held about 3 MiB)", grew>>10)
	} else {
		t.Logf("a new actor system holds %d KiB of heap", grew>>10)
	}
}
