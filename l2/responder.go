package l2

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"k8s.io/utils/clock"
)

var (
	// ErrConfig reports a Config or Options that cannot work.
	ErrConfig = errors.New("l2: invalid configuration")
	// ErrInvalidIP reports an address that cannot be a service IP.
	ErrInvalidIP = errors.New("l2: not a usable service IP")
	// ErrNoSocket reports an IP of a family the responder has no socket for.
	ErrNoSocket = errors.New("l2: no socket for this address family")
	// ErrMembership reports a failed solicited-node multicast join or leave.
	ErrMembership = errors.New("l2: multicast membership")
	// ErrNotOwned reports an Announce for an IP the responder does not own.
	ErrNotOwned = errors.New("l2: IP not owned")
	// ErrClosed reports a call on a closed responder.
	ErrClosed = errors.New("l2: responder closed")
)

// FrameConn is a packet socket bound to one interface and one EtherType
// that reads and writes whole Ethernet frames. *packet.Conn from
// github.com/mdlayher/packet (socket type packet.Raw) satisfies it; WriteTo
// is called with a *packet.Addr holding the Ethernet destination. It must
// be safe for one reader and one writer at a time, and Close must unblock
// a pending ReadFrom.
type FrameConn interface {
	ReadFrom(b []byte) (int, net.Addr, error)
	WriteTo(b []byte, addr net.Addr) (int, error)
	Close() error
}

// GroupConn holds IPv6 multicast memberships on the interface; the
// memberships end when it is closed. *ndp.Conn from github.com/mdlayher/ndp
// satisfies it.
type GroupConn interface {
	JoinGroup(group netip.Addr) error
	LeaveGroup(group netip.Addr) error
	Close() error
}

// Options are the settings common to New and Open.
type Options struct {
	// Clock times the gratuitous schedule; nil means the real clock.
	Clock clock.Clock
	// Schedule is the gratuitous schedule as offsets from takeover; nil
	// means DefaultSchedule.
	Schedule []time.Duration
	// Refresh, when positive, repeats the gratuitous messages for every
	// owned IP at this period after the schedule ends.
	Refresh time.Duration
}

// Config is a responder over connections the caller opened (tests inject
// fakes here; Open opens the real sockets).
type Config struct {
	Name string // the interface name, for errors
	MAC  MAC    // the interface's address: the answer to every question
	// ARP is the socket for EtherType 0x0806; nil disables IPv4.
	ARP FrameConn
	// NDP is the socket for EtherType 0x86dd; nil disables IPv6. It only
	// needs to deliver Neighbor Solicitations (Open installs a filter).
	NDP FrameConn
	// Groups holds the solicited-node memberships; required with NDP.
	Groups GroupConn
	Options
}

// Change is what a Set did.
type Change struct {
	Added   []netip.Addr // newly owned; their gratuitous schedule has started
	Removed []netip.Addr // no longer owned
}

// Stats are a responder's totals beyond the per-IP Counters.
type Stats struct {
	// Dropped counts unanswered frames by reason (see verdict names:
	// "not-owned", "own-frame", "checksum", ...).
	Dropped     map[string]uint64
	ReadErrors  uint64 // transient read errors (ENETDOWN while the link is down)
	WriteErrors uint64
}

// Responder answers ARP and NDP on one interface for the IPs published to
// it with Set. See the package documentation for the contract.
type Responder struct {
	name   string
	mac    MAC
	arp    FrameConn
	ndp    FrameConn
	groups GroupConn
	clock  clock.Clock

	owned       atomic.Pointer[ownedSet]
	dropped     [dropNotOwned + 1]atomic.Uint64
	readErrors  atomic.Uint64
	writeErrors atomic.Uint64

	// mu guards the fields from here to the channels; the announcer holds
	// it while it writes gratuitous frames.
	mu       sync.Mutex
	entries  map[netip.Addr]*ipEntry
	refs     map[netip.Addr]int  // solicited-node group -> owned IPv6 IPs mapping to it
	member   map[netip.Addr]bool // groups joined on the socket
	sched    *announceSchedule
	closed   bool
	failErr  error
	gratBuf4 [arpFrameLen]byte
	gratBuf6 [naFrameLen]byte

	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	doneOnce sync.Once
	wg       sync.WaitGroup
}

// New starts a responder over the given connections: a reader goroutine
// per socket and one goroutine for the gratuitous schedule. It owns no IP
// until Set.
func New(cfg Config) (*Responder, error) {
	if cfg.ARP == nil && cfg.NDP == nil {
		return nil, fmt.Errorf("%w: interface %q: neither an ARP nor an NDP socket", ErrConfig, cfg.Name)
	}
	if cfg.NDP != nil && cfg.Groups == nil {
		return nil, fmt.Errorf("%w: interface %q: an NDP socket needs a GroupConn for multicast memberships", ErrConfig, cfg.Name)
	}
	if !cfg.MAC.IsUnicast() {
		return nil, fmt.Errorf("%w: interface %q: MAC %s is not a unicast Ethernet address", ErrConfig, cfg.Name, cfg.MAC)
	}
	offsets := cfg.Schedule
	if offsets == nil {
		offsets = DefaultSchedule
	}
	sched, err := newAnnounceSchedule(offsets, cfg.Refresh)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", cfg.Name, err)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	r := &Responder{
		name: cfg.Name, mac: cfg.MAC, arp: cfg.ARP, ndp: cfg.NDP, groups: cfg.Groups, clock: clk,
		entries: map[netip.Addr]*ipEntry{},
		refs:    map[netip.Addr]int{},
		member:  map[netip.Addr]bool{},
		sched:   sched,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	r.owned.Store(&ownedSet{})
	if r.arp != nil {
		r.wg.Add(1)
		go r.read(r.arp, arpFrameLen+256, r.answerARP())
	}
	if r.ndp != nil {
		r.wg.Add(1)
		go r.read(r.ndp, 9216, r.answerNS())
	}
	r.wg.Add(1)
	go r.announceLoop()
	return r, nil
}

// Name is the interface name the responder was built for.
func (r *Responder) Name() string { return r.name }

// MAC is the address the responder answers with.
func (r *Responder) MAC() MAC { return r.mac }

// normalize turns ip into the form the snapshot is keyed by (IPv4 as 4
// bytes, no zone) and says whether it can be a service IP.
func normalize(ip netip.Addr) (netip.Addr, bool) {
	ip = ip.Unmap().WithZone("")
	ok := ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() && !ip.IsLoopback() &&
		!(ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}))
	return ip, ok
}

// Set makes owned the complete set of IPs this interface answers for and
// returns what changed. For each newly owned IP it starts the gratuitous
// schedule (the first messages go out at once); the caller need not call
// Announce. It joins the solicited-node group of each IPv6 IP before the
// IP is answered for and leaves a group when its last IP goes; a join that
// failed before is retried on every Set.
//
// The returned error joins every problem found (an unusable or
// wrong-family IP, a failed join or leave); the rest of the set is still
// published. Once Set returns, no gratuitous message goes out for a
// removed IP. A reply to a question read just before the swap may still
// be written after it.
func (r *Responder) Set(owned []netip.Addr) (Change, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Change{}, fmt.Errorf("interface %q: %w", r.name, ErrClosed)
	}
	var errs []error
	want := make(map[netip.Addr]*ipEntry, len(owned))
	for _, raw := range owned {
		ip, ok := normalize(raw)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("interface %q: %v: %w", r.name, raw, ErrInvalidIP))
			continue
		case ip.Is4() && r.arp == nil, ip.Is6() && r.ndp == nil:
			errs = append(errs, fmt.Errorf("interface %q: %v: %w", r.name, ip, ErrNoSocket))
			continue
		}
		e := r.entries[ip]
		if e == nil {
			e = &ipEntry{ip: ip}
			r.entries[ip] = e
		}
		want[ip] = e
	}
	old := r.owned.Load()
	var ch Change
	for ip := range want {
		if old.lookup(ip) == nil {
			ch.Added = append(ch.Added, ip)
		}
	}
	for ip := range old.ips {
		if want[ip] == nil {
			ch.Removed = append(ch.Removed, ip)
		}
	}
	slices.SortFunc(ch.Added, netip.Addr.Compare)
	slices.SortFunc(ch.Removed, netip.Addr.Compare)

	// Join before publishing, so the first multicast NS after takeover
	// already reaches the socket.
	for _, ip := range ch.Added {
		if ip.Is6() {
			r.refs[SolicitedNodeGroup(ip)]++
		}
	}
	errs = append(errs, r.syncJoins()...)
	r.owned.Store(&ownedSet{ips: want})
	for _, ip := range ch.Removed {
		r.sched.stop(ip)
		if !ip.Is6() {
			continue
		}
		g := SolicitedNodeGroup(ip)
		if r.refs[g]--; r.refs[g] > 0 {
			continue
		}
		delete(r.refs, g)
		if r.member[g] {
			delete(r.member, g)
			if err := r.groups.LeaveGroup(g); err != nil {
				errs = append(errs, fmt.Errorf("interface %q: leave %v: %w: %w", r.name, g, ErrMembership, err))
			}
		}
	}
	if len(ch.Added) > 0 {
		now := r.clock.Now()
		for _, ip := range ch.Added {
			r.sched.start(ip, now)
		}
		r.wake()
	}
	return ch, errors.Join(errs...)
}

// syncJoins joins every group some owned IPv6 IP maps to and the socket
// is not a member of yet.
func (r *Responder) syncJoins() []error {
	var errs []error
	groups := make([]netip.Addr, 0, len(r.refs))
	for g := range r.refs {
		if !r.member[g] {
			groups = append(groups, g)
		}
	}
	slices.SortFunc(groups, netip.Addr.Compare)
	for _, g := range groups {
		if err := r.groups.JoinGroup(g); err != nil {
			errs = append(errs, fmt.Errorf("interface %q: join %v: %w: %w", r.name, g, ErrMembership, err))
			continue
		}
		r.member[g] = true
	}
	return errs
}

// Announce restarts the gratuitous schedule for ips, which must be owned.
// The shell calls it when the link comes back up (the switch may have
// forgotten the MAC) or when another node may have announced an IP this
// node owns.
func (r *Responder) Announce(ips ...netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("interface %q: %w", r.name, ErrClosed)
	}
	cur := r.owned.Load()
	now := r.clock.Now()
	var errs []error
	for _, raw := range ips {
		ip, _ := normalize(raw)
		if cur.lookup(ip) == nil {
			errs = append(errs, fmt.Errorf("interface %q: announce %v: %w", r.name, raw, ErrNotOwned))
			continue
		}
		r.sched.start(ip, now)
	}
	r.wake()
	return errors.Join(errs...)
}

func (r *Responder) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Owned returns the published set in address order.
func (r *Responder) Owned() []netip.Addr {
	cur := r.owned.Load()
	ips := make([]netip.Addr, 0, len(cur.ips))
	for ip := range cur.ips {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return ips
}

// Groups returns the solicited-node groups the socket is a member of, in
// address order.
func (r *Responder) Groups() []netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs := make([]netip.Addr, 0, len(r.member))
	for g := range r.member {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, netip.Addr.Compare)
	return gs
}

// Counters returns the counts of every IP this responder has ever owned,
// in address order.
func (r *Responder) Counters() []Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := make([]Counters, 0, len(r.entries))
	for _, e := range r.entries {
		cs = append(cs, Counters{IP: e.ip, Requests: e.requests.Load(), Replies: e.replies.Load(), Gratuitous: e.gratuitous.Load()})
	}
	slices.SortFunc(cs, func(a, b Counters) int { return a.IP.Compare(b.IP) })
	return cs
}

// Stats returns the responder's totals.
func (r *Responder) Stats() Stats {
	s := Stats{Dropped: map[string]uint64{}, ReadErrors: r.readErrors.Load(), WriteErrors: r.writeErrors.Load()}
	for v := dropMalformed; v <= dropNotOwned; v++ {
		if n := r.dropped[v].Load(); n > 0 {
			s.Dropped[v.String()] = n
		}
	}
	return s
}

// Done is closed when the responder stops: after Close, or when a socket
// fails in a way reading cannot recover from (Err says which). The shell
// then closes the responder and opens a new one.
func (r *Responder) Done() <-chan struct{} { return r.done }

// Err is the failure that closed Done, or nil.
func (r *Responder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failErr
}

// Close stops the goroutines and closes the sockets, which ends the
// multicast memberships. It is safe to call more than once.
func (r *Responder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	var errs []error
	for _, c := range []interface{ Close() error }{r.arp, r.ndp, r.groups} {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	r.wg.Wait()
	r.doneOnce.Do(func() { close(r.done) })
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("interface %q: close: %w", r.name, err)
	}
	return nil
}

func (r *Responder) fail(err error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if r.failErr == nil {
		r.failErr = fmt.Errorf("interface %q: %w", r.name, err)
	}
	r.mu.Unlock()
	r.doneOnce.Do(func() { close(r.done) })
}

// read is a reader goroutine: it answers every question from the current
// snapshot, without locks, channels or allocation between the read and
// the write.
func (r *Responder) read(conn FrameConn, bufLen int, answer func(frame []byte, dst *packet.Addr) ([]byte, *ipEntry, verdict)) {
	defer r.wg.Done()
	buf := make([]byte, bufLen)
	dst := &packet.Addr{HardwareAddr: make(net.HardwareAddr, 6)}
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-r.stop:
				return
			default:
			}
			if errors.Is(err, syscall.ENETDOWN) {
				// The link went down; a packet socket keeps its binding and
				// reads again once the link is back.
				r.readErrors.Add(1)
				continue
			}
			r.fail(fmt.Errorf("read: %w", err))
			return
		}
		reply, e, v := answer(buf[:n], dst)
		if v != verdictReply {
			r.dropped[v].Add(1)
			continue
		}
		e.requests.Add(1)
		if _, err := conn.WriteTo(reply, dst); err != nil {
			r.writeErrors.Add(1)
			continue
		}
		e.replies.Add(1)
	}
}

// answerARP and answerNS each own their output buffer; each is called
// only from its one reader goroutine.
func (r *Responder) answerARP() func([]byte, *packet.Addr) ([]byte, *ipEntry, verdict) {
	var out [arpFrameLen]byte
	return func(frame []byte, dst *packet.Addr) ([]byte, *ipEntry, verdict) {
		e, v := handleARP(frame, r.mac, r.owned.Load(), &out)
		copy(dst.HardwareAddr, out[0:6])
		return out[:], e, v
	}
}

func (r *Responder) answerNS() func([]byte, *packet.Addr) ([]byte, *ipEntry, verdict) {
	var out [naFrameLen]byte
	return func(frame []byte, dst *packet.Addr) ([]byte, *ipEntry, verdict) {
		e, v := handleNS(frame, r.mac, r.owned.Load(), &out)
		copy(dst.HardwareAddr, out[0:6])
		return out[:], e, v
	}
}

// announceLoop carries out the gratuitous schedule. It holds r.mu while
// it decides and writes, so a Set that removes an IP and returns has
// stopped every later gratuitous message for it.
func (r *Responder) announceLoop() {
	defer r.wg.Done()
	t := r.clock.NewTimer(time.Hour)
	stopTimer(t)
	var due []netip.Addr
	for {
		r.mu.Lock()
		now := r.clock.Now()
		due = r.sched.due(now, due[:0])
		for _, ip := range due {
			r.sendGratuitous(r.entries[ip])
		}
		stopTimer(t)
		if at, ok := r.sched.next(); ok {
			t.Reset(at.Sub(now))
		}
		r.mu.Unlock()
		select {
		case <-r.kick:
		case <-t.C():
		case <-r.stop:
			stopTimer(t)
			return
		}
	}
}

// stopTimer stops t and drains a value it may have fired, so the next
// Reset starts clean (and a fake clock's Step never blocks on a full
// channel).
func stopTimer(t clock.Timer) {
	if !t.Stop() {
		select {
		case <-t.C():
		default:
		}
	}
}

// sendGratuitous writes the takeover messages for one IP: both ARP forms
// for IPv4, an unsolicited NA for IPv6. Called with r.mu held.
func (r *Responder) sendGratuitous(e *ipEntry) {
	if e.ip.Is4() {
		putGratuitousARPRequest(&r.gratBuf4, r.mac, e.ip)
		r.writeGratuitous(r.arp, e, r.gratBuf4[:], broadcastMAC)
		putGratuitousARPReply(&r.gratBuf4, r.mac, e.ip)
		r.writeGratuitous(r.arp, e, r.gratBuf4[:], broadcastMAC)
		return
	}
	putUnsolicitedNA(&r.gratBuf6, r.mac, e.ip)
	r.writeGratuitous(r.ndp, e, r.gratBuf6[:], allNodesMAC)
}

func (r *Responder) writeGratuitous(conn FrameConn, e *ipEntry, frame []byte, dst MAC) {
	if _, err := conn.WriteTo(frame, &packet.Addr{HardwareAddr: dst[:]}); err != nil {
		r.writeErrors.Add(1)
		return
	}
	e.gratuitous.Add(1)
}
