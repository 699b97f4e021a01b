package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// The hold timer against FRR. The session runs with hold time 9s. FRR's
// bgpd is stopped (SIGSTOP): its kernel still ACKs, but no KEEPALIVE
// comes. Herald must send NOTIFICATION Hold Timer Expired (4/0) within the
// hold time of FRR's last message, say so in its BGPSessionState, and,
// once bgpd runs again (SIGCONT), come back to Established. The wire, at
// the router, gives the times: FRR's last message, Herald's NOTIFICATION,
// and Herald's connection attempts while FRR was stopped, which must not be
// a tight loop.
func TestBGPHoldTimer(t *testing.T) {
	const hold = 9 * time.Second
	l := newSpeakerLab(t, speakerLabOptions{nodes: 1, router: "frr", routerASN: bgpRouterASN,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN, HoldTime: hold, Keepalive: hold / 3}}
		}})
	frr := l.router.(*routers.FRR)
	node := l.lab.Nodes[0]
	rtr := l.lab.Router.LAN4
	capture := l.captureBGP("router", "eth0")
	l.apply(fmt.Sprintf(`---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: hold, namespace: metallb-system}
spec:
  myASN: %d
  peerASN: %d
  peerAddress: %s
  holdTime: 9s
  keepaliveTime: 3s
  connectTime: 1s
`, bgpNodeASN, bgpRouterASN, rtr))
	eventually(t, 30*time.Second, "the session Established at FRR", func() (bool, string) {
		s, err := frr.SessionState(t.Context(), node.LAN4)
		return err == nil && s == "Established", fmt.Sprintf("%s %v", s, err)
	})
	nb, err := frr.Neighbor(t.Context(), node.LAN4.String())
	if err != nil {
		t.Fatal(err)
	}
	if nb.HoldTimeMsecs != int(hold.Milliseconds()) {
		t.Fatalf("negotiated hold time at FRR: %dms, want %v", nb.HoldTimeMsecs, hold)
	}
	// A few keepalive rounds, then stop bgpd.
	time.Sleep(hold / 3)
	stopped := time.Now()
	if err := frr.Signal("bgpd", syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := frr.Signal("bgpd", syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	// Before the lab's teardown, which cannot stop a stopped bgpd.
	t.Cleanup(resume)

	st := l.waitSession(node.Name, "hold", hold+5*time.Second, "Hold Timer Expired sent", func(st v1beta1.BGPSessionStateStatus) bool {
		return st.LastNotificationSent != ""
	})
	dropped := time.Now()
	t.Logf("BGPSessionState %v after SIGSTOP: %s, last NOTIFICATION sent %q", dropped.Sub(stopped).Round(time.Millisecond),
		st.BGPState, st.LastNotificationSent)
	if st.BGPState == "Established" || !strings.Contains(strings.ToLower(st.LastNotificationSent), "hold timer") {
		t.Errorf("node1's BGPSessionState: %s, last NOTIFICATION sent %q; want the session down with Hold Timer Expired", st.BGPState, st.LastNotificationSent)
	}
	// Stopped for one more hold time: Herald tries to reconnect. (Its
	// first attempt completes in FRR's kernel backlog and waits in
	// OpenSent for an OPEN that only comes after SIGCONT.)
	time.Sleep(hold)
	resume()
	resumedAt := time.Now()
	eventually(t, 30*time.Second, "the session Established again at FRR", func() (bool, string) {
		s, err := frr.SessionState(t.Context(), node.LAN4)
		return err == nil && s == "Established", fmt.Sprintf("%s %v", s, err)
	})
	l.waitSession(node.Name, "hold", 10*time.Second, "Established again", func(st v1beta1.BGPSessionStateStatus) bool {
		return st.BGPState == "Established"
	})
	t.Logf("Established again %v after SIGCONT", time.Since(resumedAt).Round(time.Millisecond))

	segs, err := capture.Segments()
	if err != nil {
		t.Fatal(err)
	}
	var lastFromFRR, notification time.Time
	for _, m := range bgpOnWire(segs) {
		switch {
		case m.Src.Addr() == rtr && m.Time.Before(stopped):
			lastFromFRR = m.Time
		case m.Src.Addr() == node.LAN4 && m.Type == 3 && notification.IsZero():
			notification = m.Time
			if m.Code != 4 || m.Subcode != 0 {
				t.Errorf("node1's first NOTIFICATION on the wire is %d/%d, want 4/0 (Hold Timer Expired)", m.Code, m.Subcode)
			}
		}
	}
	if lastFromFRR.IsZero() || notification.IsZero() {
		t.Fatalf("on the wire: FRR's last message before SIGSTOP at %v, node1's NOTIFICATION at %v; want both", lastFromFRR, notification)
	}
	// The hold timer restarts on each message; Herald's timer granularity
	// and the scheduler get half a second.
	if d := notification.Sub(lastFromFRR); d < hold-500*time.Millisecond || d > hold+500*time.Millisecond {
		t.Errorf("NOTIFICATION %v after FRR's last message, want the hold time %v", d, hold)
	} else {
		t.Logf("NOTIFICATION %v after FRR's last message (hold time %v)", d.Round(time.Millisecond), hold)
	}
	// Connection attempts while bgpd was stopped: SYNs from node1 to
	// FRR's port 179 between the NOTIFICATION and SIGCONT.
	var syns []time.Time
	for _, s := range segs {
		if s.Src.Addr() == node.LAN4 && s.Dst == netip.AddrPortFrom(rtr, 179) && s.Flags&netlab.TCPSyn != 0 &&
			s.Time.After(notification) && s.Time.Before(resumedAt) {
			syns = append(syns, s.Time)
		}
	}
	var gaps []string
	for i := 1; i < len(syns); i++ {
		gaps = append(gaps, syns[i].Sub(syns[i-1]).Round(10*time.Millisecond).String())
	}
	t.Logf("node1's SYNs to FRR while bgpd was stopped: %d, gaps %v", len(syns), gaps)
	// connectTime is 1s; a tight loop would be hundreds.
	if len(syns) == 0 || len(syns) > int(hold/time.Second)+2 {
		t.Errorf("node1 dialled FRR %d times in the %v bgpd was stopped after the drop; want at least one and no more than one a second",
			len(syns), resumedAt.Sub(notification).Round(time.Second))
	}
}
