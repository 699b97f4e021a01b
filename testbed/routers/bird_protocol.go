package routers

import (
	"context"
	"net/netip"
	"slices"
	"strings"
)

// BIRDProtocol is what BIRD's `show protocols all NAME` says of the BGP
// protocol of one neighbor.
type BIRDProtocol struct {
	// State is the BGP state ("Established", "Active", ...); Info the
	// summary row's info column ("Established", "Active Socket: ...",
	// "Idle Received: Bad peer AS", ...).
	State, Info string
	// LastError is the "Last error:" line, empty when there is none.
	LastError string
	// LocalCaps and NeighborCaps are the capabilities BIRD offered and
	// the neighbor offered, by BIRD's names ("Route refresh", "Extended
	// message", "4-octet AS numbers", ...), without their detail lines.
	LocalCaps, NeighborCaps []string
	// Raw is the whole output.
	Raw string
}

// ExtendedMessage reports whether both sides offered RFC 8654 extended
// messages.
func (p BIRDProtocol) ExtendedMessage() bool {
	return slices.Contains(p.LocalCaps, "Extended message") && slices.Contains(p.NeighborCaps, "Extended message")
}

// Protocol reads `show protocols all` for the protocol of neighbor.
func (b *BIRD) Protocol(ctx context.Context, neighbor netip.Addr) (BIRDProtocol, error) {
	name, err := b.peerName(neighbor)
	if err != nil {
		return BIRDProtocol{}, err
	}
	out, err := b.Exec(ctx, "show protocols all "+name)
	if err != nil {
		return BIRDProtocol{}, err
	}
	return parseBIRDProtocol(out, name), nil
}

// parseBIRDProtocol reads `show protocols all NAME`: a summary row, then
// "BGP state:", "Last error:", and the capability lists, each a heading
// indented by 4 with its capabilities indented by 6 (and their details by
// 8).
func parseBIRDProtocol(out, name string) BIRDProtocol {
	p := BIRDProtocol{Raw: out}
	var caps *[]string
	for _, line := range strings.Split(out, "\n") {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		text := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, name+" "):
			// name proto table state since(date time) info
			f := strings.Fields(line)
			if len(f) > 6 {
				p.Info = strings.Join(f[6:], " ")
			}
		case strings.HasPrefix(text, "BGP state:"):
			p.State = strings.TrimSpace(strings.TrimPrefix(text, "BGP state:"))
		case strings.HasPrefix(text, "Last error:"):
			p.LastError = strings.TrimSpace(strings.TrimPrefix(text, "Last error:"))
		case indent == 4 && text == "Local capabilities":
			caps = &p.LocalCaps
		case indent == 4 && text == "Neighbor capabilities":
			caps = &p.NeighborCaps
		case indent <= 4:
			caps = nil
		case indent == 6 && caps != nil:
			*caps = append(*caps, text)
		}
	}
	return p
}
