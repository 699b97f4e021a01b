package bgpnet

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

func TestPickNeighbour(t *testing.T) {
	now := time.Unix(1000, 0)
	const expiry = 31 * time.Second
	fresh, stale := now.Add(-time.Second), now.Add(-expiry-time.Second)
	a, b, c := mustAddr("fe80::a"), mustAddr("fe80::b"), mustAddr("fe80::c")
	for _, tc := range []struct {
		name      string
		seen      map[netip.Addr]neighbourEntry
		want      netip.Addr
		wantErr   error
		errSaying string
	}{
		{"nobody", nil, netip.Addr{}, ErrNoNeighbour, ""},
		{"one host", map[netip.Addr]neighbourEntry{a: {answeredProbe, fresh}}, a, nil, ""},
		{"one router", map[netip.Addr]neighbourEntry{b: {sentAdvertisement, fresh}}, b, nil, ""},
		{"a router wins over hosts", map[netip.Addr]neighbourEntry{
			a: {answeredProbe, fresh}, b: {sentAdvertisement, fresh}, c: {answeredProbe, fresh}}, b, nil, ""},
		{"two routers", map[netip.Addr]neighbourEntry{
			a: {sentAdvertisement, fresh}, c: {sentAdvertisement, fresh}, b: {answeredProbe, fresh}},
			netip.Addr{}, nil, "2 neighbours sent Router Advertisements ([fe80::a fe80::c])"},
		{"two hosts", map[netip.Addr]neighbourEntry{a: {answeredProbe, fresh}, b: {answeredProbe, fresh}},
			netip.Addr{}, nil, "2 neighbours answered the echo probe"},
		{"a stale router is forgotten", map[netip.Addr]neighbourEntry{
			a: {sentAdvertisement, stale}, b: {answeredProbe, fresh}}, b, nil, ""},
		{"only stale ones", map[netip.Addr]neighbourEntry{a: {sentAdvertisement, stale}}, netip.Addr{}, ErrNoNeighbour, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickNeighbour(tc.seen, now, expiry)
			switch {
			case tc.errSaying != "":
				if err == nil || !strings.Contains(err.Error(), tc.errSaying) {
					t.Fatalf("error %v, want one saying %q", err, tc.errSaying)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("picked %v, want %v", got, tc.want)
			}
		})
	}
}

const testEchoID = 0x4242

// Messages built with mdlayher/ndp and x/net/icmp, apart from the
// classifier.
func routerAdvertisement(t testing.TB, opts ...ndp.Option) []byte {
	t.Helper()
	b, err := ndp.MarshalMessage(&ndp.RouterAdvertisement{CurrentHopLimit: 64, RouterLifetime: 1800 * time.Second, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func echo(t testing.TB, typ ipv6.ICMPType, id int) []byte {
	t.Helper()
	b, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("x")}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func neighbourSolicitation(t testing.TB) []byte {
	t.Helper()
	b, err := ndp.MarshalMessage(&ndp.NeighborSolicitation{TargetAddress: mustAddr("fe80::1")})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassifyNeighbour(t *testing.T) {
	ll, global := mustAddr("fe80::2"), mustAddr("2001:db8::2")
	slla := &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	badCode := routerAdvertisement(t)
	badCode[1] = 1
	truncatedOption := routerAdvertisement(t, slla)
	truncatedOption = truncatedOption[:len(truncatedOption)-3]
	for _, c := range []struct {
		name     string
		msg      []byte
		from     netip.Addr
		hopLimit int
		want     neighbourKind
	}{
		{"RA from a link-local address", routerAdvertisement(t, slla), ll, 255, sentAdvertisement},
		{"RA, hop limit unknown", routerAdvertisement(t), ll, -1, sentAdvertisement},
		{"RA that crossed a router", routerAdvertisement(t), ll, 254, notNeighbour},
		{"RA from a global address", routerAdvertisement(t), global, 255, notNeighbour},
		{"RA with a nonzero code", badCode, ll, 255, notNeighbour},
		{"RA with a truncated option", truncatedOption, ll, 255, notNeighbour},
		{"our echo's reply", echo(t, ipv6.ICMPTypeEchoReply, testEchoID), ll, 64, answeredProbe},
		{"someone else's echo reply", echo(t, ipv6.ICMPTypeEchoReply, testEchoID+1), ll, 64, notNeighbour},
		{"an echo request", echo(t, ipv6.ICMPTypeEchoRequest, testEchoID), ll, 64, notNeighbour},
		{"our echo's reply from a global address", echo(t, ipv6.ICMPTypeEchoReply, testEchoID), global, 64, notNeighbour},
		{"a neighbour solicitation", neighbourSolicitation(t), ll, 255, notNeighbour},
		{"too short", []byte{134, 0, 0}, ll, 255, notNeighbour},
		{"from IPv4", echo(t, ipv6.ICMPTypeEchoReply, testEchoID), mustAddr("192.0.2.1"), 64, notNeighbour},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := classifyNeighbour(c.msg, c.from, c.hopLimit, testEchoID); got != c.want {
				t.Errorf("kind %d, want %d", got, c.want)
			}
		})
	}
}

// Whatever arrives on the socket, the classifier does not panic, and it
// only calls a sender a neighbour for the two messages it knows.
func FuzzClassifyNeighbour(f *testing.F) {
	f.Add(routerAdvertisement(f), 255)
	f.Add(routerAdvertisement(f, &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: net.HardwareAddr{2, 0, 0, 0, 0, 2}}), 255)
	f.Add(echo(f, ipv6.ICMPTypeEchoReply, testEchoID), 64)
	f.Add(neighbourSolicitation(f), 255)
	f.Fuzz(func(t *testing.T, b []byte, hopLimit int) {
		kind := classifyNeighbour(b, mustAddr("fe80::2"), hopLimit, testEchoID)
		switch kind {
		case sentAdvertisement:
			if b[0] != byte(ipv6.ICMPTypeRouterAdvertisement) {
				t.Fatalf("type %d taken for a Router Advertisement", b[0])
			}
		case answeredProbe:
			if b[0] != byte(ipv6.ICMPTypeEchoReply) || binary.BigEndian.Uint16(b[4:6]) != testEchoID {
				t.Fatalf("% x taken for a reply to our probe", b[:6])
			}
		}
	})
}
