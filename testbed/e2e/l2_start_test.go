package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/netlab"
)

// Speakers that start together, as in a new cluster, answer every ARP
// request at most once while they find each other. A speaker that finds
// no other speaker listed when it starts holds its answers for the start
// hold (--liveness-start-hold); without it each counts itself the only
// live speaker and answers everything until it hears of the others (a
// full run once saw all three answer one request, docs/l2.md).
//
// How long speakers take to hear of each other is the API's latency; to
// make it long enough to see, an admission policy refuses the speakers'
// ConfigurationStates for their first seconds, so no speaker lists
// another. The hold is 8 s here, to outlast that with a margin; the
// test fails with --liveness-start-hold=0.
//
// The client broadcasts a request every 100 ms from before the speakers
// start until 2.5 s after every speaker counts all three alive (the holds
// over); every reply is matched to the request before it.
func TestL2StartTogether(t *testing.T) {
	const hold = 8 * time.Second
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3})
	l.meshConverged(3)
	l.l2Pool4()
	ip := l.service("web", nil, "node1", "node2", "node3")
	l.owner(ip)

	// A new cluster: no speaker runs and none is listed, nor can be yet.
	var wg sync.WaitGroup
	for _, h := range l.lab.Nodes {
		wg.Go(func() { l.speakers[h.Name].stop(10 * time.Second) })
	}
	wg.Wait()
	states := l.mlb.MetallbV1beta1().ConfigurationStates(herald)
	list, err := states.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range list.Items {
		if strings.HasPrefix(cs.Name, "speaker-") {
			if err := states.Delete(t.Context(), cs.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	allow := l.refuseSpeakerStates()

	client := l.clientMAC()
	capture := l.captureL2(l.lab.Client.NS)
	stopRequests := l.broadcastARP(ip, 100*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // requests that nobody answers
	for _, h := range l.lab.Nodes {
		l.launchSpeaker(h, "--liveness-start-hold="+hold.String())
	}
	time.Sleep(3 * time.Second)
	allow()
	for _, h := range l.lab.Nodes {
		l.waitReady(h)
	}
	// Every hold has ended once every speaker counts all three (itself
	// too); 2.5 s more are answered requests.
	l.meshConverged(3)
	time.Sleep(2500 * time.Millisecond)
	sent := stopRequests()
	frames := capture.stop()

	var requests [][]string // per request, the MACs of its replies in order
	for _, f := range frames {
		switch {
		case f.ip != ip:
		case f.kind == "arp-request" && f.src == client && f.dst == "ff:ff:ff:ff:ff:ff":
			// The test's broadcasts only: the client's kernel may probe
			// the MAC it learned for ip before the speakers stopped,
			// with unicast requests (net.ipv4.neigh ucast_solicit, 3 by
			// default); a full run once saw 3 more requests than sent.
			requests = append(requests, nil)
		case f.kind == "arp-reply" && f.dst == client && len(requests) > 0:
			requests[len(requests)-1] = append(requests[len(requests)-1], f.src)
		}
	}
	answered, double, byMAC := 0, []string{}, map[string]int{}
	for i, r := range requests {
		if len(r) > 0 {
			answered++
			byMAC[r[0]]++
		}
		// Two nodes, not two replies: a reply late by over 100 ms
		// lands under the next request, beside that one's own.
		if len(slices.Compact(slices.Sorted(slices.Values(r)))) > 1 {
			double = append(double, fmt.Sprintf("request %d (%d ms in): replies from %v", i, i*100, r))
		}
	}
	t.Logf("%d requests, %d answered, first replies by MAC %v", len(requests), answered, byMAC)
	if len(requests) < 100 || len(requests) > sent {
		t.Fatalf("the capture saw %d requests from the client, which sent %d, one each 100 ms for over 12 s", len(requests), sent)
	}
	if len(double) > 0 {
		t.Errorf("%d requests got replies from more than one node (nodes' MACs: %s):\n%s", len(double), l.macsByNode(), strings.Join(double, "\n"))
	}
	// The holds end: the last requests are answered, by one node.
	if tail := requests[len(requests)-20:]; slices.ContainsFunc(tail, func(r []string) bool { return len(r) != 1 }) {
		t.Errorf("the last 20 requests were not each answered once: %v", tail)
	}
}

// refuseSpeakerStates makes the API refuse to create speakers'
// ConfigurationStates, with a ValidatingAdmissionPolicy, until allow is
// called (or the test ends). It returns once the policy is in force.
func (l *speakerLab) refuseSpeakerStates() (allow func()) {
	t := l.t
	t.Helper()
	l.apply(`
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: refuse-speaker-states}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [metallb.io]
      apiVersions: ["*"]
      operations: [CREATE]
      resources: [configurationstates]
  validations:
  - expression: "!object.metadata.name.startsWith('speaker-')"
    message: the test refuses speakers' ConfigurationStates for now
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: refuse-speaker-states}
spec:
  policyName: refuse-speaker-states
  validationActions: [Deny]
`)
	states := l.mlb.MetallbV1beta1().ConfigurationStates(herald)
	eventually(t, 20*time.Second, "the API refuses speakers' ConfigurationStates", func() (bool, string) {
		_, err := states.Create(t.Context(), &v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Name: "speaker-probe"}}, metav1.CreateOptions{})
		if err == nil {
			_ = states.Delete(t.Context(), "speaker-probe", metav1.DeleteOptions{})
			return false, "created"
		}
		return strings.Contains(err.Error(), "refuses speakers"), err.Error()
	})
	var once sync.Once
	allow = func() {
		once.Do(func() {
			adm := l.admin.AdmissionregistrationV1()
			if err := adm.ValidatingAdmissionPolicyBindings().Delete(context.Background(), "refuse-speaker-states", metav1.DeleteOptions{}); err != nil {
				t.Error(err)
			}
			if err := adm.ValidatingAdmissionPolicies().Delete(context.Background(), "refuse-speaker-states", metav1.DeleteOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(allow)
	return allow
}

// l2Pool4 applies the lab's IPv4 L2 pool, named l2, and an
// L2Advertisement of every pool.
func (l *speakerLab) l2Pool4() {
	l.t.Helper()
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2, namespace: metallb-system}
spec: {addresses: [%s]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
`, l.lab.L2Pool4))
}

// macsByNode names each node's MAC, for failure messages.
func (l *speakerLab) macsByNode() string {
	m := map[string]string{}
	for _, h := range l.lab.Nodes {
		m[h.Name] = l.mac(h.Name)
	}
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, n+"="+m[n])
	}
	return strings.Join(parts, " ")
}

// broadcastARP sends a broadcast ARP request for ip from the client's eth0
// every interval until the returned function is called, which returns how
// many were sent. (arping unicasts to the first node that replies, so a
// second node would never see its requests, and takes whole seconds.)
func (l *speakerLab) broadcastARP(ip netip.Addr, interval time.Duration) (stop func() int) {
	t := l.t
	t.Helper()
	var c *arp.Client
	if err := netlab.RunInNamespace(l.lab.Client.NS, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	}); err != nil {
		t.Fatalf("ARP socket in the client's namespace: %v", err)
	}
	done, finished := make(chan struct{}), make(chan int)
	go func() {
		sent := 0
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if err := c.Request(ip); err == nil {
				sent++
			}
			select {
			case <-done:
				finished <- sent
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	n := 0
	stop = func() int {
		once.Do(func() {
			close(done)
			n = <-finished
			c.Close()
		})
		return n
	}
	t.Cleanup(func() { stop() })
	return stop
}
