// Package configtest reads the conventions of config's test data, so the
// compiler's tests and the lab's webhook tests read the same files the same
// way. A testdata file starts with "# key: value" comment lines, e.g.
//
//	# is: ErrKeepaliveTime
//	# expect: BGPPeer metallb-system/p: spec.keepaliveTime: "9s": ...
//
// Its place in the whole: test support for the functional core, in
// docs/architecture.md.
package configtest

import (
	"bufio"
	"os"
	"strings"
)

// Header returns the "# key: value" lines at the top of the file at path,
// up to the first line that is not such a comment.
func Header(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# ")
		if !ok {
			break
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}
