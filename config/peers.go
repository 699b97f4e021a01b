package config

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/heraldlb/herald/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func convertPeers(in Input, d *diagnostics) []v1beta2.BGPPeer {
	peers := slices.Clone(in.BGPPeers)
	for _, p := range in.BGPPeersV1beta1 {
		d.warnf(ref{"BGPPeer", p.Namespace, p.Name}, "apiVersion",
			"metallb.io/v1beta1 BGPPeer is deprecated; it is read as metallb.io/v1beta2, write it so")
		var v2 v1beta2.BGPPeer
		_ = p.ConvertTo(&v2) // v1beta1 -> v1beta2 never fails: v1beta1 is a subset
		peers = append(peers, v2)
	}
	return peers
}

func compilePeers(objs []v1beta2.BGPPeer, in Input, bfd bfdProfiles, d *diagnostics) []*Peer {
	seen := map[string]bool{}
	var out []*Peer
	for _, obj := range objs {
		r := ref{"BGPPeer", obj.Namespace, obj.Name}
		if !checkName(r, seen, d) {
			continue
		}
		out = append(out, compilePeer(r, obj.Spec, in, bfd, d))
	}
	slices.SortFunc(out, func(a, b *Peer) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func compilePeer(r ref, s v1beta2.BGPPeerSpec, in Input, bfd bfdProfiles, d *diagnostics) *Peer {
	p := &Peer{
		Name: r.Name, Namespace: r.Namespace,
		MyASN: s.MyASN, ASN: s.ASN, DynamicASN: s.DynamicASN, LocalASN: s.LocalASN,
		Interface: s.Interface, Port: s.Port, VRF: s.VRFName,
		EnableGracefulRestart: s.EnableGracefulRestart, EBGPMultiHop: s.EBGPMultiHop, TTLSecurity: s.TTLSecurity,
		DisableMP: s.DisableMP, DualStackAddressFamily: s.DualStackAddressFamily,
	}
	if s.MyASN == 0 {
		d.errorf(r, "spec.myASN", "%w: 0 is reserved", ErrRequired)
	}
	switch {
	case s.ASN == 0 && s.DynamicASN == "":
		d.errorf(r, "spec.peerASN", "%w: set peerASN or dynamicASN", ErrRequired)
	case s.ASN != 0 && s.DynamicASN != "":
		d.errorf(r, "spec.dynamicASN", "%w: peerASN and dynamicASN", ErrMutuallyExclusive)
	case s.DynamicASN != "" && s.DynamicASN != v1beta2.InternalASNMode && s.DynamicASN != v1beta2.ExternalASNMode:
		d.errorf(r, "spec.dynamicASN", "%q: %w: must be internal or external", s.DynamicASN, ErrInvalidValue)
	}
	if s.EBGPMultiHop && p.IBGP() && (s.ASN != 0 || s.DynamicASN != "") {
		d.errorf(r, "spec.ebgpMultiHop", "%w: an iBGP session has no eBGP hop limit to lift", ErrInvalidValue)
	}
	switch {
	case s.TTLSecurity && s.EBGPMultiHop:
		d.errorf(r, "spec.ttlSecurity", "%w: ttlSecurity and ebgpMultiHop (GTSM admits only a directly connected peer)", ErrMutuallyExclusive)
	case s.TTLSecurity && p.IBGP() && (s.ASN != 0 || s.DynamicASN != ""):
		d.errorf(r, "spec.ttlSecurity", "%w: GTSM is for directly connected eBGP peers, and this session is iBGP", ErrInvalidValue)
	}

	switch {
	case s.Address == "" && s.Interface == "":
		d.errorf(r, "spec.peerAddress", "%w: set peerAddress or interface", ErrRequired)
	case s.Address != "" && s.Interface != "":
		d.errorf(r, "spec.interface", "%w: peerAddress and interface", ErrMutuallyExclusive)
	case s.Address != "":
		p.Address = parseAddr(r, "spec.peerAddress", s.Address, d)
	}
	if strings.ContainsAny(s.Interface, "\r\n \t") {
		d.errorf(r, "spec.interface", "%q: %w: no whitespace allowed", s.Interface, ErrInvalidValue)
	}
	if s.SrcAddress != "" {
		p.SourceAddress = parseAddr(r, "spec.sourceAddress", s.SrcAddress, d)
	}
	if s.RouterID != "" {
		if p.RouterID = parseAddr(r, "spec.routerID", s.RouterID, d); p.RouterID.Is6() {
			d.errorf(r, "spec.routerID", "%q: %w: a BGP identifier is an IPv4 address", s.RouterID, ErrInvalidValue)
		}
	}
	if s.Port == 0 || s.Port > MaxPeerPort {
		d.errorf(r, "spec.peerPort", "%d: %w: must be 1 to %d (omit it for %d)", s.Port, ErrOutOfRange, MaxPeerPort, DefaultPeerPort)
	}
	if strings.ContainsAny(s.VRFName, "\r\n \t") {
		d.errorf(r, "spec.vrf", "%q: %w: no whitespace allowed", s.VRFName, ErrInvalidValue)
	}

	p.HoldTime, p.KeepaliveTime = compileTimers(r, s.HoldTime, s.KeepaliveTime, d)
	p.ConnectTime = DefaultConnectTime
	if s.ConnectTime != nil {
		p.ConnectTime = s.ConnectTime.Duration
		if p.ConnectTime < time.Second || p.ConnectTime > 65535*time.Second {
			d.errorf(r, "spec.connectTime", "%q: %w: must be 1s to 65535s", s.ConnectTime.Duration.String(), ErrConnectTime)
		}
	}

	p.Nodes = compileNodeSelection(r, "spec.nodeSelectors", s.NodeSelectors, in.Nodes, d)
	p.Password = compilePassword(r, s, in.Secrets, d)
	if s.BFDProfile != "" {
		if p.BFD = bfd.profiles[s.BFDProfile]; p.BFD == nil {
			d.errorf(r, "spec.bfdProfile", "%q: %w", s.BFDProfile, ErrUnknownBFDProfile)
		}
		p.BFDAuth = bfd.auth[s.BFDProfile]
	}
	return p
}

func parseAddr(r ref, field, s string, d *diagnostics) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		d.errorf(r, field, "%q: %w: not an IP address", s, ErrInvalidValue)
	}
	return a
}

// compileTimers applies the documented rules: hold time defaults to 90s;
// it is 0 or at least 3s, in whole seconds (the OPEN message carries
// seconds); a keepalive time needs an explicit hold time (the webhook rule
// MetalLB's documentation states, and the CRD's CEL rule) and must be
// shorter; it defaults to a third of the hold time.
func compileTimers(r ref, hold, keepalive *metav1.Duration, d *diagnostics) (time.Duration, time.Duration) {
	h := DefaultHoldTime
	if hold != nil {
		h = hold.Duration
	}
	ok := true
	switch {
	case keepalive != nil && hold == nil:
		d.errorf(r, "spec.keepaliveTime", "%q: %w: needs spec.holdTime to be set as well",
			keepalive.Duration.String(), ErrKeepaliveTime)
		ok = false
	case h < 0 || (h > 0 && h < 3*time.Second) || h > 65535*time.Second:
		d.errorf(r, "spec.holdTime", "%q: %w: must be 0s or 3s to 65535s", h.String(), ErrHoldTime)
		ok = false
	case h%time.Second != 0:
		d.errorf(r, "spec.holdTime", "%q: %w: must be whole seconds", h.String(), ErrHoldTime)
		ok = false
	}
	if h == 0 {
		if keepalive != nil && keepalive.Duration != 0 {
			d.warnf(r, "spec.keepaliveTime", "ignored: holdTime 0s turns keepalives off")
		}
		return 0, 0
	}
	k := h / 3
	if keepalive != nil {
		k = keepalive.Duration
		if ok && (k <= 0 || k >= h) {
			d.errorf(r, "spec.keepaliveTime", "%q: %w: must be more than 0s and less than holdTime %s",
				k.String(), ErrKeepaliveTime, h.String())
		}
	}
	return h, k
}

func compilePassword(r ref, s v1beta2.BGPPeerSpec, secrets []corev1.Secret, d *diagnostics) string {
	if s.Password != "" && s.PasswordSecret.Name != "" {
		d.errorf(r, "spec.passwordSecret", "%w: password and passwordSecret", ErrMutuallyExclusive)
		return ""
	}
	if s.Password != "" {
		if strings.ContainsAny(s.Password, "\r\n") {
			d.errorf(r, "spec.password", "%w: contains a line break", ErrInvalidPassword)
		}
		return s.Password
	}
	if s.PasswordSecret.Name == "" {
		if s.PasswordSecret.Namespace != "" {
			d.errorf(r, "spec.passwordSecret.name", "%w", ErrRequired)
		}
		return ""
	}
	ns := cmp.Or(s.PasswordSecret.Namespace, r.Namespace)
	pw, ok := secretPassword(r, "spec.passwordSecret.name", s.PasswordSecret.Name, ns, secrets, d)
	if ok && strings.ContainsAny(pw, "\r\n") {
		d.errorf(r, "spec.passwordSecret.name", "%q: %w: contains a line break", s.PasswordSecret.Name, ErrInvalidPassword)
	}
	return pw
}

// secretPassword reads the "password" key of the kubernetes.io/basic-auth
// Secret ns/name, which field of r refers to. ok is false, and an error
// recorded, when there is no such Secret or key.
func secretPassword(r ref, field, name, ns string, secrets []corev1.Secret, d *diagnostics) (pw string, ok bool) {
	i := slices.IndexFunc(secrets, func(sec corev1.Secret) bool { return sec.Name == name && sec.Namespace == ns })
	if i < 0 {
		d.errorf(r, field, "%q: %w in namespace %q", name, ErrUnknownSecret, ns)
		return "", false
	}
	sec := secrets[i]
	if sec.Type != corev1.SecretTypeBasicAuth {
		d.errorf(r, field, "%q: %w: type is %q, want %q", sec.Name, ErrSecretType,
			sec.Type, corev1.SecretTypeBasicAuth)
		return "", false
	}
	// stringData is what a manifest usually holds; the API server folds it
	// into data, and files reach us unfolded.
	pw, ok = string(sec.Data[corev1.BasicAuthPasswordKey]), sec.Data[corev1.BasicAuthPasswordKey] != nil
	if v, found := sec.StringData[corev1.BasicAuthPasswordKey]; found {
		pw, ok = v, true
	}
	if !ok {
		d.errorf(r, field, "%q: %w", sec.Name, ErrSecretKey)
	}
	return pw, ok
}

// checkPeerSessions applies the rules that span peers. A node runs one BGP
// speaker per VRF, with one AS: peers that can be selected on the same
// node in the same VRF must share myASN (localASN is the way to present
// another AS to one peer). And two peers on the same node, VRF, address
// and port would be the same TCP session.
func checkPeerSessions(c *Config, nodes []corev1.Node, d *diagnostics) {
	known := len(nodes) > 0
	for j, b := range c.Peers {
		for _, a := range c.Peers[:j] {
			if a.VRF != b.VRF || !selectionsOverlap(a.Nodes, b.Nodes, known) {
				continue
			}
			r := ref{"BGPPeer", b.Namespace, b.Name}
			if a.MyASN != b.MyASN && a.MyASN != 0 && b.MyASN != 0 {
				d.errorf(r, "spec.myASN", "%d: %w: BGPPeer %s uses %d in VRF %q on the same nodes; a node speaks as one AS per VRF (use localASN)",
					b.MyASN, ErrMyASNConflict, ObjectName(a.Namespace, a.Name), a.MyASN, b.VRF)
			}
			if sameSession(a, b) {
				d.errorf(r, "spec.peerAddress", "%w: BGPPeer %s (same address, port and VRF on the same nodes)",
					ErrDuplicatePeerSession, ObjectName(a.Namespace, a.Name))
			}
		}
	}
}

func sameSession(a, b *Peer) bool {
	if a.Port != b.Port {
		return false
	}
	if a.Address.IsValid() {
		return a.Address == b.Address
	}
	return a.Interface != "" && a.Interface == b.Interface
}
