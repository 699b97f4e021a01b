// Package logtail reads the end of the lab's log files, for error messages
// and failure reports: the last lines are where a daemon says why it died.
package logtail

import (
	"fmt"
	"os"
	"strings"
)

// Lines returns the last n lines of the file at path, or a note saying why
// it could not be read (a report should say so rather than fail).
func Lines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
