package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// L2 mode in the lab: three speakers on the client's segment; one Service
// with an IPv4 address from the segment. Exactly one node answers the
// client's ARP requests, with its own MAC, and the client's request reaches
// the Service through it.
func TestL2AnswersOnce(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3})
	// Steady state, as the other L2 tests: speakers started together all
	// answer until they hear of each other (docs/l2.md states that
	// window; a full run caught two MACs in it). The membership bug this
	// test once caught has its own unit test
	// (TestMeshCountsASpeakerTheAPIHasNotListed).
	l.meshConverged(3)
	l.l2Pool4()
	ip := l.service("web", nil, "node1", "node2", "node3")
	var body string
	eventually(t, 30*time.Second, "the client reaches the Service over L2", func() (bool, string) {
		var err error
		body, err = l.get(ip)
		if err != nil {
			return false, err.Error()
		}
		return strings.HasPrefix(body, "node"), body
	})
	owner := body
	// arping: every request gets exactly one reply, from the owner's MAC.
	out, err := l.lab.Exec(t.Context(), l.lab.Client.NS, "arping", "-c", "3", "-w", "5", "-I", "eth0", ip.String())
	if err != nil {
		t.Fatalf("arping: %v\n%s", err, out)
	}
	replies := regexp.MustCompile(`(?m)^Unicast reply from .*\[([0-9A-Fa-f:]+)\]`).FindAllStringSubmatch(string(out), -1)
	if len(replies) != 3 {
		t.Errorf("arping got %d replies to 3 requests, want exactly 3 (one each):\n%s", len(replies), out)
	}
	macs := map[string]bool{}
	for _, r := range replies {
		macs[strings.ToLower(r[1])] = true
	}
	if len(macs) != 1 {
		t.Errorf("replies came from %d MACs, want one node's: %v", len(macs), macs)
	}
	ownerMAC := l.mac(owner)
	if !macs[ownerMAC] {
		t.Errorf("replies from %v, want %s's MAC %s (the node that served the request)", macs, owner, ownerMAC)
	}
	// The owner says so: one ServiceL2Status, its own, naming eth0.
	eventually(t, 20*time.Second, "one ServiceL2Status for default/web, the owner's", func() (bool, string) {
		list, err := l.mlb.MetallbV1beta1().ServiceL2Statuses(herald).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, st := range list.Items {
			if st.Status.ServiceName == "web" {
				names := []string{}
				for _, i := range st.Status.Interfaces {
					names = append(names, i.Name)
				}
				got = append(got, st.Status.Node+":"+strings.Join(names, ","))
			}
		}
		return len(got) == 1 && got[0] == owner+":eth0", fmt.Sprint(got)
	})

	// A deleted Service's IP is answered no more: ARP requests for it go
	// unanswered once the owner has heard of the deletion.
	if err := l.admin.CoreV1().Services("default").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "no ARP reply for the deleted Service's IP", func() (bool, string) {
		n, macs := l.arpReplies(ip)
		return n == 0, fmt.Sprintf("%d replies from %v", n, macs)
	})
}

// mac returns the MAC of a node's eth0, lower case.
func (l *speakerLab) mac(node string) string {
	l.t.Helper()
	h, err := l.lab.Host(node)
	if err != nil {
		l.t.Fatal(err)
	}
	out, err := l.lab.Exec(l.t.Context(), h.NS, "cat", "/sys/class/net/eth0/address")
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.ToLower(strings.TrimSpace(string(out)))
}
