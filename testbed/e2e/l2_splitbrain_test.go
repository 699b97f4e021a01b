package e2e

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/netlab"
)

// Split brain (docs/l2.md): the speakers' liveness mesh is cut while the
// segment to the client stays whole.
//
//   - Between two speakers only: each sees the other Down, the third sees
//     both Up; the votes tie, ties keep a speaker alive, and all three
//     still agree on the alive set, so each IP keeps exactly one answerer.
//     The capture on the client counts every ARP reply to every request
//     for the whole cut.
//   - Between the owner and everyone: the owner sees none of its peers,
//     counts itself dead and stops answering; the others count it dead and
//     one of them takes over.
func TestL2SplitBrain(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3})
	l.l2Pool4()
	ip := l.service("web", nil, "node1", "node2", "node3")
	clientMAC := l.clientMAC()
	byMAC := map[string]string{}
	for _, n := range l.lab.Nodes {
		byMAC[l.mac(n.Name)] = n.Name
	}

	t.Run("mesh cut between two speakers", func(t *testing.T) {
		sl := l.sub(t)
		owner := sl.arpOwner(ip)
		sl.clientUses(ip, owner)
		other := otherNode(sl, owner, "")
		capture := sl.captureL2("client")
		restore := sl.cutMesh(owner, other)
		// The cut is real: each of the two sees its session to the
		// other go down, while both stay Up with the third.
		sl.meshSession(owner, other, false)
		sl.meshSession(other, owner, false)
		third := otherNode(sl, owner, other)
		sl.meshSession(owner, third, true)
		sl.meshSession(other, third, true)
		// Well past the mesh's 3 s grace: ARP requests every 100 ms.
		requests := sl.arpFor(ip, 6*time.Second)
		for _, n := range []string{owner, other, third} {
			if alive := sl.speakersAlive(n); alive != 3 {
				t.Errorf("%s counts %d speakers alive during the cut, want 3 (the votes about %s and %s tie)", n, alive, owner, other)
			}
		}
		restore()
		a := answersFor(capture.stop(), ip, clientMAC)
		t.Logf("during the cut (%d arping requests): %s", requests, a)
		total := 0
		for _, n := range a.answers {
			total += n
		}
		if len(a.answers) != 1 || a.answers[sl.mac(owner)] == 0 {
			t.Errorf("answers came from %v, want only %s (%s)", a.answers, owner, sl.mac(owner))
		}
		if total > a.requests {
			t.Errorf("%d answers to %d requests: want at most one each", total, a.requests)
		}
		if a.requests < requests*9/10 || total < a.requests*9/10 {
			t.Errorf("the capture saw %d requests of %d arping sent, and %d answers: want (nearly) every request seen and answered", a.requests, requests, total)
		}
		if len(a.announced) != 0 {
			t.Errorf("gratuitous announcements during the cut (an owner change): %v", a.announced)
		}
	})

	t.Run("owner cut off from the whole mesh", func(t *testing.T) {
		sl := l.sub(t)
		owner := sl.arpOwner(ip)
		sl.clientUses(ip, owner)
		var others []string
		for _, n := range sl.lab.Nodes {
			if n.Name != owner {
				others = append(others, n.Name)
			}
		}
		restore := sl.cutMesh(owner, others...)
		// It stands down and another takes over: exactly one answer per
		// request, from a node other than the old owner, and the client
		// follows.
		var now string
		eventually(t, 20*time.Second, "exactly one node other than "+owner+" answering ARP", func() (bool, string) {
			n, macs := sl.arpReplies(ip)
			if n != 3 || len(macs) != 1 {
				return false, fmt.Sprintf("%d replies from %v", n, macs)
			}
			for mac := range macs {
				now = byMAC[mac]
			}
			return now != owner && now != "", fmt.Sprintf("replies from %v", macs)
		})
		sl.clientUses(ip, now)
		// From then on the old owner stays silent while it is cut off.
		capture := sl.captureL2("client")
		sl.arpFor(ip, 3*time.Second)
		a := answersFor(capture.stop(), ip, clientMAC)
		t.Logf("after the takeover by %s: %s", now, a)
		if n := a.answers[sl.mac(owner)] + a.announced[sl.mac(owner)]; n != 0 {
			t.Errorf("%s, cut off from the mesh, still answered %d times: %s", owner, n, a)
		}
		if len(a.answers) != 1 {
			t.Errorf("answers from %v, want only %s", a.answers, now)
		}
		t.Logf("%s, isolated, counts %d speakers alive (itself not among them)", owner, sl.speakersAlive(owner))
		restore()
		sl.settle(ip)
	})
}

// otherNode is a node that is neither a nor b.
func otherNode(l *speakerLab, a, b string) string {
	for _, n := range l.lab.Nodes {
		if n.Name != a && n.Name != b {
			return n.Name
		}
	}
	l.t.Fatalf("no node other than %s and %s", a, b)
	return ""
}

// cutMesh drops the liveness mesh's traffic (UDP to ports 4785, BFD, and
// 4786, statuses, both ways) between node and each of others, in node's
// namespace, with nftables; restore (also run when the test ends) lifts
// the cut.
func (l *speakerLab) cutMesh(node string, others ...string) (restore func()) {
	t := l.t
	t.Helper()
	h, err := l.lab.Host(node)
	if err != nil {
		t.Fatal(err)
	}
	rules := []string{
		"add table inet herald-meshcut",
		"add chain inet herald-meshcut in { type filter hook input priority 0 ; }",
		"add chain inet herald-meshcut out { type filter hook output priority 0 ; }",
	}
	for _, o := range others {
		oh, err := l.lab.Host(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []netip.Addr{oh.LAN4, oh.LAN6} {
			fam := "ip"
			if a.Is6() {
				fam = "ip6"
			}
			rules = append(rules,
				fmt.Sprintf("add rule inet herald-meshcut in %s saddr %s udp dport { 4785, 4786 } drop", fam, a),
				fmt.Sprintf("add rule inet herald-meshcut out %s daddr %s udp dport { 4785, 4786 } drop", fam, a))
		}
	}
	for _, r := range rules {
		if out, err := l.lab.Exec(t.Context(), h.NS, "nft", r); err != nil {
			t.Fatalf("nft %s: %v\n%s", r, err, out)
		}
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		// Not t.Context(): a cleanup runs after it is cancelled.
		if out, err := l.lab.Exec(context.Background(), h.NS, "nft", "delete table inet herald-meshcut"); err != nil {
			t.Errorf("lifting the mesh cut on %s: %v\n%s", node, err, out)
		}
	}
	t.Cleanup(restore)
	return restore
}

// meshSession waits until node's mesh BFD session to peer is Up (or not).
func (l *speakerLab) meshSession(node, peer string, up bool) {
	l.t.Helper()
	want := "0"
	if up {
		want = "1"
	}
	re := regexp.MustCompile(`(?m)^herald_bfd_session_up\{kind="mesh",name="` + peer + `",peer="[^"]*"\} ([01])$`)
	eventually(l.t, 10*time.Second, fmt.Sprintf("%s's mesh session to %s up=%v", node, peer, up), func() (bool, string) {
		m := re.FindStringSubmatch(l.metrics(node))
		if m == nil {
			return false, "no session"
		}
		return m[1] == want, "up " + m[1]
	})
}

// speakersAlive is node's herald_liveness_speakers_alive (-1: unknown).
func (l *speakerLab) speakersAlive(node string) int {
	m := regexp.MustCompile(`(?m)^herald_liveness_speakers_alive ([0-9]+)$`).FindStringSubmatch(l.metrics(node))
	if m == nil {
		return -1
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// metrics is node's speaker's /metrics page.
func (l *speakerLab) metrics(node string) string {
	h, err := l.lab.Host(node)
	if err != nil {
		l.t.Fatal(err)
	}
	resp, err := netlab.HTTPClient(h.NS, 2*time.Second).Get("http://" + speakerMetricsAddr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// arpFor sends ARP requests for ip from the client, one arping after
// another (each waits up to a second for its reply), for d, and returns how
// many it sent.
func (l *speakerLab) arpFor(ip netip.Addr, d time.Duration) int {
	l.t.Helper()
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		_, _ = l.lab.Exec(l.t.Context(), l.lab.Client.NS, "arping", "-c", "1", "-w", "1", "-I", "eth0", ip.String())
	}
	return n
}
