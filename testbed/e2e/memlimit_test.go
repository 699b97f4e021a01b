package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The soft memory limit read from a real cgroup: `herald controller` runs in
// a memory cgroup of its own, with that group mounted where a container
// sees its own (a mount namespace, as a container runtime gives it), and
// says what it read from the kernel's own file. The unit tests in
// cmd/herald cover the parsing; this one covers the files and formats the
// kernel writes (v1's "unlimited" is a number, v2's is "max").
func TestMemoryLimitFromARealCgroup(t *testing.T) {
	bin := buildHerald(t)
	const limit = 128 << 20
	for _, tc := range []struct {
		name  string
		limit int64 // 0: the group has no limit
		want  string
	}{
		{"a 128Mi limit gives the runtime 90% of it", limit,
			fmt.Sprintf("containerLimitBytes=%d goMemoryLimitBytes=%d", limit, limit*9/10)},
		{"a group without a limit sets none", 0, "the container has no memory limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group, mountAt, limitFile := memoryCgroup(t)
			if tc.limit > 0 {
				if err := os.WriteFile(filepath.Join(group, limitFile), fmt.Appendf(nil, "%d", tc.limit), 0o644); err != nil {
					t.Fatalf("set the group's limit: %v", err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			// The shell joins the group before it mounts the group over
			// the place the binary reads, then becomes the binary. The
			// kubeconfig does not exist, so the controller stops right
			// after it sets its memory limit.
			script := fmt.Sprintf(`echo $$ > %s/cgroup.procs && mount --bind %s %s && exec %s controller --log-format text --kubeconfig /nonexistent/kubeconfig --metrics-addr ""`,
				group, group, mountAt, bin)
			cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
			cmd.Env = withoutEnv(os.Environ(), "GOMEMLIMIT")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || ctx.Err() != nil {
				t.Fatalf("herald controller should stop with an error (no kubeconfig): %v\n%s", err, out)
			}
			line := ""
			for l := range strings.Lines(string(out)) {
				if strings.Contains(l, "memory limit") {
					line = l
				}
			}
			if !strings.Contains(line, tc.want) {
				t.Fatalf("the memory-limit log line is %q, want it to say %q; all output:\n%s", line, tc.want, out)
			}
		})
	}
}

// memoryCgroup makes a memory cgroup for one test and removes it at the
// end. It returns the group's directory, where a container sees its own
// group (the directory to mount it over), and the name of its limit file.
func memoryCgroup(t *testing.T) (group, mountAt, limitFile string) {
	t.Helper()
	name := fmt.Sprintf("herald-e2e-memlimit-%d", os.Getpid())
	switch {
	case fileExists("/sys/fs/cgroup/cgroup.controllers"): // v2
		root := "/sys/fs/cgroup"
		b, err := os.ReadFile(filepath.Join(root, "cgroup.subtree_control"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "memory") {
			if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+memory"), 0o644); err != nil {
				t.Fatalf("enable the memory controller for child groups: %v", err)
			}
		}
		group, mountAt, limitFile = filepath.Join(root, name), root, "memory.max"
	case fileExists("/sys/fs/cgroup/memory/memory.limit_in_bytes"): // v1
		mountAt = "/sys/fs/cgroup/memory"
		group, limitFile = filepath.Join(mountAt, name), "memory.limit_in_bytes"
	default:
		t.Fatal("this machine has no memory cgroup controller (neither v2 nor v1 mounted under /sys/fs/cgroup)")
	}
	if err := os.Mkdir(group, 0o755); err != nil {
		t.Fatalf("make the test's cgroup: %v", err)
	}
	t.Cleanup(func() {
		// The binary has exited, so the group is empty and can go.
		if err := os.Remove(group); err != nil {
			t.Errorf("remove the test's cgroup: %v", err)
		}
	})
	return group, mountAt, limitFile
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// withoutEnv is env without the variable name.
func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
