package bgpnet

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/config"
)

func TestOptionsValidate(t *testing.T) {
	v4, v6 := mustAddr("192.0.2.1"), mustAddr("2001:db8::1")
	for _, c := range []struct {
		name  string
		o     Options
		error string // "" when valid
	}{
		{"IPv4 peer", Options{Peer: v4}, ""},
		{"IPv6 peer with source, VRF, password and GTSM", Options{Peer: v6, Source: mustAddr("2001:db8::2"), VRF: "red",
			Password: strings.Repeat("k", 80), TTL: 255, MinTTL: 254}, ""},
		{"link-local peer with zone", Options{Peer: mustAddr("fe80::1%eth0")}, ""},
		{"link-local peer and source", Options{Peer: mustAddr("fe80::1%eth0"), Source: mustAddr("fe80::2%eth0")}, ""},
		{"no peer", Options{}, "no peer address"},
		{"unspecified peer", Options{Peer: mustAddr("0.0.0.0")}, "cannot be a BGP peer"},
		{"multicast peer", Options{Peer: mustAddr("ff02::1")}, "cannot be a BGP peer"},
		{"IPv4-mapped peer", Options{Peer: mustAddr("::ffff:192.0.2.1")}, "IPv4-mapped"},
		{"link-local peer without zone", Options{Peer: mustAddr("fe80::1")}, "needs its interface as zone"},
		{"zone on a global address", Options{Peer: mustAddr("2001:db8::1%eth0")}, "has a zone but is not link-local"},
		{"source of the other family", Options{Peer: v4, Source: v6}, "not of the peer address"},
		{"IPv4-mapped source", Options{Peer: v4, Source: mustAddr("::ffff:192.0.2.9")}, "IPv4-mapped"},
		{"unspecified source", Options{Peer: v4, Source: mustAddr("0.0.0.0")}, "cannot be bound"},
		{"link-local source without zone", Options{Peer: mustAddr("fe80::1%eth0"), Source: mustAddr("fe80::2")}, "source address fe80::2 needs"},
		{"zone on a global source", Options{Peer: v6, Source: mustAddr("2001:db8::2%eth0")}, "has a zone but is not link-local"},
		{"password too long", Options{Peer: v4, Password: strings.Repeat("k", 81)}, "81 bytes; the kernel takes at most 80"},
		{"VRF name too long", Options{Peer: v4, VRF: "a-very-long-vrf-name"}, "longer than 15 bytes"},
		{"VRF name with a slash", Options{Peer: v4, VRF: "red/blue"}, "not a valid interface name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.Validate()
			if c.error == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), c.error) {
				t.Fatalf("error %v, want ErrInvalidOptions saying %q", err, c.error)
			}
		})
	}
}

func TestOptionsFor(t *testing.T) {
	base := func(mod func(p *config.Peer)) *config.Peer {
		p := &config.Peer{Name: "r1", MyASN: 64512, ASN: 64513, Address: mustAddr("192.0.2.1"), Port: 179,
			SourceAddress: mustAddr("192.0.2.10"), VRF: "red", Password: "s3cret"}
		if mod != nil {
			mod(p)
		}
		return p
	}
	for _, c := range []struct {
		name string
		peer *config.Peer
		want Options
	}{
		{"single-hop eBGP: any TTL, as routers send eBGP with TTL 1 by default", base(nil),
			Options{Peer: mustAddr("192.0.2.1"), Port: 179, Source: mustAddr("192.0.2.10"), VRF: "red", Password: "s3cret", TTL: 255}},
		{"single-hop eBGP with ttlSecurity: GTSM", base(func(p *config.Peer) { p.TTLSecurity = true }),
			Options{Peer: mustAddr("192.0.2.1"), Port: 179, Source: mustAddr("192.0.2.10"), VRF: "red", Password: "s3cret", TTL: 255, MinTTL: 254}},
		{"eBGP multihop: any TTL", base(func(p *config.Peer) { p.EBGPMultiHop = true }),
			Options{Peer: mustAddr("192.0.2.1"), Port: 179, Source: mustAddr("192.0.2.10"), VRF: "red", Password: "s3cret", TTL: 255}},
		{"iBGP: any TTL", base(func(p *config.Peer) { p.ASN = 64512 }),
			Options{Peer: mustAddr("192.0.2.1"), Port: 179, Source: mustAddr("192.0.2.10"), VRF: "red", Password: "s3cret", TTL: 255}},
		{"dynamic ASN internal: any TTL", base(func(p *config.Peer) { p.ASN = 0; p.DynamicASN = v1beta2.InternalASNMode }),
			Options{Peer: mustAddr("192.0.2.1"), Port: 179, Source: mustAddr("192.0.2.10"), VRF: "red", Password: "s3cret", TTL: 255}},
		{"dynamic ASN external with ttlSecurity: GTSM", base(func(p *config.Peer) {
			p.ASN, p.DynamicASN, p.TTLSecurity = 0, v1beta2.ExternalASNMode, true
		}),
			Options{Peer: mustAddr("192.0.2.1"), Port: 179, Source: mustAddr("192.0.2.10"), VRF: "red", Password: "s3cret", TTL: 255, MinTTL: 254}},
		{"unnumbered with ttlSecurity: the address is the caller's to find", base(func(p *config.Peer) {
			p.Address, p.SourceAddress, p.Interface, p.VRF, p.TTLSecurity = netip.Addr{}, netip.Addr{}, "eth1", "", true
		}), Options{Port: 179, Password: "s3cret", TTL: 255, MinTTL: 254}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := OptionsFor(c.peer); got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}
