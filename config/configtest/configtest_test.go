package configtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "case.yaml")
	data := "# A description without a colon-space pair\n# is: ErrX\n# expect: Kind ns/n: spec.f: bad: really\napiVersion: v1\n# not: header\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Header(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"is": "ErrX", "expect": "Kind ns/n: spec.f: bad: really"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Header (-want +got):\n%s", d)
	}
	if _, err := Header(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Header of a missing file: no error")
	}
}
