package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/actors/speaker"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/labtest"
	"github.com/heraldlb/herald/testbed/netlab"
)

// The real `herald speaker` in a node's network namespace, as a DaemonSet
// pod with hostNetwork would run: it reaches the API server (through a
// relay on the node's loopback) under the chart's herald-speaker
// ServiceAccount and RBAC, reports ready, keeps its ConfigurationState, and
// exits 0 within 2 s of SIGTERM.
func TestSpeakerBinary(t *testing.T) {
	bin := buildHerald(t)
	env := labtest.Start(t, labtest.Options{Nodes: 1, ControlPlane: true})
	cp, node := env.ControlPlane, env.Lab.Nodes[0]
	ctx := t.Context()
	_, err := cp.ApplyYAML(ctx, chartRBAC(t))
	if err != nil {
		t.Fatalf("applying the chart's RBAC: %v", err)
	}
	admin, err := versioned.NewForConfig(cp.AdminRESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.MetallbV1beta1().IPAddressPools(herald).Create(ctx, newPool("p", "192.0.2.0/28"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	const relayAddr, metricsAddr = "127.0.0.1:6443", "127.0.0.1:7472"
	var ln net.Listener
	if err := netlab.RunInNamespace(node.NS, func() (err error) { ln, err = net.Listen("tcp", relayAddr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Relay(ln))
	kc, err := cp.KubeconfigAt(ctx, herald, "herald-speaker", "https://"+relayAddr)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "speaker.log")
	env.AddLog("speaker", logPath)
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// ip netns exec execs the speaker itself: the signal reaches it, and
	// Wait sees its own exit status.
	cmd := exec.Command("ip", "netns", "exec", node.NS, bin, "speaker", "--kubeconfig", kc,
		"--namespace", herald, "--node-name", node.Name, "--metrics-addr", metricsAddr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	eventually(t, time.Minute, "the speaker reports ready", func() (bool, string) {
		select {
		case err := <-exited:
			t.Fatalf("the speaker exited: %v", err)
		default:
		}
		body, err := env.Lab.HTTPGet(ctx, node.NS, "http://"+metricsAddr+"/readyz")
		if err != nil {
			return false, err.Error()
		}
		return body == "ok", body
	})
	eventually(t, 30*time.Second, "ConfigurationState "+speaker.ConfigurationStateName(node.Name)+" Valid", func() (bool, string) {
		st, err := admin.MetallbV1beta1().ConfigurationStates(herald).Get(ctx, speaker.ConfigurationStateName(node.Name), metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return st.Status.Result == v1beta1.ConfigurationValid, string(st.Status.Result)
	})
	metrics, err := env.Lab.HTTPGet(ctx, node.NS, "http://"+metricsAddr+"/metrics")
	if err != nil || !strings.Contains(metrics, "herald_speaker_ready 1") || !strings.Contains(metrics, "herald_config_loaded 1") {
		t.Errorf("/metrics (%v) lacks herald_speaker_ready 1 or herald_config_loaded 1", err)
	}

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		took := time.Since(sent)
		t.Logf("the speaker exited %s after SIGTERM", took.Round(time.Millisecond))
		if err != nil {
			t.Errorf("the speaker exited with %v, want status 0", err)
		}
		if took > 2*time.Second {
			t.Errorf("the speaker took %s to exit after SIGTERM, want at most 2s", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the speaker still runs 10s after SIGTERM")
	}
}
