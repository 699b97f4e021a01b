package e2e

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// l2Capture is tcpdump on a namespace's eth0, recording ARP and NDP
// frames as they come (--immediate-mode: without it the last second's
// frames can be lost when it stops), so a test counts every answer a request got (arping and ndisc6
// stop listening early or fold duplicates; the capture does not).
type l2Capture struct {
	cmd  *exec.Cmd
	path string
	done chan struct{}
}

// l2Frame is one ARP or NDP frame seen by the capture.
type l2Frame struct {
	src, dst string // MACs, lower case
	kind     string // arp-request, arp-reply, ns, na
	ip       netip.Addr
}

var l2FrameRE = regexp.MustCompile(`^([0-9a-f:]{17}) > ([0-9a-f:]{17}), .*?(?:request who-has ([0-9.]+) |reply ([0-9.]+) is-at|neighbor solicitation, who has ([0-9a-f:]+)|neighbor advertisement, tgt is ([0-9a-f:]+))`)

// captureL2 starts tcpdump in ns (a lab host's name or namespace) and
// returns once it listens. The capture stops with the test.
func (l *speakerLab) captureL2(ns string) *l2Capture {
	t := l.t
	t.Helper()
	if h, err := l.lab.Host(ns); err == nil {
		ns = h.NS
	}
	c := &l2Capture{path: filepath.Join(t.TempDir(), "capture-"+ns+".txt"), done: make(chan struct{})}
	f, err := os.Create(c.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c.cmd = exec.Command("ip", "netns", "exec", ns, "tcpdump", "--immediate-mode", "-i", "eth0", "-n", "-e", "-t", "-l", "-U", "arp or icmp6")
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.stop() })
	eventually(t, 10*time.Second, "tcpdump listens in "+ns, func() (bool, string) {
		b, _ := os.ReadFile(c.path)
		return strings.Contains(string(b), "listening on"), string(b)
	})
	return c
}

// stop ends the capture (if running) and returns every ARP/NDP frame seen.
func (c *l2Capture) stop() []l2Frame {
	select {
	case <-c.done:
	default:
		// Frames just sent may still be on their way to tcpdump.
		time.Sleep(300 * time.Millisecond)
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var frames []l2Frame
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := l2FrameRE.FindStringSubmatch(strings.ToLower(sc.Text()))
		if m == nil {
			continue
		}
		fr := l2Frame{src: m[1], dst: m[2]}
		for i, kind := range []string{"arp-request", "arp-reply", "ns", "na"} {
			if m[3+i] != "" {
				fr.kind = kind
				fr.ip, _ = netip.ParseAddr(m[3+i])
			}
		}
		frames = append(frames, fr)
	}
	return frames
}

// l2Answers sums up the frames about ip: the requests (ARP requests or
// Neighbor Solicitations) sent by from, and the answers sent back to from,
// by sender MAC. Gratuitous and unsolicited announcements go to broadcast
// or all-nodes and are counted in announced, by sender.
type l2Answers struct {
	requests  int
	answers   map[string]int
	announced map[string]int
}

func answersFor(frames []l2Frame, ip netip.Addr, from string) l2Answers {
	a := l2Answers{answers: map[string]int{}, announced: map[string]int{}}
	for _, f := range frames {
		if f.ip != ip {
			continue
		}
		switch {
		case (f.kind == "arp-request" || f.kind == "ns") && f.src == from:
			a.requests++
		case (f.kind == "arp-reply" || f.kind == "na") && f.dst == from:
			a.answers[f.src]++
		case f.kind == "arp-reply" || f.kind == "na" || (f.kind == "arp-request" && f.src != from):
			a.announced[f.src]++
		}
	}
	return a
}

func (a l2Answers) String() string {
	return fmt.Sprintf("%d requests, answers by MAC %v, announcements by MAC %v", a.requests, a.answers, a.announced)
}
