package speaker

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/bgpwire/bfd"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/config"
)

// The BGP side of BFD (RFC 5882): a BGPPeer with a bfdProfile runs a BFD
// session to the peer, owned by the peer actor. A failure (detection
// timeout, Echo failure, the peer signalling Down) takes the BGP session
// down at once with Cease/BFD Down; the peer's AdminDown does not, since
// it says the peer stopped BFD, not that the path failed. A profile change
// renegotiates the running session with a Poll Sequence and leaves the BGP
// session alone (see peersActor.reconcile).

// bfdTag is what a BGP peer's BFD session carries: who hears its changes.
type bfdTag struct {
	peer string
	pid  *actor.PID
}

// Messages to a peer actor about its BFD session.
type (
	// bfdChanged: the session came Up or went Down.
	bfdChanged struct{ ch bfdnet.Change }
	// setBFD: the BGPPeer's bfdProfile changed (nil: BFD is off now).
	setBFD struct{ profile *config.BFDProfile }
)

// errBFDUnnumbered: an unnumbered peer's address is learnt by the BGP
// transport; BFD for it is not built yet.
var errBFDUnnumbered = errors.New("BFD is not supported on unnumbered (interface) peers yet")

// routeBFDChange hands a router-facing Manager's change to the peer actor
// that owns the session. It runs on the Manager's notifier goroutine.
func (e *env) routeBFDChange(ch bfdnet.Change) {
	if t, ok := ch.Tag.(bfdTag); ok {
		e.Root.Send(t.pid, bfdChanged{ch: ch})
	}
}

// bfdKey is the BFD session a BGPPeer asks for. Multihop follows FRR's
// rule, which MetalLB users' routers apply on the other end: an eBGP peer
// with ebgpMultiHop, or an iBGP peer on no subnet of this node, is
// multihop (RFC 5883); a directly connected peer is single hop (RFC 5881).
func bfdKey(p *config.Peer, onLink func(netip.Addr) bool) (bfdnet.Key, error) {
	if p.Interface != "" || !p.Address.IsValid() {
		return bfdnet.Key{}, errBFDUnnumbered
	}
	k := bfdnet.Key{Peer: p.Address, Local: p.SourceAddress}
	k.Multihop = p.EBGPMultiHop || (p.IBGP() && !onLink(p.Address))
	return k, nil
}

// onLink reports whether addr is on a subnet of one of this host's
// interfaces.
func onLink(addr netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		ones, _ := ipn.Mask.Size()
		if ok && netip.PrefixFrom(ip.Unmap(), ones).Contains(addr) && !ip.IsLoopback() {
			return true
		}
	}
	return false
}

// startBFD adds the BFD session the BGPPeer asks for, if any.
func (a *peerActor) startBFD(c actor.Context) { a.addBFD(c, 0) }

// A BGPPeer changed in more than its BFD profile gets a new peer actor
// while the old one is still stopping: the old one's BFD session, same
// key, may not be removed yet. The new one tries again every
// bfdRetryInterval, bfdRetries times, before it gives up.
const (
	bfdRetryInterval = 50 * time.Millisecond
	bfdRetries       = 100
)

// retryBFD: try adding the BFD session again (attempt counts the tries).
type retryBFD struct{ attempt int }

// retryBFD handles a retryBFD: a no-op when the session was added or BFD
// turned off since.
func (a *peerActor) retryBFD(c actor.Context, m retryBFD) {
	if a.bfd != nil || a.cfg.BFD == nil {
		return
	}
	a.addBFD(c, m.attempt)
	a.publish(c)
}

func (a *peerActor) addBFD(c actor.Context, attempt int) {
	if a.cfg.BFD == nil {
		a.bfdState = ""
		return
	}
	if a.e.bfd == nil {
		a.bfdFailed(fmt.Errorf("BGPPeer %s: bfdProfile %s: %w", a.name, a.cfg.BFD.Name, errNoBFD))
		return
	}
	k, err := bfdKey(a.cfg, onLink)
	var auth bfd.AuthConfig
	if err == nil {
		auth, err = bfdAuth(a.cfg.BFDAuth)
	}
	if err == nil {
		a.bfd, err = a.e.bfd.Add(bfdnet.SessionConfig{Key: k, Profile: bfd.Profile(*a.cfg.BFD), Auth: auth,
			Tag: bfdTag{peer: a.name, pid: c.Self()}})
	}
	if errors.Is(err, bfdnet.ErrExists) && attempt < bfdRetries {
		a.bfdState = bfd.Down.String()
		self, e := c.Self(), a.e
		e.Clock.AfterFunc(bfdRetryInterval, func() {
			if e.Ctx.Err() == nil {
				e.Root.Send(self, retryBFD{attempt: attempt + 1})
			}
		})
		return
	}
	if err != nil {
		a.bfdFailed(fmt.Errorf("BGPPeer %s: bfdProfile %s: %w", a.name, a.cfg.BFD.Name, err))
		return
	}
	a.bfdState = bfd.Down.String()
	a.e.Log.Info("BFD session added", "peer", a.name, "key", k.String(), "profile", a.cfg.BFD.Name,
		"auth", auth.Type.String())
}

// bfdAuthTypes maps a BFDProfile's spec.authentication.type to RFC 5880's
// Auth Type.
var bfdAuthTypes = map[v1beta1.BFDAuthType]bfd.AuthType{
	v1beta1.BFDAuthSimplePassword:      bfd.AuthSimplePassword,
	v1beta1.BFDAuthKeyedMD5:            bfd.AuthKeyedMD5,
	v1beta1.BFDAuthMeticulousKeyedMD5:  bfd.AuthMeticulousKeyedMD5,
	v1beta1.BFDAuthKeyedSHA1:           bfd.AuthKeyedSHA1,
	v1beta1.BFDAuthMeticulousKeyedSHA1: bfd.AuthMeticulousKeyedSHA1,
}

// errBFDAuthType: config let through a type this table lacks.
var errBFDAuthType = errors.New("unknown BFD authentication type")

// bfdAuth is the session authentication a BFDProfile asks for; nil is none.
func bfdAuth(a *config.BFDAuth) (bfd.AuthConfig, error) {
	if a == nil {
		return bfd.AuthConfig{Type: bfd.AuthNone}, nil
	}
	t, ok := bfdAuthTypes[a.Type]
	if !ok {
		return bfd.AuthConfig{}, fmt.Errorf("spec.authentication.type %q: %w", a.Type, errBFDAuthType)
	}
	return bfd.AuthConfig{Type: t, KeyID: a.KeyID, Secret: []byte(a.Key)}, nil
}

// errNoBFD: the speaker could not open its BFD sockets at start.
var errNoBFD = errors.New("BFD is unavailable on this speaker (see its log at start)")

func (a *peerActor) bfdFailed(err error) {
	a.bfd = nil
	a.bfdState = "Error"
	a.bfdErr = err
	a.e.Log.Error("BFD session not started: the BGP session runs without it", "peer", a.name, "err", err)
}

// stopBFD removes the BFD session: AdminDown, which the router does not
// count as a failure.
func (a *peerActor) stopBFD() {
	if a.bfd != nil {
		a.bfd.Remove()
		a.bfd = nil
	}
}

// setBFDProfile applies a changed bfdProfile: a Poll Sequence on the
// running session, or a session added or removed.
func (a *peerActor) setBFDProfile(c actor.Context, p *config.BFDProfile) {
	cfg := *a.cfg
	cfg.BFD = p
	a.cfg = &cfg
	a.bfdErr = nil
	switch {
	case p == nil:
		a.stopBFD()
		a.bfdState = ""
	case a.bfd == nil:
		a.startBFD(c)
	default:
		if err := a.bfd.SetProfile(bfd.Profile(*p)); err != nil {
			a.e.Log.Error("BFD profile not applied", "peer", a.name, "profile", p.Name, "err", err)
		}
	}
	a.publish(c)
}

// bfdChange carries out a change of the BFD session: a failure takes the
// BGP session down (RFC 5882 §4.3); the peer's AdminDown does not.
func (a *peerActor) bfdChange(c actor.Context, ch bfdnet.Change) {
	if a.bfd == nil || ch.Session != a.bfd {
		return // a session removed since
	}
	prev := a.bfdState
	defer func() { a.traceBFD(prev, ch) }()
	if ch.Up {
		a.bfdState = bfd.Up.String()
		a.e.Log.Info("BFD session up", "peer", a.name)
	} else {
		a.bfdState = bfd.Down.String()
		if ch.Cause == bfd.CauseNeighborAdminDown {
			a.bfdState = bfd.AdminDown.String()
		}
		a.e.Log.Warn("BFD session down", "peer", a.name, "cause", ch.Cause.String(), "failure", ch.Cause.Failure(),
			"localDiag", ch.LocalDiag.String(), "remoteDiag", ch.RemoteDiag.String())
		if ch.Cause.Failure() {
			a.step(c, peer.Event{Kind: peer.BFDDown})
		}
	}
	a.publish(c)
}
