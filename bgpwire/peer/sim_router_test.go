package peer

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/heraldlb/herald/bgpwire"
)

// What the simulated router sends.

// routerOpen is the router's OPEN: mostly acceptable, with the variations a
// real router might send.
func (s *sim) routerOpen(v byte) []byte {
	o := bgpwire.Open{Version: 4, AS: s.peerAS(), HoldTime: 90, Identifier: basePeerID}
	c := &o.Capabilities
	c.FourOctetAS = v&1 == 0
	c.RouteRefresh = v&2 == 0
	c.EnhancedRouteRefresh = v&4 != 0
	c.ExtendedMessage = v&8 != 0
	c.Multiprotocol = []bgpwire.Family{bgpwire.IPv4Unicast, bgpwire.IPv6Unicast}
	if v&16 != 0 {
		c.Multiprotocol = c.Multiprotocol[:1]
	}
	if v&32 != 0 {
		c.ExtendedNextHop = []bgpwire.ExtendedNextHop{{Family: bgpwire.IPv4Unicast, NextHopAFI: bgpwire.AFIIPv6}}
		c.GracefulRestart = &bgpwire.GracefulRestart{RestartTime: 120, Restarting: true}
	}
	switch v >> 6 {
	case 1:
		o.HoldTime = [4]uint16{0, 3, 2, 65535}[v>>4&3]
	case 2:
		o.Identifier = netip.MustParseAddr("10.0.0.3")
	case 3:
		if v&16 != 0 {
			o.AS = 64999 // contradicts the configuration (or is, by chance, a dynamic kind's)
		}
	}
	if !c.FourOctetAS && o.AS > 0xffff {
		o.AS = bgpwire.ASTrans
	}
	b, _ := bgpwire.AppendOpen(nil, &o)
	return b
}

// routerUpdates are UPDATEs a router might send: good ones and each kind of
// malformed one.
var routerUpdates = func() [][]byte {
	msg := func(body string) []byte {
		body = strings.ReplaceAll(body, " ", "")
		b := make([]byte, 0, 64)
		for range 16 {
			b = append(b, 0xff)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(bgpwire.HeaderLen+len(body)/2))
		b = append(b, byte(bgpwire.TypeUpdate))
		for i := 0; i+1 < len(body); i += 2 {
			var v byte
			fmt.Sscanf(body[i:i+2], "%02x", &v)
			b = append(b, v)
		}
		return b
	}
	return [][]byte{
		msg("0000 0000"), // End-of-RIB
		msg("0000 0014 40010100 40020602010000fc01 400304c0000201 180a0000"),
		msg("0000 0015 4001020000 40020602010000fc01 400304c0000201 180a0000"),
		msg("0000 0006 800f03000201 800f03000201"),
		msg("0000 001a 40010100 40020602010000fc01 400304c0000201 406300 180a0000"),
		msg("0010 0000"),
		msg("0000 0017 40010100 40020602010000fde9 400304c0000201 40050400000064 180a0000"),
		msg("0000 0005 800f020002"),
	}
}()
