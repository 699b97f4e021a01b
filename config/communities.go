package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/heraldlb/herald/api/v1beta1"
)

// Community is a BGP community: a standard one (RFC 1997), whose value is
// Standard = high<<16 | low, or, when Large is set, a large one (RFC 8092)
// of three 32-bit parts. It is comparable, so it can key maps.
type Community struct {
	Large    bool
	Standard uint32

	GlobalAdmin uint32
	LocalData1  uint32
	LocalData2  uint32
}

// Well-known standard communities (RFC 1997, 3765, 7999, 8326).
var (
	NoExport          = Community{Standard: 0xFFFFFF01}
	NoAdvertise       = Community{Standard: 0xFFFFFF02}
	NoExportSubconfed = Community{Standard: 0xFFFFFF03}
	NoPeer            = Community{Standard: 0xFFFFFF04}
	Blackhole         = Community{Standard: 0xFFFF029A}
	GracefulShutdown  = Community{Standard: 0xFFFF0000}
)

// wellKnownCommunities maps the names Herald accepts, normalised to lower
// case with dashes, to their values.
var wellKnownCommunities = map[string]Community{
	"no-export":           NoExport,
	"no-advertise":        NoAdvertise,
	"no-export-subconfed": NoExportSubconfed,
	"no-peer":             NoPeer,
	"blackhole":           Blackhole,
	"graceful-shutdown":   GracefulShutdown,
}

// String prints the canonical form: "A:B" or "large:A:B:C".
func (c Community) String() string {
	if c.Large {
		return fmt.Sprintf("large:%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2)
	}
	return fmt.Sprintf("%d:%d", c.Standard>>16, c.Standard&0xFFFF)
}

// ParseCommunity parses a community literal: "A:B" with 16-bit decimal A
// and B, "large:A:B:C" with 32-bit decimal parts, or a well-known name
// (no-export, no-advertise, no-export-subconfed, no-peer, blackhole,
// graceful-shutdown; case and '_' for '-' do not matter). Aliases defined
// by Community objects are resolved by the compiler, not here. The error
// wraps ErrInvalidCommunity.
func ParseCommunity(s string) (Community, error) {
	if c, ok := wellKnownCommunities[strings.ReplaceAll(strings.ToLower(s), "_", "-")]; ok {
		return c, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) == 4 && strings.EqualFold(parts[0], "large") {
		var v [3]uint32
		for i, p := range parts[1:] {
			n, err := parseCommunityPart(p, 32)
			if err != nil {
				return Community{}, fmt.Errorf("%w: large community part %d %q: %v", ErrInvalidCommunity, i+1, p, err)
			}
			v[i] = uint32(n)
		}
		return Community{Large: true, GlobalAdmin: v[0], LocalData1: v[1], LocalData2: v[2]}, nil
	}
	if len(parts) != 2 {
		return Community{}, fmt.Errorf("%w: want \"A:B\", \"large:A:B:C\" or a well-known name", ErrInvalidCommunity)
	}
	var v [2]uint32
	for i, p := range parts {
		n, err := parseCommunityPart(p, 16)
		if err != nil {
			return Community{}, fmt.Errorf("%w: %q: %v", ErrInvalidCommunity, p, err)
		}
		v[i] = uint32(n)
	}
	return Community{Standard: v[0]<<16 | v[1]}, nil
}

func parseCommunityPart(s string, bits int) (uint64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a decimal number")
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("larger than %d bits", bits)
	}
	return n, nil
}

// compileCommunityAliases builds the alias table from every Community
// object. An alias defined twice, even with the same value, is an error:
// which one wins would otherwise depend on list order.
func compileCommunityAliases(objs []v1beta1.Community, d *diagnostics) map[string]Community {
	aliases := map[string]Community{}
	definedBy := map[string]string{}
	for _, obj := range objs {
		r := ref{"Community", obj.Namespace, obj.Name}
		for i, a := range obj.Spec.Communities {
			field := index("spec.communities", i)
			if a.Name == "" {
				d.errorf(r, field+".name", "%w", ErrRequired)
				continue
			}
			if _, err := ParseCommunity(a.Name); err == nil {
				// Aliases are looked up first, so this one would
				// silently change what the literal means everywhere.
				d.errorf(r, field+".name", "%q: %w: an alias may not be a community value itself", a.Name, ErrInvalidName)
				continue
			}
			c, err := ParseCommunity(a.Value)
			if err != nil {
				d.errorf(r, field+".value", "%q: %w", a.Value, err)
				continue
			}
			if prev, dup := definedBy[a.Name]; dup {
				d.errorf(r, field+".name", "%q: %w: already defined by %s", a.Name, ErrDuplicateName, prev)
				continue
			}
			definedBy[a.Name] = r.String()
			aliases[a.Name] = c
		}
	}
	return aliases
}

// resolveCommunity turns one BGPAdvertisement community string into a
// value: an alias first (as MetalLB does), then a literal. A string with no
// colon that is not a well-known name can only have meant an alias.
func resolveCommunity(s string, aliases map[string]Community) (Community, error) {
	if c, ok := aliases[s]; ok {
		return c, nil
	}
	c, err := ParseCommunity(s)
	if err != nil && !strings.Contains(s, ":") {
		return Community{}, fmt.Errorf("%w: no Community object defines it and it is not a community value", ErrUnknownCommunity)
	}
	return c, err
}
