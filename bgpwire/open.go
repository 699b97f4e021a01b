package bgpwire

import (
	"encoding/binary"
	"net/netip"
)

// AFI is an address family identifier (IANA).
type AFI uint16

// SAFI is a subsequent address family identifier (IANA).
type SAFI uint8

// Address families Herald uses.
const (
	AFIIPv4     AFI  = 1
	AFIIPv6     AFI  = 2
	SAFIUnicast SAFI = 1
)

// Family is an AFI/SAFI pair.
type Family struct {
	AFI  AFI
	SAFI SAFI
}

// Families Herald announces.
var (
	IPv4Unicast = Family{AFIIPv4, SAFIUnicast}
	IPv6Unicast = Family{AFIIPv6, SAFIUnicast}
)

// Capability codes (IANA "Capability Codes").
const (
	CapMultiprotocol        = 1
	CapRouteRefresh         = 2
	CapExtendedNextHop      = 5 // RFC 8950
	CapExtendedMessage      = 6 // RFC 8654
	CapGracefulRestart      = 64
	CapFourOctetAS          = 65
	CapEnhancedRouteRefresh = 70
)

// Open is an OPEN message (RFC 4271 §4.2) with its capabilities (RFC 5492).
type Open struct {
	// Version is 4; the decoder rejects anything else.
	Version uint8
	// AS is the speaker's AS number: the 4-octet value of capability 65
	// when present, else the 2-octet My Autonomous System field. The
	// encoder writes AS_TRANS in the 2-octet field when AS > 65535.
	AS uint32
	// WireAS is the 2-octet My Autonomous System field as received. The
	// encoder ignores it.
	WireAS   uint16
	HoldTime uint16
	// Identifier is the BGP identifier, an IPv4 address.
	Identifier   netip.Addr
	Capabilities Capabilities
}

// Capabilities are the capabilities an OPEN advertises. Decoding resets
// every field and reuses the slices' storage; a decoded GracefulRestart
// points into the Capabilities value itself, so copy *GracefulRestart, not
// the pointer, to keep it past the next decode.
type Capabilities struct {
	Multiprotocol        []Family
	RouteRefresh         bool
	EnhancedRouteRefresh bool
	ExtendedMessage      bool
	// ExtendedNextHop lists NLRI families that may carry a next hop of
	// another address family (RFC 8950), e.g. IPv4 unicast over IPv6.
	ExtendedNextHop []ExtendedNextHop
	// FourOctetAS is set when capability 65 is present; Open.AS holds its
	// value.
	FourOctetAS     bool
	GracefulRestart *GracefulRestart
	// Unknown holds capabilities this package does not interpret, in the
	// order received; their values point into the decoded message.
	Unknown []RawCapability
	// gr is the storage GracefulRestart points to after decoding, so a
	// reused Open does not allocate.
	gr GracefulRestart
}

// ExtendedNextHop is one tuple of the extended next hop capability.
type ExtendedNextHop struct {
	Family     Family // NLRI family; AFI 1 for IPv4
	NextHopAFI AFI
}

// GracefulRestart is the graceful restart capability (RFC 4724, with the
// N bit of RFC 8538).
type GracefulRestart struct {
	// Restarting is the R bit: the sender has restarted.
	Restarting bool
	// Notification is the N bit: the sender keeps graceful restart for
	// NOTIFICATION messages other than Hard Reset (RFC 8538).
	Notification bool
	// RestartTime is in seconds, at most 4095.
	RestartTime uint16
	Families    []GracefulRestartFamily
}

// GracefulRestartFamily is one address family of the graceful restart
// capability.
type GracefulRestartFamily struct {
	Family Family
	// ForwardingPreserved is the F bit.
	ForwardingPreserved bool
}

// RawCapability is a capability kept as bytes.
type RawCapability struct {
	Code  uint8
	Value []byte
}

// Optional parameter type 2 carries capabilities (RFC 5492); RFC 9072 adds
// the extended optional parameters length.
const (
	optParamCapabilities = 2
	optParamExtended     = 255
)

func (o *Open) decodeBody(b []byte) error {
	// The header check guarantees len(b) >= 10.
	o.Version = b[0]
	o.WireAS = binary.BigEndian.Uint16(b[1:])
	o.AS = uint32(o.WireAS)
	o.HoldTime = binary.BigEndian.Uint16(b[3:])
	o.Identifier = netip.AddrFrom4([4]byte(b[5:9]))
	c := &o.Capabilities
	*c = Capabilities{
		Multiprotocol:   c.Multiprotocol[:0],
		ExtendedNextHop: c.ExtendedNextHop[:0],
		Unknown:         c.Unknown[:0],
		gr:              GracefulRestart{Families: c.gr.Families[:0]},
	}
	// The message checks of RFC 4271 §6.2 that need no configuration are
	// made here and nowhere else; the checks of the peer (its AS, an
	// internal peer using our identifier) are fsm.CheckOpen's.
	if o.Version != 4 {
		// RFC 4271 §6.2: data is the largest supported version, 2 octets.
		return newError(CodeOpenMessage, SubcodeUnsupportedVersionNumber, versionData[:], ErrUnsupportedVersion)
	}
	if o.HoldTime == 1 || o.HoldTime == 2 {
		return newError(CodeOpenMessage, SubcodeUnacceptableHoldTime, nil, ErrUnacceptableHoldTime)
	}
	if id := o.Identifier.As4(); binary.BigEndian.Uint32(id[:]) == 0 {
		return newError(CodeOpenMessage, SubcodeBadBGPIdentifier, nil, ErrBadBGPIdentifier)
	}
	params := b[10:]
	plen, elen := int(b[9]), 1
	if plen == optParamExtended && len(params) > 0 && params[0] == optParamExtended {
		// RFC 9072: 255, 255, then a 2-octet length, and each parameter
		// gets a 2-octet length too.
		if len(params) < 3 {
			return malformedOpen()
		}
		plen, elen = int(binary.BigEndian.Uint16(params[1:])), 2
		params = params[3:]
	}
	if plen != len(params) {
		return malformedOpen()
	}
	for len(params) > 0 {
		if len(params) < 1+elen {
			return malformedOpen()
		}
		ptype := params[0]
		var l int
		if elen == 1 {
			l = int(params[1])
		} else {
			l = int(binary.BigEndian.Uint16(params[1:]))
		}
		params = params[1+elen:]
		if l > len(params) {
			return malformedOpen()
		}
		value := params[:l]
		params = params[l:]
		if ptype != optParamCapabilities {
			return newError(CodeOpenMessage, SubcodeUnsupportedOptionalParam, nil, ErrUnsupportedOptParam)
		}
		if err := o.decodeCapabilities(value); err != nil {
			return err
		}
	}
	return nil
}

var versionData = [2]byte{0, 4}

func malformedOpen() error {
	// RFC 4271 has no subcode for a malformed parameter list; implementations
	// send subcode 0 (unspecific), which RFC 4271 §6.2 permits.
	return newError(CodeOpenMessage, 0, nil, ErrMalformedOpen)
}

func malformedCapability(data []byte) error {
	return newError(CodeOpenMessage, 0, data, ErrMalformedCapability)
}

func (o *Open) decodeCapabilities(b []byte) error {
	c := &o.Capabilities
	for len(b) > 0 {
		if len(b) < 2 || int(b[1]) > len(b)-2 {
			return malformedCapability(nil)
		}
		code, v, whole := b[0], b[2:2+int(b[1])], b[:2+int(b[1])]
		b = b[2+int(b[1]):]
		switch code {
		case CapMultiprotocol:
			if len(v) != 4 {
				return malformedCapability(whole)
			}
			c.Multiprotocol = append(c.Multiprotocol, Family{AFI(binary.BigEndian.Uint16(v)), SAFI(v[3])})
		case CapRouteRefresh:
			c.RouteRefresh = true
		case CapEnhancedRouteRefresh:
			c.EnhancedRouteRefresh = true
		case CapExtendedMessage:
			c.ExtendedMessage = true
		case CapExtendedNextHop:
			if len(v)%6 != 0 {
				return malformedCapability(whole)
			}
			for ; len(v) > 0; v = v[6:] {
				c.ExtendedNextHop = append(c.ExtendedNextHop, ExtendedNextHop{
					Family:     Family{AFI(binary.BigEndian.Uint16(v)), SAFI(binary.BigEndian.Uint16(v[2:]))},
					NextHopAFI: AFI(binary.BigEndian.Uint16(v[4:])),
				})
			}
		case CapFourOctetAS:
			if len(v) != 4 {
				return malformedCapability(whole)
			}
			c.FourOctetAS = true
			o.AS = binary.BigEndian.Uint32(v)
		case CapGracefulRestart:
			if len(v) < 2 || (len(v)-2)%4 != 0 {
				return malformedCapability(whole)
			}
			gr := &c.gr
			gr.Restarting = v[0]&0x80 != 0
			gr.Notification = v[0]&0x40 != 0
			gr.RestartTime = binary.BigEndian.Uint16(v) & 0x0fff
			gr.Families = gr.Families[:0]
			for v = v[2:]; len(v) > 0; v = v[4:] {
				gr.Families = append(gr.Families, GracefulRestartFamily{
					Family:              Family{AFI(binary.BigEndian.Uint16(v)), SAFI(v[2])},
					ForwardingPreserved: v[3]&0x80 != 0,
				})
			}
			c.GracefulRestart = gr
		default:
			c.Unknown = append(c.Unknown, RawCapability{Code: code, Value: v})
		}
	}
	return nil
}

// AppendOpen appends the OPEN message o. Capabilities go in one optional
// parameter; when they exceed 255 bytes the RFC 9072 extended format is used.
func AppendOpen(dst []byte, o *Open) ([]byte, error) {
	start := len(dst)
	dst = appendHeader(dst, TypeOpen)
	wireAS := uint16(ASTrans)
	if o.AS <= 0xffff {
		wireAS = uint16(o.AS)
	}
	id := o.Identifier.As4()
	dst = append(dst, 4, byte(wireAS>>8), byte(wireAS), byte(o.HoldTime>>8), byte(o.HoldTime), id[0], id[1], id[2], id[3], 0)
	plenAt := len(dst) - 1
	dst = append(dst, optParamCapabilities, 0)
	capsStart := len(dst)
	dst = o.appendCapabilities(dst)
	n := len(dst) - capsStart
	switch {
	case n == 0:
		dst = dst[:plenAt+1] // no optional parameters at all
	case n+2 <= 255:
		dst[plenAt] = byte(n + 2)
		dst[capsStart-1] = byte(n)
	default:
		// RFC 9072: insert 255 (non-extended length), 255 (type), 2-octet
		// length, and widen the parameter length to 2 octets.
		if n+3 > 0xffff {
			return dst[:start], ErrParameterTooLong
		}
		dst = append(dst, 0, 0, 0, 0)
		copy(dst[capsStart+4:], dst[capsStart:capsStart+n])
		dst[plenAt] = optParamExtended
		dst[plenAt+1] = optParamExtended
		binary.BigEndian.PutUint16(dst[plenAt+2:], uint16(n+3))
		dst[plenAt+4] = optParamCapabilities
		binary.BigEndian.PutUint16(dst[plenAt+5:], uint16(n))
	}
	return finishMessage(dst, start, MaxMessageLen)
}

func (o *Open) appendCapabilities(dst []byte) []byte {
	c := &o.Capabilities
	for _, f := range c.Multiprotocol {
		dst = append(dst, CapMultiprotocol, 4, byte(f.AFI>>8), byte(f.AFI), 0, byte(f.SAFI))
	}
	if c.RouteRefresh {
		dst = append(dst, CapRouteRefresh, 0)
	}
	if c.EnhancedRouteRefresh {
		dst = append(dst, CapEnhancedRouteRefresh, 0)
	}
	if c.ExtendedMessage {
		dst = append(dst, CapExtendedMessage, 0)
	}
	// A capability value is at most 255 bytes; longer lists are split into
	// several instances of the capability, which RFC 5492 allows.
	for enh := c.ExtendedNextHop; len(enh) > 0; {
		k := min(len(enh), 255/6)
		dst = append(dst, CapExtendedNextHop, byte(6*k))
		for _, e := range enh[:k] {
			dst = append(dst, byte(e.Family.AFI>>8), byte(e.Family.AFI), 0, byte(e.Family.SAFI), byte(e.NextHopAFI>>8), byte(e.NextHopAFI))
		}
		enh = enh[k:]
	}
	if gr := c.GracefulRestart; gr != nil {
		fams := gr.Families[:min(len(gr.Families), (255-2)/4)]
		flags := gr.RestartTime & 0x0fff
		if gr.Restarting {
			flags |= 0x8000
		}
		if gr.Notification {
			flags |= 0x4000
		}
		dst = append(dst, CapGracefulRestart, byte(2+4*len(fams)), byte(flags>>8), byte(flags))
		for _, f := range fams {
			var fl byte
			if f.ForwardingPreserved {
				fl = 0x80
			}
			dst = append(dst, byte(f.Family.AFI>>8), byte(f.Family.AFI), byte(f.Family.SAFI), fl)
		}
	}
	if c.FourOctetAS {
		dst = append(dst, CapFourOctetAS, 4, byte(o.AS>>24), byte(o.AS>>16), byte(o.AS>>8), byte(o.AS))
	}
	for _, u := range c.Unknown {
		v := u.Value[:min(len(u.Value), 255)]
		dst = append(dst, u.Code, byte(len(v)))
		dst = append(dst, v...)
	}
	return dst
}
