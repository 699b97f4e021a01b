package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heraldlb/herald/testbed/netlab"
)

// TestUpStatusDown drives the command as a person does: up leaves a lab
// running after the command has exited, status reports it, and down leaves
// nothing behind.
func TestUpStatusDown(t *testing.T) {
	if !netlab.IsRoot() {
		t.Skip("the lab needs root (network namespaces); run as root")
	}
	bin := filepath.Join(t.TempDir(), "testbed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the command: %v\n%s", err, out)
	}
	stateDir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), stateDirEnv+"="+stateDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("testbed %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		cmd := exec.Command(bin, "down")
		cmd.Env = append(os.Environ(), stateDirEnv+"="+stateDir)
		_ = cmd.Run()
	})

	out := run("up", "--nodes", "2", "--herald", filepath.Join(t.TempDir(), "no-herald"))
	var st labState
	data, err := os.ReadFile(filepath.Join(stateDir, "testbed.json"))
	if err != nil {
		t.Fatalf("up wrote no state file: %v\n%s", err, out)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lab " + st.Lab + " is up", "export KUBECONFIG=" + st.Kubeconfig, "alias kubectl=" + st.Kubectl, "not built yet", "testbed down"} {
		if !strings.Contains(out, want) {
			t.Errorf("up's output lacks %q:\n%s", want, out)
		}
	}
	if fi, err := os.Stat(st.Kubectl); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("the lab's kubectl %q is not an executable: %v", st.Kubectl, err)
	}
	if !alive(st.PID) {
		t.Fatalf("the owner process %d did not outlive `up`", st.PID)
	}
	if len(st.Nodes) != 2 {
		t.Errorf("nodes = %d, want 2", len(st.Nodes))
	}
	if missing := missingNamespaces(t, st.Namespaces); len(missing) > 0 {
		t.Errorf("namespaces %v recorded but not present", missing)
	}

	out = run("status")
	for _, want := range []string{"/readyz ok", st.Nodes[0].Address4, st.Nodes[1].Address4} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	out = run("down")
	if !strings.Contains(out, "nothing of the lab is left") {
		t.Errorf("down says:\n%s", out)
	}
	if alive(st.PID) {
		t.Errorf("the owner process %d survived down", st.PID)
	}
	if left := slices.DeleteFunc(slices.Clone(st.Namespaces), func(ns string) bool {
		return slices.Contains(missingNamespaces(t, st.Namespaces), ns)
	}); len(left) > 0 {
		t.Errorf("namespaces left after down: %v", left)
	}
	if _, err := os.Stat(st.ControlPlaneDir); !os.IsNotExist(err) {
		t.Errorf("control plane directory %s left after down (%v)", st.ControlPlaneDir, err)
	}
}

func missingNamespaces(t *testing.T, names []string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, n := range names {
		if !strings.Contains(string(out), n) {
			missing = append(missing, n)
		}
	}
	return missing
}
