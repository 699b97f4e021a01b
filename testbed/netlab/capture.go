package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Capture records the TCP segments one interface of a lab namespace sees,
// with tcpdump, so a test can check what went over the wire (a
// NOTIFICATION a stopped daemon never read, how often a peer dialled)
// rather than what either end says of it.
type Capture struct {
	cmd  *exec.Cmd
	path string
	done chan struct{}
	out  *os.File
}

// Segment is one captured TCP segment.
type Segment struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	// Flags are the TCP flags octet (FIN 0x01, SYN 0x02, RST 0x04, PSH
	// 0x08, ACK 0x10).
	Flags uint8
	Seq   uint32
	// TTL is the IPv4 TTL or IPv6 hop limit it arrived with.
	TTL     uint8
	Payload []byte
}

// TCP flags.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPAck = 0x10
)

// StartCapture runs tcpdump on iface inside namespace ns (a namespace or a
// host role) for the pcap-filter expression filter, writing every packet as
// it arrives into dir. It returns once tcpdump listens.
func (l *Lab) StartCapture(ns, iface, filter, dir string) (*Capture, error) {
	if h, err := l.Host(ns); err == nil {
		ns = h.NS
	}
	c := &Capture{path: filepath.Join(dir, "capture.pcap"), done: make(chan struct{})}
	var err error
	if c.out, err = os.Create(filepath.Join(dir, "tcpdump.out")); err != nil {
		return nil, err
	}
	c.cmd = exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", iface, "--immediate-mode", "-U", "-s", "0", "-n", "-w", c.path, filter)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		c.out.Close()
		return nil, fmt.Errorf("netlab: tcpdump in %s: %w", ns, err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	// tcpdump says "listening on" once its socket is open.
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile(c.out.Name())
		if strings.Contains(string(b), "listening on") {
			return c, nil
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("netlab: tcpdump in %s exited: %s", ns, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("netlab: tcpdump in %s did not start: %s", ns, b)
		}
	}
}

// Segments reads what has been captured so far.
func (c *Capture) Segments() ([]Segment, error) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return nil, err
	}
	return ReadPcap(b)
}

// Output is what tcpdump printed so far (its start, its end with the
// packet counts, or why it failed), for a test's failure message.
func (c *Capture) Output() string {
	b, _ := os.ReadFile(c.out.Name())
	select {
	case <-c.done:
		return string(b) + "(tcpdump has exited)"
	default:
		return string(b) + "(tcpdump is running)"
	}
}

// Stop ends the capture. Idempotent.
func (c *Capture) Stop() {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	c.out.Close()
}

// ErrPcap wraps every error of ReadPcap.
var ErrPcap = errors.New("netlab: pcap")

// ReadPcap reads the TCP segments of a classic pcap file with Ethernet
// (linktype 1) or Linux cooked (113) frames, microsecond timestamps, IPv4
// or IPv6 (no extension headers). A record cut short at the end of the file
// (tcpdump still writing) ends the list; other packets are skipped.
func ReadPcap(b []byte) ([]Segment, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("%w: %d bytes, no file header", ErrPcap, len(b))
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: magic %#x", ErrPcap, binary.LittleEndian.Uint32(b))
	}
	link := bo.Uint32(b[20:])
	var l2 int
	switch link {
	case 1:
		l2 = 14
	case 113:
		l2 = 16
	default:
		return nil, fmt.Errorf("%w: link type %d", ErrPcap, link)
	}
	var segs []Segment
	for p := b[24:]; len(p) >= 16; {
		sec, usec, incl := bo.Uint32(p), bo.Uint32(p[4:]), int(bo.Uint32(p[8:]))
		if len(p) < 16+incl {
			break
		}
		frame := p[16 : 16+incl]
		p = p[16+incl:]
		if len(frame) < l2 {
			continue
		}
		etherType := binary.BigEndian.Uint16(frame[l2-2:])
		if s, ok := tcpSegment(etherType, frame[l2:]); ok {
			s.Time = time.Unix(int64(sec), int64(usec)*1000)
			segs = append(segs, s)
		}
	}
	return segs, nil
}

func tcpSegment(etherType uint16, ip []byte) (Segment, bool) {
	var src, dst netip.Addr
	var tcp []byte
	var ttl uint8
	switch etherType {
	case 0x0800:
		if len(ip) < 20 || ip[9] != 6 {
			return Segment{}, false
		}
		ihl, total := int(ip[0]&0x0f)*4, int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total > len(ip) || total < ihl {
			return Segment{}, false
		}
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		tcp, ttl = ip[ihl:total], ip[8]
	case 0x86dd:
		if len(ip) < 40 || ip[6] != 6 {
			return Segment{}, false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+plen > len(ip) {
			return Segment{}, false
		}
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		tcp, ttl = ip[40:40+plen], ip[7]
	default:
		return Segment{}, false
	}
	if len(tcp) < 20 {
		return Segment{}, false
	}
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return Segment{}, false
	}
	return Segment{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp)),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:])),
		Flags:   tcp[13],
		Seq:     binary.BigEndian.Uint32(tcp[4:]),
		TTL:     ttl,
		Payload: append([]byte(nil), tcp[off:]...),
	}, true
}
