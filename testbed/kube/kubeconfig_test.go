package kube

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// A process started while the kubeconfig it was given is rewritten for the
// next process must read a whole kubeconfig, the old one or the new one.
func TestKubeconfigRewriteIsNeverSeenPartial(t *testing.T) {
	c := &ControlPlane{pki: &pki{caPEM: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")}}
	path := filepath.Join(t.TempDir(), "sa.kubeconfig")
	const user = "system:serviceaccount:ns:sa"
	if err := c.writeKubeconfigServer(path, "https://127.0.0.1:1", user, "t0", "ns"); err != nil {
		t.Fatal(err)
	}
	const rewrites = 500
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range rewrites {
			if err := c.writeKubeconfigServer(path, "https://127.0.0.1:1", user, fmt.Sprint("t", i), "ns"); err != nil {
				t.Error(err)
				return
			}
		}
	})
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Fatal("no read overlapped the rewrites")
			}
			t.Logf("%d reads while the kubeconfig was rewritten %d times", reads, rewrites)
			return
		default:
		}
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if a := cfg.AuthInfos[user]; a == nil || a.Token == "" || cfg.Clusters["herald-testbed"] == nil {
			t.Fatalf("read %d saw a partial kubeconfig: %+v", reads, cfg)
		}
		reads++
	}
}
