package logtail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(p, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]string{2: "c\nd", 4: "a\nb\nc\nd", 9: "a\nb\nc\nd"} {
		if got := Lines(p, n); got != want {
			t.Errorf("Lines(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Lines(filepath.Join(t.TempDir(), "missing"), 3); !strings.HasPrefix(got, "(cannot read ") {
		t.Errorf("a missing file gives %q", got)
	}
}
