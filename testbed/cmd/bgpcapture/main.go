// Command bgpcapture records the BGP messages a real router sends, byte for
// byte, so bgpwire's decoder can be tested against them. It listens on one
// address, accepts one session, answers the OPEN with its own and keeps the
// session up with KEEPALIVEs, and writes every message it receives to
// <out>/<name>-<seq>-<type>.bin until the peer sends a NOTIFICATION, closes
// the connection, or -timeout passes. capture.sh runs it against FRR and BIRD
// in network namespaces.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldlb/herald/bgpwire"
)

func main() {
	listen := flag.String("listen", "0.0.0.0:179", "address to accept the router's session on")
	as := flag.Uint("as", 64512, "local AS")
	id := flag.String("id", "10.99.0.1", "local BGP identifier")
	out := flag.String("out", ".", "directory for the captured messages")
	name := flag.String("name", "capture", "file name prefix")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	if err := run(*listen, uint32(*as), netip.MustParseAddr(*id), *out, *name, *timeout); err != nil {
		log.Fatal(err)
	}
}

func run(listen string, as uint32, id netip.Addr, out, name string, timeout time.Duration) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	deadline := time.Now().Add(timeout)
	ln.(*net.TCPListener).SetDeadline(deadline)
	conn, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("no session: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	log.Printf("session from %s", conn.RemoteAddr())

	open := &bgpwire.Open{Version: 4, AS: as, HoldTime: 90, Identifier: id, Capabilities: bgpwire.Capabilities{
		Multiprotocol:   []bgpwire.Family{bgpwire.IPv4Unicast, bgpwire.IPv6Unicast},
		RouteRefresh:    true,
		FourOctetAS:     true,
		GracefulRestart: &bgpwire.GracefulRestart{RestartTime: 120},
	}}
	msg, err := bgpwire.AppendOpen(nil, open)
	if err != nil {
		return err
	}
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	go func() { // the session's KEEPALIVEs; the peer's hold time is at least 3 s
		for range time.Tick(time.Second) {
			if _, err := conn.Write(bgpwire.AppendKeepalive(nil)); err != nil {
				return
			}
		}
	}()

	var session bgpwire.Session
	var m bgpwire.Message
	header := make([]byte, bgpwire.HeaderLen)
	for seq := 0; ; seq++ {
		if _, err := io.ReadFull(conn, header); err != nil {
			if errors.Is(err, io.EOF) {
				log.Printf("peer closed the connection")
				return nil
			}
			return err
		}
		h, err := bgpwire.ParseHeader(header, bgpwire.MaxExtendedMessageLen)
		if err != nil {
			return err
		}
		raw := make([]byte, h.Length)
		copy(raw, header)
		if _, err := io.ReadFull(conn, raw[bgpwire.HeaderLen:]); err != nil {
			return err
		}
		file := filepath.Join(out, fmt.Sprintf("%s-%02d-%s.bin", name, seq, strings.ToLower(h.Type.String())))
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			return err
		}
		derr := m.Decode(raw, session)
		log.Printf("%s: %d bytes, decode error %v", file, len(raw), derr)
		switch h.Type {
		case bgpwire.TypeOpen:
			session = bgpwire.Negotiate(open, &m.Open)
			if _, err := conn.Write(bgpwire.AppendKeepalive(nil)); err != nil {
				return err
			}
		case bgpwire.TypeNotification:
			reason, _ := m.Notification.ShutdownReason()
			log.Printf("NOTIFICATION %s subcode %d %q", m.Notification.Code, m.Notification.Subcode, reason)
			return nil
		}
	}
}
