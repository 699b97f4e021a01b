package bgpnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

// The FRR tests run FRR's zebra and bgpd (the Debian package's daemons in
// /usr/lib/frr, as testbed/routers starts them) in a namespace and check
// that what Herald's sockets do is what FRR expects: TCP MD5, GTSM and
// unnumbered peering. Whether FRR took a connection for its configured
// neighbour is read from the BGP messages it sends: it sends its OPEN only
// on a connection from a neighbour, and answers an acceptable OPEN with a
// KEEPALIVE only once it has received it.

const frrDaemons = "/usr/lib/frr"

// The ASes of every FRR in these tests and of Herald.
const frrAS, heraldAS = 65001, 65000

type frr struct {
	t     *testing.T
	dir   string
	procs []*exec.Cmd
	vty   []string
}

// startFRR runs zebra and bgpd with bgpdConf in role's namespace; bgpd
// listens on port 179 there.
func (l *lab) startFRR(role, bgpdConf string) *frr {
	t := l.t
	t.Helper()
	if _, err := os.Stat(filepath.Join(frrDaemons, "bgpd")); err != nil {
		t.Skip("skipped: FRR is not installed (apt-get install -y frr)")
	}
	u, err := user.Lookup("frr")
	if err != nil {
		t.Skip("skipped: no user frr for the FRR daemons")
	}
	dir, err := os.MkdirTemp("", "hbn-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"zebra.conf": "hostname " + role + "\n", "bgpd.conf": bgpdConf, "vtysh.conf": ""}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &frr{t: t, dir: dir, vty: []string{"vtysh", "--vty_socket", dir, "--config_dir", dir}}
	t.Cleanup(f.stop)
	start := func(daemon string, extra ...string) {
		argv := append([]string{"netns", "exec", l.ns(role), filepath.Join(frrDaemons, daemon),
			"-u", "frr", "-g", "frr", "--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"),
			"-i", filepath.Join(dir, daemon+".pid"), "-f", filepath.Join(dir, daemon+".conf"), "-P", "0",
			"--log", "file:" + filepath.Join(dir, "frr.log"), "--log-level", "debugging"}, extra...)
		cmd := exec.Command("ip", argv...)
		out, err := os.Create(filepath.Join(dir, daemon+".out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", daemon, err)
		}
		f.procs = append(f.procs, cmd)
		f.waitFile(daemon + ".vty")
	}
	start("zebra")
	start("bgpd", "-p", "179")
	return f
}

func (f *frr) waitFile(name string) {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(f.dir, name)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("FRR did not create %s:\n%s", name, f.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *frr) stop() {
	for _, c := range f.procs {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range f.procs {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	f.procs = nil
}

// vtysh runs one show command.
func (f *frr) vtysh(command string) string {
	out, err := exec.Command(f.vty[0], append(f.vty[1:], "-c", command)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("vtysh -c %q: %v\n%s", command, err, out)
	}
	return string(out)
}

// configure applies configuration commands, as `configure terminal` would.
func (f *frr) configure(lines ...string) {
	f.t.Helper()
	args := append(f.vty[1:], "-c", "configure terminal")
	for _, l := range lines {
		args = append(args, "-c", l)
	}
	if out, err := exec.Command(f.vty[0], args...).CombinedOutput(); err != nil {
		f.t.Fatalf("vtysh: %v\n%s", err, out)
	}
}

// logs is what to print when FRR did not do what a test expected.
func (f *frr) logs() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "frr.log"))
	lines := strings.Split(string(b), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return "FRR log (last lines):\n" + strings.Join(lines, "\n") + "\n" + f.vtysh("show bgp neighbors")
}

// readMessage reads one BGP message and returns its type and body.
func readMessage(c *Conn, within time.Duration) (bgpwire.MessageType, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(within))
	head := make([]byte, 19)
	if _, err := io.ReadFull(c, head); err != nil {
		return 0, nil, err
	}
	h, err := bgpwire.ParseHeader(head, 4096)
	if err != nil {
		return 0, nil, err
	}
	body := make([]byte, int(binary.BigEndian.Uint16(head[16:18]))-19)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	return h.Type, body, nil
}

// bgpHandshake reads the peer's OPEN, sends ours and waits for the
// peer's KEEPALIVE: proof that each end received the other's segments.
func bgpHandshake(t *testing.T, f *frr, c *Conn, id string) {
	t.Helper()
	if err := readFRROpen(c); err != nil {
		t.Fatalf("%v:\n%s", err, f.logs())
	}
	sendOpenExpectKeepalive(t, f, c, id)
}

// readFRROpen reads the first message and checks it is a BGP-4 OPEN from
// FRR's AS.
func readFRROpen(c *Conn) error {
	typ, body, err := readMessage(c, 10*time.Second)
	if err != nil {
		// Wrapped: acceptHandshake tells FRR abandoning a connection
		// (EOF, reset) from a real failure by it.
		return fmt.Errorf("want FRR's OPEN: %w", err)
	}
	if typ != bgpwire.TypeOpen {
		return fmt.Errorf("want FRR's OPEN, got type %v", typ)
	}
	if len(body) < 3 || body[0] != 4 || binary.BigEndian.Uint16(body[1:3]) != frrAS {
		return fmt.Errorf("FRR's OPEN % x is not BGP-4 from AS %d", body, frrAS)
	}
	return nil
}

func sendOpenExpectKeepalive(t *testing.T, f *frr, c *Conn, id string) {
	t.Helper()
	open, err := bgpwire.AppendOpen(nil, &bgpwire.Open{Version: 4, AS: heraldAS, HoldTime: 90, Identifier: netip.MustParseAddr(id),
		Capabilities: bgpwire.Capabilities{Multiprotocol: []bgpwire.Family{bgpwire.IPv4Unicast}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(open); err != nil {
		t.Fatal(err)
	}
	typ, body, err := readMessage(c, 10*time.Second)
	if err != nil || typ != bgpwire.TypeKeepalive {
		t.Fatalf("want FRR's KEEPALIVE after our OPEN, got type %v body % x (%v):\n%s", typ, body, err, f.logs())
	}
}

// acceptHandshake waits for FRR's connection on the listener and does the
// handshake on it. FRR abandons a connection whose SYN went unanswered
// when its connect timer fires, and the SYN it retransmitted first may
// still be accepted (a listener that was opening then): such a connection
// ends before FRR's OPEN, and the next one is FRR's.
func acceptHandshake(t *testing.T, f *frr, accepted chan *Conn, id string) *Conn {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case c := <-accepted:
			t.Cleanup(func() { _ = c.Close() })
			err := readFRROpen(c)
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				t.Logf("FRR abandoned a connection from %v: %v", c.Remote, err)
				continue
			}
			if err != nil {
				t.Fatalf("%v:\n%s", err, f.logs())
			}
			sendOpenExpectKeepalive(t, f, c, id)
			return c
		case <-deadline:
			t.Fatalf("FRR did not connect:\n%s", f.logs())
		}
	}
}

// Herald's TCP MD5 and GTSM against FRR's `neighbor X password` and
// `neighbor X ttl-security hops 1`, both ways, up to the exchange of OPEN
// and KEEPALIVE; and what happens with FRR's defaults.
func TestFRRPasswordAndGTSM(t *testing.T) {
	l := newLab(t, "h", "p")
	l.link("h", "h0", []string{"10.0.0.1/24", "10.0.0.11/24", "10.0.0.21/24"}, "p", "p0", []string{"10.0.0.2/24"})
	l.reachable("p", "10.0.0.1", "10.0.0.11", "10.0.0.21")
	f := l.startFRR("p", `hostname p
log timestamp precision 3
router bgp 65001
 bgp router-id 10.0.0.2
 no bgp ebgp-requires-policy
 neighbor 10.0.0.1 remote-as 65000
 neighbor 10.0.0.1 password s3cret
 neighbor 10.0.0.1 ttl-security hops 1
 neighbor 10.0.0.1 passive
 neighbor 10.0.0.11 remote-as 65000
 neighbor 10.0.0.11 passive
 neighbor 10.0.0.21 remote-as 65000
 neighbor 10.0.0.21 password both-ways
 neighbor 10.0.0.21 ttl-security hops 1
 neighbor 10.0.0.21 port 17900
 neighbor 10.0.0.21 timers connect 1
`)
	frrAddr := mustAddr("10.0.0.2")
	dial := func(o Options) (*Conn, error) {
		o.Peer = frrAddr
		return l.dial("h", o, 2*time.Second)
	}
	// A bgpd that has not yet heard of its interfaces from zebra resets
	// a neighbour's connection ("nexthop_set failed"): wait until it sends
	// its OPEN to a plain neighbour.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := dial(Options{Source: mustAddr("10.0.0.11")})
		if err == nil {
			typ, _, rerr := readMessage(c, 2*time.Second)
			_ = c.Close()
			if rerr == nil && typ == bgpwire.TypeOpen {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("FRR never sent its OPEN to a plain neighbour:\n%s", f.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("Herald dials with the password and GTSM", func(t *testing.T) {
		c, err := dial(Options{Source: mustAddr("10.0.0.1"), Password: "s3cret", MinTTL: GTSMMinTTL})
		if err != nil {
			t.Fatalf("%v\n%s", err, f.logs())
		}
		bgpHandshake(t, f, c, "10.0.0.1")
	})
	t.Run("Herald dials with another password", func(t *testing.T) {
		_, err := dial(Options{Source: mustAddr("10.0.0.1"), Password: "guess", MinTTL: GTSMMinTTL})
		wantErr(t, err, ErrTimeout, "TCP MD5 password is set")
	})
	t.Run("Herald dials without the password", func(t *testing.T) {
		_, err := dial(Options{Source: mustAddr("10.0.0.1"), MinTTL: GTSMMinTTL})
		wantErr(t, err, ErrTimeout, "may expect a TCP MD5 password")
	})
	t.Run("FRR's default eBGP TTL of 1 does not pass GTSM", func(t *testing.T) {
		// The handshake completes (FRR's listener answers with TTL 255)
		// but FRR's OPEN, sent with TTL 1, is dropped.
		c, err := dial(Options{Source: mustAddr("10.0.0.11"), MinTTL: GTSMMinTTL})
		if err != nil {
			t.Fatalf("%v\n%s", err, f.logs())
		}
		if typ, _, err := readMessage(c, 3*time.Second); err == nil {
			t.Fatalf("read a message of type %v sent with TTL 1; GTSM should drop it", typ)
		}
	})
	t.Run("FRR's defaults without GTSM", func(t *testing.T) {
		c, err := dial(Options{Source: mustAddr("10.0.0.11")})
		if err != nil {
			t.Fatalf("%v\n%s", err, f.logs())
		}
		bgpHandshake(t, f, c, "10.0.0.11")
	})
	t.Run("FRR dials Herald's listener with the password and GTSM", func(t *testing.T) {
		ls := newListeners(t)
		_, accepted := l.register("h", ls, Options{Peer: frrAddr, Password: "both-ways", MinTTL: GTSMMinTTL, ListenPort: testPort})
		c := acceptHandshake(t, f, accepted, "10.0.0.21")
		if c.Local.Addr() != mustAddr("10.0.0.21") {
			t.Errorf("FRR connected to %v, want 10.0.0.21", c.Local)
		}
	})
}

// Unnumbered against FRR's `neighbor p0 interface`: Herald finds FRR's
// link-local address from zebra's Router Advertisements alone, FRR learns
// Herald's from Herald's, and each accepts the other's connection as its
// neighbour's.
func TestFRRUnnumbered(t *testing.T) {
	l, hLL, pLL := unnumberedLab(t)
	// FRR's kernel would answer the echo probe; make the RAs the only way.
	l.sysctl("p", "net.ipv6.icmp.echo_ignore_multicast=1")
	f := l.startFRR("p", `hostname p
log timestamp precision 3
router bgp 65001
 bgp router-id 10.0.0.2
 no bgp ebgp-requires-policy
 neighbor p0 interface remote-as 65000
 neighbor p0 timers connect 1
`)
	quiet := l.openUnnumbered("h", "h0", UnnumberedOptions{NoAdvertise: true})
	got, err := neighbourWithin(quiet, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, f.logs())
	}
	if want := pLL.WithZone("h0"); got != want {
		t.Fatalf("neighbour %v, want FRR's %v", got, want)
	}

	t.Run("FRR refuses Herald until it has heard Herald's RA", func(t *testing.T) {
		c, err := l.dial("h", Options{Peer: got}, 5*time.Second)
		if err == nil {
			var typ bgpwire.MessageType
			typ, _, err = readMessage(c, 5*time.Second)
			if err == nil {
				t.Fatalf("FRR sent a message of type %v to an address it has not learnt", typ)
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("FRR neither closed nor answered: %v", err)
		}
		t.Logf("FRR's answer to an address it has not learnt: %v", err)
	})
	if err := quiet.Close(); err != nil {
		t.Fatal(err)
	}
	l.openUnnumbered("h", "h0", UnnumberedOptions{})

	t.Run("FRR dials Herald", func(t *testing.T) {
		ls := newListeners(t)
		_, accepted := l.register("h", ls, Options{Peer: got, ListenPort: BGPPort})
		c := acceptHandshake(t, f, accepted, "10.0.0.1")
		if c.Local.Addr() != hLL {
			t.Errorf("FRR connected to %v, want Herald's link-local %v", c.Local, hLL)
		}
	})
	t.Run("Herald dials FRR", func(t *testing.T) {
		c, err := l.dial("h", Options{Peer: got}, 5*time.Second)
		if err != nil {
			t.Fatalf("%v\n%s", err, f.logs())
		}
		bgpHandshake(t, f, c, "10.0.0.1")
	})
	t.Run("with a TCP MD5 password on the link-local address", func(t *testing.T) {
		f.configure("router bgp 65001", "neighbor p0 password linklocal")
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := l.dial("h", Options{Peer: got, Password: "linklocal"}, 2*time.Second)
			if err == nil {
				bgpHandshake(t, f, c, "10.0.0.1")
				break
			}
			// bgpd installs the key as it applies the command.
			if time.Now().After(deadline) {
				t.Fatalf("%v\n%s", err, f.logs())
			}
		}
		_, err := l.dial("h", Options{Peer: got}, 2*time.Second)
		wantErr(t, err, ErrTimeout)
	})
}
