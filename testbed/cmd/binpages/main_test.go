package main

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The test binary's own text is running, so some of it is in memory, and
// nothing outside its mappings is counted.
func TestPresentPagesOfThisProcess(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	exe, err := os.Readlink(filepath.Join("/proc", pid, "exe"))
	if err != nil {
		t.Skip("no /proc:", err)
	}
	present, err := presentPages(pid, exe)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text := f.Section(".text")
	if text == nil {
		t.Fatal("no .text section")
	}
	inText := 0
	for a := range present {
		if a >= text.Addr&^(pageSize-1) && a < text.Addr+text.Size {
			inText++
		}
	}
	if inText == 0 {
		t.Fatalf("no page of the running .text is present (%d pages present in all)", len(present))
	}
	if limit := int(text.Size/pageSize) + 1; inText > limit {
		t.Fatalf("%d .text pages present, more than its %d", inText, limit)
	}
}
