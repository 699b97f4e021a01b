package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Restart safety of the real binary: two `herald controller` processes, the
// leader SIGKILLed with every Service allocated. A killed process cannot
// release its Lease (unlike the in-process test's cancelled replica, which
// only skips the release), so the standby must wait the Lease out, then
// take over within the same bound as TestControllerFailoverChangesNoIP,
// allocate the next free address to a new Service and write none of the
// old ones: same IPs, same resourceVersions.
//
// 200 Services by default, 5,000 with HERALD_SOAK=1.
func TestControllerBinaryKilled(t *testing.T) {
	n, settle := 200, 2*time.Minute
	if soak() {
		n, settle = 5000, 10*time.Minute
	}
	bin := buildHerald(t)
	l := newLab(t)
	kubeconfig := l.controllerKubeconfig()
	procs := map[string]*controllerProcess{}
	for _, id := range []string{"bin-1", "bin-2"} {
		procs[id] = startController(t, bin, kubeconfig, id)
	}
	for _, p := range procs {
		p.waitReady(t)
	}

	holder := func() (string, error) {
		lease, err := l.admin.CoordinationV1().Leases(herald).Get(t.Context(), "herald-controller", metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if h := lease.Spec.HolderIdentity; h != nil {
			return *h, nil
		}
		return "", nil
	}
	// leaderGauge is what the process's /metrics says of its leadership.
	leaderGauge := func(p *controllerProcess) string {
		_, body := p.get("/metrics")
		for line := range strings.Lines(body) {
			if v, ok := strings.CutPrefix(line, "herald_controller_leader "); ok {
				return strings.TrimSpace(v)
			}
		}
		return "absent"
	}
	// One process holds the Lease, says so on /metrics, and the other says
	// it does not lead.
	var leader, standby *controllerProcess
	eventually(t, 30*time.Second, "one of bin-1, bin-2 leads", func() (bool, string) {
		h, err := holder()
		if err != nil {
			return false, err.Error()
		}
		leader = procs[h]
		if leader == nil {
			return false, fmt.Sprintf("Lease held by %q", h)
		}
		standby = procs[map[string]string{"bin-1": "bin-2", "bin-2": "bin-1"}[h]]
		state := fmt.Sprintf("Lease held by %s; herald_controller_leader %s on %s, %s on %s",
			h, leaderGauge(leader), leader.identity, leaderGauge(standby), standby.identity)
		return leaderGauge(leader) == "1" && leaderGauge(standby) == "0", state
	})
	t.Logf("%s leads, %s stands by", leader.identity, standby.identity)

	l.namespace("load", nil)
	l.pool(newPool("big", "10.0.0.0/16"))
	start := time.Now()
	for i := range n {
		l.create(lbService("load", fmt.Sprintf("s%05d", i), nil))
	}
	before := l.allocated(n, settle)
	check := l.checkFailover(before)
	t.Logf("%d Services created and allocated in %s", n, time.Since(start).Round(time.Millisecond))
	if h, err := holder(); err != nil || h != leader.identity {
		t.Fatalf("Lease held by %q (%v) after the allocation, want %s still: leadership moved although both processes were up", h, err, leader.identity)
	}

	killed := time.Now()
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leader.done:
		var exit *exec.ExitError
		if !errors.As(leader.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("%s exited with %v, want killed by SIGKILL", leader.identity, leader.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10s after SIGKILL", leader.identity)
	}

	limit, maxPoll := takeoverBound(binaryLease, binaryRetry)
	eventually(t, limit+30*time.Second, standby.identity+" holds the Lease", func() (bool, string) {
		h, err := holder()
		if err != nil {
			return false, err.Error()
		}
		return h == standby.identity, "held by " + h
	})
	took := time.Since(killed)
	t.Logf("%s took over %s after %s was SIGKILLed (lease %s, retry %s, bound %s)",
		standby.identity, took.Round(time.Millisecond), leader.identity, binaryLease, binaryRetry, limit)
	if took > limit {
		t.Errorf("takeover took %s, want at most %s (lease %s + 2 × %s polling)", took, limit, binaryLease, maxPoll)
	}
	eventually(t, 10*time.Second, standby.identity+" reports herald_controller_leader 1", func() (bool, string) {
		g := leaderGauge(standby)
		return g == "1", g
	})

	check.newLeaderChangedNothing(n)
}
