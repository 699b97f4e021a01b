package peer

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
)

// The Adj-RIB-Out. The desired routes are a map from prefix to an interned
// attribute set. While a session is Established the Peer records, for each
// prefix that changes, the set the peer had from us (pending); at the end
// of the step (or when a blocked write queue drains) it sends the
// difference: withdrawals of what the peer has and should not, then, per
// attribute set, what it lacks or has with other attributes. Whole tables
// (a new session, a ROUTE-REFRESH) are sent per attribute set from its
// sorted wire-form list, rebuilt only when its members changed.

type route struct {
	set *attrSet
	gen uint32 // the SetRoutes that last named it
}

// attrSet is the attributes shared by a group of routes, with what the
// Peer derives from them.
type attrSet struct {
	id    uint64
	key   string // in rib.sets
	attrs Attrs  // normalized; owned
	refs  [numAF]int
	// list holds the members of each family in prefix order, in wire form,
	// when listOK; build is the scratch of a rebuild.
	list   [numAF]bgpwire.NLRIList
	listOK [numAF]bool
	build  [numAF][]netip.Prefix
	// enc is the set encoded for the session of generation encGen.
	enc    [numAF]bgpwire.AttrSet
	encGen [numAF]uint64
	encErr [numAF]error
	// diff collects the announcements of one flush.
	diff   [numAF]bgpwire.NLRIList
	inDiff [numAF]bool
}

type setAF struct {
	set *attrSet
	af  AF
}

type rib struct {
	routes    map[netip.Prefix]route
	sets      map[string]*attrSet
	order     []*attrSet // by id
	lastSetID uint64
	gen       uint32
	desired   [numAF]int

	// tracking: a session is Established and has its initial table, so
	// changes are recorded in pending, keyed by prefix, valued by the set
	// the peer has from us (nil: none).
	tracking bool
	pending  map[netip.Prefix]*attrSet

	// last is the set the previous intern returned, for input like
	// lastIn: consecutive routes usually share their attributes.
	last   *attrSet
	lastIn Attrs

	// Scratch.
	keyBuf   []byte
	comms    []bgpwire.Community
	large    []bgpwire.LargeCommunity
	keys     []netip.Prefix
	withdraw [numAF]bgpwire.NLRIList
	touched  []setAF
}

func (r *rib) init() {
	r.routes = map[netip.Prefix]route{}
	r.sets = map[string]*attrSet{}
	r.pending = map[netip.Prefix]*attrSet{}
}

// intern returns the set for a, creating it when new. Communities are
// sorted and deduplicated, so their order in the input does not matter, and
// LOCAL_PREF is dropped unless the peer is internal (ibgp), so that routes
// whose UPDATEs would be the same share them.
func (r *rib) intern(a *Attrs, ibgp bool) *attrSet {
	if l := r.last; l != nil && r.sets[l.key] == l && a.Equal(&r.lastIn) {
		return l
	}
	s := r.internSlow(a, ibgp)
	r.last = s
	r.lastIn = Attrs{
		Communities:      append(r.lastIn.Communities[:0], a.Communities...),
		LargeCommunities: append(r.lastIn.LargeCommunities[:0], a.LargeCommunities...),
		LocalPref:        a.LocalPref,
		HasLocalPref:     a.HasLocalPref,
	}
	return s
}

func (r *rib) internSlow(a *Attrs, ibgp bool) *attrSet {
	r.comms = append(r.comms[:0], a.Communities...)
	slices.Sort(r.comms)
	r.comms = slices.Compact(r.comms)
	r.large = append(r.large[:0], a.LargeCommunities...)
	slices.SortFunc(r.large, compareLarge)
	r.large = slices.Compact(r.large)
	k := r.keyBuf[:0]
	if a.HasLocalPref && ibgp {
		k = binary.BigEndian.AppendUint32(append(k, 1), a.LocalPref)
	} else {
		k = append(k, 0)
	}
	k = binary.AppendUvarint(k, uint64(len(r.comms)))
	for _, c := range r.comms {
		k = binary.BigEndian.AppendUint32(k, uint32(c))
	}
	for _, c := range r.large {
		k = binary.BigEndian.AppendUint32(k, c.GlobalAdmin)
		k = binary.BigEndian.AppendUint32(k, c.LocalData1)
		k = binary.BigEndian.AppendUint32(k, c.LocalData2)
	}
	r.keyBuf = k
	if s, ok := r.sets[string(k)]; ok {
		return s
	}
	r.lastSetID++
	s := &attrSet{id: r.lastSetID, key: string(k), attrs: Attrs{
		Communities:      slices.Clone(r.comms),
		LargeCommunities: slices.Clone(r.large),
		LocalPref:        a.LocalPref,
		HasLocalPref:     a.HasLocalPref && ibgp,
	}}
	if !s.attrs.HasLocalPref {
		s.attrs.LocalPref = 0
	}
	r.sets[s.key] = s
	r.order = append(r.order, s)
	return s
}

func compareLarge(a, b bgpwire.LargeCommunity) int {
	return cmp.Or(cmp.Compare(a.GlobalAdmin, b.GlobalAdmin), cmp.Compare(a.LocalData1, b.LocalData1),
		cmp.Compare(a.LocalData2, b.LocalData2))
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// note records that the peer may need to hear about pfx, which it has
// with old (nil: not at all), unless already recorded since the last flush.
func (r *rib) note(pfx netip.Prefix, old *attrSet) {
	if !r.tracking {
		return
	}
	if _, ok := r.pending[pfx]; !ok {
		r.pending[pfx] = old
	}
}

func (r *rib) upsert(pfx netip.Prefix, set *attrSet) {
	af := afOf(pfx)
	old, had := r.routes[pfx]
	if had && old.set == set {
		r.routes[pfx] = route{set: set, gen: r.gen}
		return
	}
	if had {
		r.note(pfx, old.set)
		old.set.refs[af]--
		old.set.listOK[af] = false
	} else {
		r.note(pfx, nil)
		r.desired[af]++
	}
	set.refs[af]++
	set.listOK[af] = false
	r.routes[pfx] = route{set: set, gen: r.gen}
}

func (r *rib) remove(pfx netip.Prefix) {
	old, had := r.routes[pfx]
	if !had {
		return
	}
	af := afOf(pfx)
	r.note(pfx, old.set)
	old.set.refs[af]--
	old.set.listOK[af] = false
	r.desired[af]--
	delete(r.routes, pfx)
}

// validPrefix returns p with its host bits cleared, or an error for a
// prefix that cannot be announced.
func validPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("invalid prefix %s", p)
	}
	if p.Addr().Is4In6() {
		return p, fmt.Errorf("prefix %s: IPv4-mapped IPv6 is neither family; give it as IPv4", p)
	}
	return p.Masked(), nil
}

// setRoutes makes routes the whole desired set.
func (p *Peer) setRoutes(routes []Route) {
	r := &p.rib
	if len(r.routes) == 0 && len(routes) > 64 {
		r.routes = make(map[netip.Prefix]route, len(routes))
	}
	r.gen++
	for i := range routes {
		p.upsertRoute(&routes[i])
	}
	for pfx, rt := range r.routes {
		if rt.gen != r.gen {
			r.remove(pfx)
		}
	}
	p.st.Desired = r.desired
	r.collect() // a no-op while changes are pending for a session
}

func (p *Peer) changeRoutes(add []Route, withdraw []netip.Prefix) {
	for _, pfx := range withdraw {
		if pfx, err := validPrefix(pfx); err == nil {
			p.rib.remove(pfx)
		}
	}
	for i := range add {
		p.upsertRoute(&add[i])
	}
	p.st.Desired = p.rib.desired
	p.rib.collect()
}

func (p *Peer) upsertRoute(rt *Route) {
	pfx, err := validPrefix(rt.Prefix)
	if err != nil {
		p.report(ReportInfo{Kind: InvalidRoute, Err: err})
		return
	}
	p.rib.upsert(pfx, p.rib.intern(&rt.Attrs, p.cfg.ibgp()))
}

// --- sending -------------------------------------------------------------

func (s *slot) sendable(af AF) bool {
	return s.sess.Families[af] && s.sess.NextHops[af].Addr.IsValid()
}

// encode encodes set for s's session and family af, once per session.
func (p *Peer) encode(set *attrSet, s *slot, af AF) error {
	if set.encGen[af] == p.sessionGen {
		return set.encErr[af]
	}
	a := bgpwire.Attributes{
		HasOrigin: true, Origin: bgpwire.OriginIGP, HasASPath: true,
		Communities: set.attrs.Communities, LargeCommunities: set.attrs.LargeCommunities,
	}
	if s.sess.IBGP {
		// RFC 4271 section 5.1.5: LOCAL_PREF to internal peers only,
		// always; AS_PATH empty (section 5.1.2).
		a.HasLocalPref, a.LocalPref = true, DefaultLocalPref
		if set.attrs.HasLocalPref {
			a.LocalPref = set.attrs.LocalPref
		}
	} else {
		a.ASPath = p.ebgpPath
	}
	err := set.enc[af].Encode(s.wire, &a, s.sess.NextHops[af], af.afi())
	set.encGen[af], set.encErr[af] = p.sessionGen, err
	if err != nil {
		p.report(ReportInfo{Kind: RoutesNotSent, Conn: s.conn, Family: af,
			Err: fmt.Errorf("%d %s routes with %d communities and %d large communities: %w",
				set.refs[af], af, len(a.Communities), len(a.LargeCommunities), err)})
	}
	return err
}

type tableKind uint8

const (
	initialTable tableKind = iota // End-of-RIB after it
	refreshTable                  // between BoRR and EoRR when enhanced
)

// sendTable sends every desired route of family af to s's peer.
func (p *Peer) sendTable(s *slot, af AF, kind tableKind) {
	if !s.sess.Families[af] {
		return
	}
	enhanced := kind == refreshTable && s.sess.EnhancedRouteRefresh
	if enhanced {
		p.send(s, Bulk, bgpwire.TypeRouteRefresh, bgpwire.AppendRouteRefresh(p.wbuf,
			bgpwire.RouteRefresh{Family: af.Family(), Subtype: bgpwire.RouteRefreshBoRR}))
	}
	announced := 0
	if s.sendable(af) {
		p.rib.rebuildLists()
		p.wbuf = slices.Grow(p.wbuf, p.tableSize(af))
		for _, set := range p.rib.order {
			if set.refs[af] == 0 || p.encode(set, s, af) != nil {
				continue
			}
			buf, err := bgpwire.AppendAnnounceNLRI(p.wbuf, &set.enc[af], &set.list[af])
			if err != nil {
				p.report(ReportInfo{Kind: RoutesNotSent, Conn: s.conn, Family: af, Err: err})
				continue
			}
			p.st.UpdatesSent += uint64(p.send(s, Bulk, bgpwire.TypeUpdate, buf))
			announced += set.refs[af]
		}
	}
	p.st.Announced[af] = announced
	switch {
	case kind == initialTable:
		p.send(s, Bulk, bgpwire.TypeUpdate, bgpwire.AppendEndOfRIB(p.wbuf, af.Family()))
		p.st.EndOfRIBSent++
	case enhanced:
		p.send(s, Bulk, bgpwire.TypeRouteRefresh, bgpwire.AppendRouteRefresh(p.wbuf,
			bgpwire.RouteRefresh{Family: af.Family(), Subtype: bgpwire.RouteRefreshEoRR}))
	}
}

// tableSize estimates the bytes of family af's table: the prefixes (host
// routes, the common case) and a generous frame per message.
func (p *Peer) tableSize(af AF) int {
	per, n := 5, 0
	if af == IPv6 {
		per = 17
	}
	for _, set := range p.rib.order {
		if k := set.refs[af]; k > 0 {
			n += k*per + (k*per/3900+1)*128
		}
	}
	return n
}

// rebuildLists brings the wire-form list of every set whose members
// changed up to date: one pass over the routes, then a sort per list.
func (r *rib) rebuildLists() {
	dirty := false
	for _, set := range r.order {
		for _, af := range AFs {
			switch {
			case set.refs[af] == 0:
				set.list[af].Reset()
				set.listOK[af] = true
			case !set.listOK[af]:
				dirty = true
			}
		}
	}
	if !dirty {
		return
	}
	for _, set := range r.order {
		for _, af := range AFs {
			if !set.listOK[af] {
				set.build[af] = make([]netip.Prefix, 0, set.refs[af])
			}
		}
	}
	for pfx, rt := range r.routes {
		if af := afOf(pfx); !rt.set.listOK[af] {
			rt.set.build[af] = append(rt.set.build[af], pfx)
		}
	}
	for _, set := range r.order {
		for _, af := range AFs {
			if set.listOK[af] {
				continue
			}
			b := set.build[af]
			slices.SortFunc(b, comparePrefix)
			if l, err := bgpwire.NewNLRIList(b); err == nil { // valid and of one family: checked on entry
				set.list[af] = *l
			}
			set.listOK[af] = true
			set.build[af] = nil
		}
	}
}

// flush sends the difference between what the Established peer has and
// the desired set, and the tables it asked for again, unless its write
// queue is blocked: then the changes keep coalescing until it drains.
func (p *Peer) flush() {
	s, r := p.est, &p.rib
	if s == nil || s.blocked {
		return
	}
	if len(r.pending) > 0 {
		r.keys = r.keys[:0]
		for pfx := range r.pending {
			r.keys = append(r.keys, pfx)
		}
		slices.SortFunc(r.keys, comparePrefix)
		for _, af := range AFs {
			r.withdraw[af].Reset()
		}
		r.touched = r.touched[:0]
		for _, pfx := range r.keys {
			af := afOf(pfx)
			if !s.sendable(af) {
				continue
			}
			old, cur := r.pending[pfx], r.routes[pfx].set
			oldSent := old != nil && p.encode(old, s, af) == nil
			newSent := cur != nil && p.encode(cur, s, af) == nil
			switch {
			case newSent && s.refresh[af]:
				// The table about to be sent again holds it.
			case newSent && (cur != old || !oldSent):
				if !cur.inDiff[af] {
					cur.inDiff[af] = true
					cur.diff[af].Reset()
					r.touched = append(r.touched, setAF{cur, af})
				}
				_ = cur.diff[af].Add(pfx)
				if !oldSent {
					p.st.Announced[af]++
				}
			case oldSent && !newSent:
				_ = r.withdraw[af].Add(pfx)
				p.st.Announced[af]--
			}
		}
		clear(r.pending)
		for _, af := range AFs {
			if r.withdraw[af].Len() > 0 {
				buf, _ := bgpwire.AppendWithdrawNLRI(p.wbuf, s.wire, &r.withdraw[af])
				p.st.UpdatesSent += uint64(p.send(s, Bulk, bgpwire.TypeUpdate, buf))
			}
		}
		for _, t := range r.touched {
			t.set.inDiff[t.af] = false
			buf, err := bgpwire.AppendAnnounceNLRI(p.wbuf, &t.set.enc[t.af], &t.set.diff[t.af])
			if err != nil {
				p.report(ReportInfo{Kind: RoutesNotSent, Conn: s.conn, Family: t.af, Err: err})
				continue
			}
			p.st.UpdatesSent += uint64(p.send(s, Bulk, bgpwire.TypeUpdate, buf))
		}
		r.collect()
	}
	for _, af := range AFs {
		if s.refresh[af] {
			s.refresh[af] = false
			p.sendTable(s, af, refreshTable)
		}
	}
}

// collect forgets attribute sets no route uses.
func (r *rib) collect() {
	if len(r.pending) > 0 {
		return // pending may name them
	}
	live := r.order[:0]
	for _, set := range r.order {
		if set.refs[IPv4] > 0 || set.refs[IPv6] > 0 {
			live = append(live, set)
			continue
		}
		delete(r.sets, set.key)
	}
	clear(r.order[len(live):])
	r.order = live
}

// --- sessions ------------------------------------------------------------

func (p *Peer) sessionUp(s *slot, fs fsm.Session) {
	p.negotiate(s, fs)
	p.est = s
	p.sessionGen++
	p.st.SessionsEstablished++
	p.st.Session = s.sess
	p.emit(Action{Kind: SessionUp, Session: s.sess})
	for _, af := range AFs {
		if s.sess.Families[af] && !s.sess.NextHops[af].Addr.IsValid() {
			p.report(ReportInfo{Kind: NoNextHop, Conn: s.conn, Family: af,
				Err: fmt.Errorf("no local address for %s next hops on connection %d; its routes are not announced", af, s.conn)})
		}
	}
	s.refresh = [numAF]bool{}
	clear(p.rib.pending)
	for _, af := range AFs {
		p.sendTable(s, af, initialTable)
	}
	p.rib.tracking = true
}

func (p *Peer) sessionDown(s *slot, a *fsm.Action) {
	if p.est == s {
		p.est = nil
		p.rib.tracking = false
		clear(p.rib.pending)
		p.rib.collect()
		p.st.Announced = [numAF]int{}
		p.st.Session = Session{}
	}
	n := a.Notification
	n.Data = append([]byte(nil), n.Data...)
	p.emit(Action{Kind: SessionDown, Down: Down{Conn: s.conn, Reason: a.Reason, Notification: n}})
	if n.Code == 0 {
		p.setError(fmt.Errorf("session on connection %d down: %s", s.conn, a.Reason))
	}
}
