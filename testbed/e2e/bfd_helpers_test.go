package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// bfdLab is a speakerLab with one node (node1) in eBGP with the router,
// both ends running BFD, the BGP hold time short (9 s) so the case without
// BFD stays small.
type bfdLab struct {
	*speakerLab
	node netlab.Host
}

const bfdHoldTime = 9 * time.Second

func newBFDLab(t *testing.T, router string, prof routers.BFDProfile) *bfdLab {
	t.Helper()
	sl := newSpeakerLab(t, speakerLabOptions{nodes: 1, router: router, routerASN: bgpRouterASN,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN, BFD: &prof, HoldTime: bfdHoldTime}}
		}})
	l := &bfdLab{speakerLab: sl, node: sl.lab.Nodes[0]}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// The speaker's BFD lines, which its debug log's tail buries.
		data, _ := os.ReadFile(l.speakers[l.node.Name].log)
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, `"msg":"BFD`) {
				t.Log(line)
			}
		}
	})
	return l
}

// heraldBFD is Herald's side of the session: a BFDProfile (nil: the
// BGPPeer has no bfdProfile) and, when auth is set, its authentication
// with the key in a Secret.
type heraldBFD struct {
	rxMs, txMs, mult int
	authType         string
	keyID            int
	key              string
}

// configure applies the pool, the advertisement, the BFDProfile and the
// BGPPeer (with bfdProfile when b is not nil).
func (l *bfdLab) configure(b *heraldBFD) {
	l.t.Helper()
	profile, ref := "", ""
	if b != nil {
		ref = "  bfdProfile: bfd\n"
		profile = fmt.Sprintf(`
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: bfd, namespace: metallb-system}
spec:
  receiveInterval: %d
  transmitInterval: %d
  detectMultiplier: %d
`, b.rxMs, b.txMs, b.mult)
		if b.authType != "" {
			profile = fmt.Sprintf(`
---
apiVersion: v1
kind: Secret
metadata: {name: bfd-key, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: %q}
`, b.key) + profile + fmt.Sprintf("  authentication: {type: %s, keyID: %d, secretRef: {name: bfd-key}}\n", b.authType, b.keyID)
		}
	}
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [%[1]s]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [bgp]}
%[5]s
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec:
  myASN: %[2]d
  peerASN: %[3]d
  peerAddress: %[4]s
  holdTime: 9s
  connectTime: 2s
%[6]s`, l.lab.BGPPool4, bgpNodeASN, bgpRouterASN, l.lab.Router.LAN4, profile, ref))
}

// heraldBFDState is status.bfdState of node1's BGPSessionState with the
// router, and its bgpState.
func (l *bfdLab) heraldBFDState() (bfd, bgp string, err error) {
	list, err := l.mlb.MetallbV1beta1().BGPSessionStates(herald).List(l.t.Context(), metav1.ListOptions{})
	if err != nil {
		return "", "", err
	}
	for _, s := range list.Items {
		if s.Status.Node == l.node.Name && s.Status.Peer == "router" {
			return s.Status.BFDState, s.Status.BGPState, nil
		}
	}
	return "", "", fmt.Errorf("no BGPSessionState for node %s and peer router among %d", l.node.Name, len(list.Items))
}

// waitBFD waits until Herald's status shows BFD as herald and the router's
// CLI shows it as router ("up", "down", ...).
func (l *bfdLab) waitBFD(herald, router string, timeout time.Duration) {
	l.t.Helper()
	eventuallyEvery(l.t, timeout, 100*time.Millisecond, "BFD "+herald+" in Herald's BGPSessionState and "+router+" at the router",
		func() (bool, string) {
			h, _, err := l.heraldBFDState()
			if err != nil {
				return false, err.Error()
			}
			r, err := l.router.BFDState(l.t.Context(), l.node.LAN4)
			if err != nil {
				return false, err.Error()
			}
			return h == herald && r == router, fmt.Sprintf("Herald %q, router %q", h, r)
		})
}

// waitEstablished waits until the router has the BGP session Established.
func (l *bfdLab) waitEstablished() {
	l.t.Helper()
	eventually(l.t, 60*time.Second, "the router's BGP session with node1 Established", func() (bool, string) {
		s, err := l.router.SessionState(l.t.Context(), l.node.LAN4)
		return err == nil && s == "Established", fmt.Sprintf("%q %v", s, err)
	})
}

// bgpIncarnation identifies the router's current BGP session with node1:
// FRR's count of sessions established so far, BIRD's "since" time of the
// protocol. It changes when the session is reset.
func (l *bfdLab) bgpIncarnation() string {
	l.t.Helper()
	ctx := l.t.Context()
	switch l.router.Kind() {
	case "frr":
		out, err := l.router.Exec(ctx, "show bgp neighbors "+l.node.LAN4.String()+" json")
		if err != nil {
			l.t.Fatal(err)
		}
		var m map[string]struct {
			State       string `json:"bgpState"`
			Established int    `json:"connectionsEstablished"`
			Dropped     int    `json:"connectionsDropped"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			l.t.Fatalf("show bgp neighbors json: %v\n%s", err, out)
		}
		n := m[l.node.LAN4.String()]
		return fmt.Sprintf("%s, established %d times, dropped %d times", n.State, n.Established, n.Dropped)
	default:
		out, err := l.router.Exec(ctx, "show protocols peer1")
		if err != nil {
			l.t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 6 && f[0] == "peer1" {
				return strings.Join(f[1:], " ")
			}
		}
		l.t.Fatalf("no peer1 in show protocols:\n%s", out)
		return ""
	}
}

// routerRemoteRx is the Required Min RX Interval the router last received
// from Herald, in ms: FRR's remote-receive-interval; for BIRD, the
// transmit interval it uses (the larger of its own and Herald's).
func (l *bfdLab) routerRemoteRx() (int, error) {
	ctx := l.t.Context()
	if l.router.Kind() == "frr" {
		out, err := l.router.Exec(ctx, "show bfd peers json")
		if err != nil {
			return 0, err
		}
		var peers []struct {
			Peer     string `json:"peer"`
			RemoteRx int    `json:"remote-receive-interval"`
		}
		if err := json.Unmarshal([]byte(out), &peers); err != nil {
			return 0, err
		}
		for _, p := range peers {
			if p.Peer == l.node.LAN4.String() {
				return p.RemoteRx, nil
			}
		}
		return 0, fmt.Errorf("no BFD peer %s at FRR", l.node.LAN4)
	}
	out, err := l.router.Exec(ctx, "show bfd sessions")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == l.node.LAN4.String() {
			s, err := strconv.ParseFloat(f[len(f)-2], 64)
			return int(s*1000 + 0.5), err
		}
	}
	return 0, fmt.Errorf("no BFD session %s at BIRD:\n%s", l.node.LAN4, out)
}

// vtysh runs FRR commands in one vtysh call (configuration needs several).
func (l *bfdLab) vtysh(cmds ...string) {
	l.t.Helper()
	argv := strings.Fields(l.router.CLI())
	for _, c := range cmds {
		argv = append(argv, "-c", c)
	}
	if out, err := exec.CommandContext(l.t.Context(), argv[0], argv[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// cut drops every packet in and out of node1's eth0 (nftables in its
// namespace): a silent failure of the path, with no link event on either
// side. It returns when the rules are in place.
func (l *bfdLab) cut() {
	l.t.Helper()
	const rules = `add table inet herald_cut; ` +
		`add chain inet herald_cut in { type filter hook input priority -300; }; ` +
		`add rule inet herald_cut in iifname "eth0" drop; ` +
		`add chain inet herald_cut out { type filter hook output priority -300; }; ` +
		`add rule inet herald_cut out oifname "eth0" drop`
	if out, err := l.lab.Exec(l.t.Context(), l.node.NS, "nft", rules); err != nil {
		l.t.Fatalf("nft: %v\n%s", err, out)
	}
}

// mend removes the cut.
func (l *bfdLab) mend() {
	l.t.Helper()
	if out, err := l.lab.Exec(l.t.Context(), l.node.NS, "nft", "delete table inet herald_cut"); err != nil {
		l.t.Fatalf("nft: %v\n%s", err, out)
	}
}

// metric sums the samples of a counter on node1's speaker /metrics.
func (l *bfdLab) metric(name string) (float64, error) {
	body, err := l.lab.HTTPGet(l.t.Context(), l.node.NS, "http://"+speakerMetricsAddr+"/metrics")
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", line, err)
		}
		sum += v
	}
	return sum, nil
}

// heraldDownAt is the time of the first "BFD session down" line of node1's
// speaker log after since (the log's JSON time field).
func (l *bfdLab) heraldDownAt(since time.Time) (time.Time, bool) {
	f, err := os.Open(l.speakers[l.node.Name].log)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "BFD session down" && e.Time.After(since) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// serviceRoute creates a Service on node1 and waits for its route at the
// router.
func (l *bfdLab) serviceRoute() netip.Prefix {
	l.t.Helper()
	ip := l.service("web", nil, l.node.Name)
	p := netip.PrefixFrom(ip, 32)
	l.route(p, "the Service's route at the router", func(_ routers.Route, ok bool) bool { return ok })
	return p
}

// routePresent reports whether the router's table has prefix. On FRR it
// asks for that one prefix (one vtysh call, so a poll loop sees the
// withdrawal within tens of ms; Routes makes three).
func (l *bfdLab) routePresent(p netip.Prefix) (bool, error) {
	if l.router.Kind() == "frr" {
		out, err := l.router.Exec(l.t.Context(), "show bgp ipv4 unicast "+p.String()+" json")
		if err != nil {
			return false, err
		}
		var r struct {
			Paths []json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			return false, fmt.Errorf("show bgp ipv4 unicast %s json: %w\n%s", p, err, out)
		}
		return len(r.Paths) > 0, nil
	}
	rs, err := l.router.Routes(l.t.Context())
	if err != nil {
		return false, err
	}
	_, ok := routers.FindRoute(rs, p)
	return ok, nil
}

// metricBy sums a counter on node1's speaker /metrics by the value of one
// label.
func (l *bfdLab) metricBy(name, label string) (map[string]float64, error) {
	body, err := l.lab.HTTPGet(l.t.Context(), l.node.NS, "http://"+speakerMetricsAddr+"/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		v := ""
		if i := strings.Index(line, label+`="`); i >= 0 {
			rest := line[i+len(label)+2:]
			v = rest[:strings.IndexByte(rest, '"')]
		}
		f := strings.Fields(line)
		n, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", line, err)
		}
		out[v] += n
	}
	return out, nil
}

// sendBFD sends each datagram count times from the router's namespace and
// address to node1's BFD control port (3784) with TTL 255, from a source
// port of its own.
func (l *bfdLab) sendBFD(count int, datagrams ...[]byte) {
	l.t.Helper()
	err := netlab.RunInNamespace(l.lab.Router.NS, func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: l.lab.Router.LAN4.AsSlice()},
			&net.UDPAddr{IP: l.node.LAN4.AsSlice(), Port: 3784})
		if err != nil {
			return err
		}
		defer c.Close()
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, 255) }); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		for range count {
			for _, d := range datagrams {
				if _, err := c.Write(d); err != nil {
					return err
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		l.t.Fatalf("sending BFD datagrams from the router's namespace: %v", err)
	}
}

// bfdControl builds an RFC 5880 §4.1 Control packet: version 1, state
// Down, detect multiplier 3, 300 ms intervals, with auth appended (the A
// bit set) when given. Length is the field's value, set to the true
// length when 0.
func bfdControl(version, length byte, myDiscr, yourDiscr uint32, auth []byte) []byte {
	p := make([]byte, 24, 24+len(auth))
	p[0] = version << 5
	p[1] = 1 << 6 // Down
	if auth != nil {
		p[1] |= 0x04
	}
	p[2] = 3
	binary.BigEndian.PutUint32(p[4:], myDiscr)
	binary.BigEndian.PutUint32(p[8:], yourDiscr)
	binary.BigEndian.PutUint32(p[12:], 300000)
	binary.BigEndian.PutUint32(p[16:], 300000)
	p = append(p, auth...)
	p[3] = length
	if length == 0 {
		p[3] = byte(len(p))
	}
	return p
}

// capture is tcpdump on node1's eth0 for BFD and BGP. It sees what the
// router sends even while the cut drops it (a packet socket reads before
// netfilter), and what Herald sent until the cut, with kernel timestamps.
type capture struct {
	cmd  *exec.Cmd
	path string
	done chan struct{}
}

func (l *bfdLab) startCapture() *capture {
	l.t.Helper()
	c := &capture{path: filepath.Join(l.t.TempDir(), "cut.txt")}
	f, err := os.Create(c.path)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	c.cmd = exec.Command("ip", "netns", "exec", l.node.NS, "tcpdump", "-l", "-U", "-tt", "-n", "-v", "-i", "eth0",
		"udp port 3784 or tcp port 179")
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	c.done = done
	l.t.Cleanup(func() { _ = c.cmd.Process.Kill(); <-done })
	// tcpdump says "listening on eth0" once its socket is open.
	eventuallyEvery(l.t, 10*time.Second, 20*time.Millisecond, "tcpdump listening", func() (bool, string) {
		data, _ := os.ReadFile(c.path)
		return strings.Contains(string(data), "listening on"), string(data)
	})
	return c
}

// packet is one captured packet: its time and its decoded text.
type packet struct {
	at   time.Time
	text string
}

// stop ends the capture and returns its packets.
func (c *capture) stop(t *testing.T) []packet {
	t.Helper()
	_ = c.cmd.Process.Signal(os.Interrupt)
	<-c.done
	return c.read(t)
}

// read returns the packets captured so far (tcpdump -U writes each one
// as it comes).
func (c *capture) read(t *testing.T) []packet {
	t.Helper()
	data, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	var out []packet
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			if sec, err := strconv.ParseFloat(f[0], 64); err == nil {
				out = append(out, packet{at: time.Unix(0, int64(sec*1e9)), text: line})
				continue
			}
		}
		if len(out) > 0 {
			out[len(out)-1].text += "\n" + line
		}
	}
	return out
}

// firstAfter is the time of the first packet after since whose text has
// every one of want.
func firstAfter(ps []packet, since time.Time, want ...string) (time.Time, bool) {
	for _, p := range ps {
		if p.at.Before(since) {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(p.text, w)
		}
		if ok {
			return p.at, true
		}
	}
	return time.Time{}, false
}
