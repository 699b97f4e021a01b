package bfdnet

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

const frrDaemons = "/usr/lib/frr"

// frr is zebra and bfdd in a namespace, configured through vtysh the way
// the lab's routers are (testbed/routers/frr.go): daemons start from an
// empty file and vtysh -b applies frr.conf.
type frr struct {
	dir   string
	vtysh []string
}

func startFRR(t *testing.T, ns, conf string) *frr {
	t.Helper()
	for _, bin := range []string{filepath.Join(frrDaemons, "bfdd"), filepath.Join(frrDaemons, "zebra")} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("skipped: FRR is not installed (%s); apt-get install -y frr", bin)
		}
	}
	if _, err := exec.LookPath("vtysh"); err != nil {
		t.Skip("skipped: vtysh not installed")
	}
	dir, err := os.MkdirTemp("", "hbfd-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	u, err := user.Lookup("frr")
	if err != nil {
		t.Skipf("skipped: no frr user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"frr.conf": conf, "vtysh.conf": "", "empty.conf": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &frr{dir: dir, vtysh: []string{"vtysh", "--vty_socket", dir, "--config_dir", dir}}
	start := func(daemon string, extra ...string) {
		args := append([]string{"netns", "exec", ns, filepath.Join(frrDaemons, daemon),
			"-u", "frr", "-g", "frr", "--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"),
			"-i", filepath.Join(dir, daemon+".pid"), "-f", filepath.Join(dir, "empty.conf"), "-P", "0",
			"--log", "file:" + filepath.Join(dir, "frr.log"), "--log-level", "info"}, extra...)
		cmd := exec.Command("ip", args...)
		out, err := os.Create(filepath.Join(dir, daemon+".out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			out.Close()
		})
	}
	wait := func(paths ...string) {
		for _, p := range paths {
			waitFor(t, p, func() bool { _, err := os.Stat(p); return err == nil })
		}
	}
	start("zebra")
	wait(filepath.Join(dir, "zserv.api"), filepath.Join(dir, "zebra.vty"))
	start("bfdd", "--bfdctl", filepath.Join(dir, "bfdd.sock"))
	wait(filepath.Join(dir, "bfdd.vty"))
	if out, err := exec.Command(f.vtysh[0], append(f.vtysh[1:], "-b")...).CombinedOutput(); err != nil {
		t.Fatalf("vtysh -b: %v\n%s\n%s", err, out, f.logs())
	}
	return f
}

func (f *frr) logs() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "frr.log"))
	lines := strings.Split(string(b), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

func (f *frr) exec(t *testing.T, cmds ...string) string {
	t.Helper()
	args := append([]string(nil), f.vtysh[1:]...)
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command(f.vtysh[0], args...).CombinedOutput()
	if err != nil {
		t.Fatalf("vtysh %q: %v\n%s", cmds, err, out)
	}
	return string(out)
}

// frrPeer is the part of `show bfd peers json` the test reads.
type frrPeer struct {
	Peer              string `json:"peer"`
	Status            string `json:"status"`
	Diagnostic        string `json:"diagnostic"`
	RemoteDiagnostic  string `json:"remote-diagnostic"`
	RemoteTransmit    int    `json:"remote-transmit-interval"`
	RemoteReceive     int    `json:"remote-receive-interval"`
	RemoteDetectMult  int    `json:"remote-detect-multiplier"`
	TransmitInterval  int    `json:"transmit-interval"`
	RemoteID          uint32 `json:"remote-id"`
	LocalID           uint32 `json:"id"`
	RemoteEchoReceive int    `json:"remote-echo-receive-interval"`
}

func (f *frr) peer(t *testing.T, addr string) frrPeer {
	t.Helper()
	out := f.exec(t, "show bfd peers json")
	var peers []frrPeer
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("show bfd peers json: %v\n%s", err, out)
	}
	for _, p := range peers {
		if p.Peer == addr {
			return p
		}
	}
	t.Fatalf("FRR has no BFD peer %s:\n%s", addr, out)
	return frrPeer{}
}

// A session with FRR's bfdd: up, a shutdown on FRR's side seen as the
// peer's AdminDown (not a failure), a profile change renegotiated with
// Poll/Final without a flap, and our AdminDown seen by FRR on Remove.
func TestLabFRR(t *testing.T) {
	l := newLab(t)
	conf := fmt.Sprintf(`frr defaults traditional
hostname frr-b
log timestamp precision 3
!
bfd
 profile fast
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 exit
 peer 192.0.2.1 local-address 192.0.2.2 interface %s
  profile fast
 exit
exit
!
`, labIfB)
	f := startFRR(t, l.b, conf)
	m, log := labManager(t, Options{})
	s := addIn(t, l.a, m, SessionConfig{Key: Key{Peer: addrB, Local: addrA, Interface: labIfA}, Profile: profile(300, 3)})
	if c := waitChange(t, log, "up with FRR", 10*time.Second); !c.Up {
		t.Fatalf("%+v\n%s", c, f.logs())
	}
	waitFor(t, "FRR up", func() bool { return f.peer(t, "192.0.2.1").Status == "up" })
	p := f.peer(t, "192.0.2.1")
	if p.RemoteID != s.Discriminator() || p.LocalID != s.Stats().RemoteDiscr {
		t.Errorf("discriminators: FRR has ours as %d (want %d), its own %d (we have %d)", p.RemoteID, s.Discriminator(), p.LocalID, s.Stats().RemoteDiscr)
	}

	// FRR shuts the peer down: AdminDown, not a failure.
	f.exec(t, "configure terminal", "bfd", "peer 192.0.2.1 local-address 192.0.2.2 interface "+labIfB, "shutdown")
	c := waitChange(t, log, "FRR shutdown", 5*time.Second)
	if c.Up || c.Cause != bfd.CauseNeighborAdminDown || c.Cause.Failure() {
		t.Fatalf("after FRR's shutdown: %+v", c)
	}
	f.exec(t, "configure terminal", "bfd", "peer 192.0.2.1 local-address 192.0.2.2 interface "+labIfB, "no shutdown")
	if c := waitChange(t, log, "up again", 10*time.Second); !c.Up {
		t.Fatalf("after no shutdown: %+v", c)
	}

	// Our profile goes from 300 ms to 100 ms: a Poll Sequence FRR
	// answers. (100 ms rather than the 50 ms floor: this machine's cores
	// are shared, and the test is about the negotiation.)
	if err := s.SetProfile(profile(100, 3)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "100 ms both ways", func() bool {
		st := s.Stats()
		return st.TransmitInterval == 100*time.Millisecond && st.DetectionTime == 300*time.Millisecond &&
			f.peer(t, "192.0.2.1").RemoteTransmit == 100
	})
	// That the change itself costs no flap is shown in simulated time
	// (TestProfileChangeRenegotiatesWithoutDropping); here a loaded
	// machine may flap either side, so flaps are only logged.
	waitFor(t, "up at 100 ms", func() bool { return s.State() == bfd.Up })
	st := s.Stats()
	if st.Finals == 0 {
		t.Errorf("no Poll Sequence ended with FRR's Final")
	}
	t.Logf("with FRR: packets in %d out %d, polls %d finals %d, flaps %d (1 is the shutdown's)", st.PacketsIn, st.PacketsOut, st.Polls, st.Finals, st.Flaps)

	// Remove: FRR sees our AdminDown.
	s.Remove()
	waitFor(t, "FRR sees AdminDown", func() bool { return f.peer(t, "192.0.2.1").Status == "down" })
	if p := f.peer(t, "192.0.2.1"); !strings.Contains(p.RemoteDiagnostic, "administratively down") {
		t.Errorf("FRR: status %s remote diagnostic %q", p.Status, p.RemoteDiagnostic)
	}
}

// Echo with FRR's bfdd both ways: each side's Echo packets are forwarded
// back by the other's kernel.
func TestLabFRREcho(t *testing.T) {
	l := newLab(t)
	for _, ns := range []string{l.a, l.b} {
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	conf := fmt.Sprintf(`frr defaults traditional
hostname frr-b
!
bfd
 profile echo
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
  echo-mode
  echo transmit-interval 100
  echo receive-interval 100
 exit
 peer 192.0.2.1 local-address 192.0.2.2 interface %s
  profile echo
 exit
exit
!
`, labIfB)
	f := startFRR(t, l.b, conf)
	m, log := labManager(t, Options{})
	p := profile(300, 3)
	p.EchoMode, p.EchoInterval = true, 100
	s := addIn(t, l.a, m, SessionConfig{Key: Key{Peer: addrB, Local: addrA, Interface: labIfA}, Profile: p})
	if c := waitChange(t, log, "up with FRR", 10*time.Second); !c.Up {
		t.Fatalf("%+v\n%s", c, f.logs())
	}
	waitFor(t, "our echo returning", func() bool { st := s.Stats(); return st.EchoActive && st.EchoIn > 10 })
	// FRR's own Echo packets come back through our kernel.
	counters := func() string {
		return f.exec(t, "show bfd peer 192.0.2.1 local-address 192.0.2.2 interface "+labIfB+" counters")
	}
	frrEchoIn := func() int {
		for _, line := range strings.Split(counters(), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Echo packet input: "); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(rest, " packets"))
				return n
			}
		}
		return -1
	}
	waitFor(t, "FRR's echo returning", func() bool { return frrEchoIn() > 10 })
	waitFor(t, "FRR up, with our Required Min Echo RX", func() bool {
		fp := f.peer(t, "192.0.2.1")
		return fp.Status == "up" && fp.RemoteEchoReceive == 100
	})
	st := s.Stats()
	t.Logf("ours: echo out %d in %d, flaps %d; FRR:\n%s", st.EchoOut, st.EchoIn, st.Flaps, counters())
}
