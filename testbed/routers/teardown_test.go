package routers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
)

// TestLabCloseKillsRouters: closing the lab without stopping the routers
// (a test that failed half-way) still leaves no daemon, namespace or state
// directory behind.
func TestLabCloseKillsRouters(t *testing.T) {
	t.Parallel()
	lab := netlab.NewForTest(t, netlab.Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pidFiles []string
	for _, kind := range []string{"frr", "bird"} {
		ns := lab.Router.NS
		if kind == "bird" {
			ns = lab.Nodes[0].NS
		}
		cfg := Config{Name: kind, Namespace: ns, Dir: filepath.Join(lab.Dir, kind), ASN: 64512,
			RouterID: lab.Router.LAN4, Neighbors: []Neighbor{{Address: lab.Client.LAN4, ASN: 64513}}}
		var r Router
		var err error
		if kind == "frr" {
			r, err = NewFRR(cfg)
			pidFiles = append(pidFiles, "zebra.pid", "bgpd.pid", "bfdd.pid")
		} else {
			r, err = NewBIRD(cfg)
			pidFiles = append(pidFiles, "bird.pid")
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range pidFiles {
			if !strings.Contains(pidFiles[i], "/") {
				pidFiles[i] = filepath.Join(cfg.Dir, pidFiles[i])
			}
		}
	}
	// A daemon creates its pid file before it writes its pid there (BIRD
	// once it has forked), so an empty file is read again.
	var pids []string
	for _, f := range pidFiles {
		var pid string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if pid = strings.TrimSpace(string(b)); pid != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s stayed empty for 10s", f)
			}
		}
		pids = append(pids, pid)
	}
	nss := lab.Namespaces()
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	for i, pid := range pids {
		if b, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
			t.Errorf("%s (pid %s) still runs after the lab closed", filepath.Base(pidFiles[i]), pid)
		}
	}
	for _, ns := range nss {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	if _, err := os.Stat(lab.Dir); err == nil {
		t.Errorf("state directory %s left behind", lab.Dir)
	}
}
