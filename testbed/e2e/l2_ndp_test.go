package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// NDP as real kernels speak it, against three speakers (the l2 package's
// integration test covers one responder alone; this is the whole speaker,
// with the service IP also bound on each node's lo as kube-proxy would):
//
//   - the client kernel's neighbour-unreachability probe, a unicast NS to
//     the IP itself, gets a solicited NA (only that makes the entry
//     REACHABLE again);
//   - a DAD probe from :: for the service IP is answered to ff02::1, so a
//     host trying to take the address sees it in use (its DAD fails);
//   - on takeover the new owner's unsolicited NA with Override moves the
//     client's existing entry, while the client keeps sending: the longest
//     gap without an HTTP response stays under a second (the old owner's
//     node still serves, so nothing but that NA moves the client).
func TestL2NDP(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3})
	// Steady state first: every speaker sees all three alive. While the
	// mesh is still forming, the election's candidates grow, and the IP
	// may move to a speaker that joined late; that handover's unsolicited
	// NA to ff02::1 would be counted below as a second answer to the DAD
	// probe.
	l.meshConverged(3)
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2v6, namespace: metallb-system}
spec: {addresses: [%s]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2v6, namespace: metallb-system}
`, l.lab.L2Pool6))
	ip := l.l2Service("web6", ipv6Only, "node1", "node2", "node3")[0]
	clientMAC := l.clientMAC()
	client := l.lab.Client.NS

	t.Run("unicast NUD probe gets a solicited NA", func(t *testing.T) {
		sl := l.sub(t)
		owner := sl.owner(ip)
		sl.clientUses(ip, owner)
		mac := sl.mac(owner)
		capture := sl.captureL2("client")
		// A stale entry with the owner's MAC: the next packet puts it in
		// DELAY, then PROBE, where the kernel sends unicast NS to the IP
		// itself; only a solicited NA makes it REACHABLE. The packet is a
		// ping, not TCP: a TCP handshake's ACK confirms the entry itself
		// when it comes before the DELAY timer fires, and the kernel then
		// never probes (a full make test run saw exactly that).
		sl.exec(client, "sysctl", "-qw", "net.ipv6.neigh.eth0.delay_first_probe_time=0")
		sl.exec(client, "ip", "-6", "neigh", "replace", ip.String(), "lladdr", mac, "dev", "eth0", "nud", "stale")
		// Whether the echo is answered does not matter: the request alone
		// starts the probe.
		_, _ = l.lab.Exec(t.Context(), client, "ping", "-6", "-c", "1", "-W", "1", ip.String())
		eventually(t, 5*time.Second, "the client's entry for "+ip.String()+" REACHABLE", func() (bool, string) {
			out := string(sl.exec(client, "ip", "-6", "neigh", "show", ip.String(), "dev", "eth0"))
			return strings.Contains(out, "REACHABLE") && strings.Contains(strings.ToLower(out), mac), out
		})
		unicast := 0
		for _, f := range capture.stop() {
			if f.kind == "ns" && f.ip == ip && f.src == clientMAC && f.dst == mac {
				unicast++
			}
		}
		if unicast == 0 {
			t.Errorf("the capture saw no unicast NS from the client to %s: the entry was not probed", mac)
		}
		if _, err := sl.get(ip); err != nil {
			t.Errorf("HTTP to %s: %v", ip, err)
		}
	})

	t.Run("DAD probe from :: answered to all nodes", func(t *testing.T) {
		sl := l.sub(t)
		owner := sl.owner(ip)
		mac := sl.mac(owner)
		capture := sl.captureL2("client")
		// The client tries to take the service IP: its kernel sends an NS
		// from :: and must hear the address is in use.
		sl.exec(client, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1", "net.ipv6.conf.eth0.dad_transmits=1")
		t.Cleanup(func() {
			_, _ = l.lab.Exec(context.Background(), client, "ip", "-6", "addr", "del", netip.PrefixFrom(ip, 128).String(), "dev", "eth0")
			_, _ = l.lab.Exec(context.Background(), client, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0")
		})
		sl.exec(client, "ip", "-6", "addr", "add", netip.PrefixFrom(ip, 128).String(), "dev", "eth0")
		eventually(t, 5*time.Second, "the client's DAD for "+ip.String()+" fails", func() (bool, string) {
			out := string(sl.exec(client, "ip", "-6", "addr", "show", "dev", "eth0", "to", ip.String()+"/128"))
			return strings.Contains(out, "dadfailed"), out
		})
		frames := capture.stop()
		var toAll []string
		for _, f := range frames {
			if f.kind == "na" && f.ip == ip && f.dst == "33:33:00:00:00:01" {
				toAll = append(toAll, f.src)
			}
		}
		if len(toAll) == 0 || strings.Join(toAll, "") != strings.Repeat(mac, len(toAll)) {
			t.Errorf("NAs for %s to ff02::1 came from %v, want from %s (%s) only", ip, toAll, owner, mac)
		}
	})

	t.Run("takeover NA with Override moves the client", func(t *testing.T) {
		sl := l.sub(t)
		owner := sl.owner(ip)
		sl.exactlyOneNDAnswer(ip, owner)
		sl.clientUses(ip, owner)
		p := sl.probe(ip)
		time.Sleep(300 * time.Millisecond)
		at := time.Now()
		sigkill := failoverCases[0]
		sigkill.fail(sl, owner)
		p.servedByOtherThan(t, owner)
		gap, now, fails := p.finish(at)
		t.Logf("SIGKILL of %s's speaker: %s serves %s after a gap of %v (%d failed requests)", owner, now, ip, gap.Round(time.Millisecond), fails)
		if gap >= time.Second {
			t.Errorf("%v without a successful response, want under 1s", gap.Round(time.Millisecond))
		}
		sl.exactlyOneNDAnswer(ip, now)
		sl.clientUses(ip, now)
		sigkill.restore(sl, owner)
		sl.settle(ip)
	})
}

// meshConverged waits until every node's speaker counts n speakers alive
// in its liveness mesh.
func (l *speakerLab) meshConverged(n int) {
	l.t.Helper()
	for _, h := range l.lab.Nodes {
		eventually(l.t, 30*time.Second, h.Name+"'s liveness mesh sees all speakers", func() (bool, string) {
			v, err := l.metric(h, "herald_liveness_speakers_alive")
			if err != nil {
				return false, err.Error()
			}
			return int(v) == n, fmt.Sprint("herald_liveness_speakers_alive = ", v)
		})
	}
}

// exec runs argv in namespace ns (a host name or namespace) and fails the
// test if it fails.
func (l *speakerLab) exec(ns string, argv ...string) []byte {
	l.t.Helper()
	out, err := l.lab.Exec(l.t.Context(), ns, argv...)
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}
