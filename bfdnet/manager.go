package bfdnet

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
	"k8s.io/utils/clock"
)

// Manager runs BFD sessions over one set of sockets. See the package
// documentation.
type Manager struct {
	opts  Options
	net   Network
	clk   clock.Clock
	log   *slog.Logger
	start time.Time
	rand  func() uint32
	// manual: no goroutines; a test drives receive and fireDue.
	manual bool

	mu        sync.RWMutex
	closed    bool
	byDiscr   map[uint32]*Session
	byKey     map[Key]*Session
	byPeer    map[netip.Addr][]*Session
	listeners map[listenerKey]*listener

	sched *scheduler
	notes notifier
	stats managerCounters

	stop    chan struct{}
	wg      sync.WaitGroup
	stopped atomic.Bool
	// lateHook, when set before the first session, sees every transmit
	// timer's lateness (the benchmark's exact quantiles).
	lateHook func(time.Duration)
}

// New returns a Manager with no sessions. Its scheduler and notifier
// goroutines run until Close.
func New(opts Options) (*Manager, error) {
	m, err := newManager(opts, false)
	if err != nil {
		return nil, err
	}
	m.wg.Add(2)
	go m.run()
	go m.notes.run(&m.wg, m.stop)
	return m, nil
}

func newManager(opts Options, manual bool) (*Manager, error) {
	if opts.SingleHopPort == 0 {
		opts.SingleHopPort = bfd.ControlPort
	}
	if opts.MultihopPort == 0 {
		opts.MultihopPort = bfd.MultihopPort
	}
	if opts.EchoPort == 0 {
		opts.EchoPort = bfd.EchoPort
	}
	if opts.SingleHopPort == opts.MultihopPort || opts.EchoPort == opts.SingleHopPort || opts.EchoPort == opts.MultihopPort {
		return nil, fmt.Errorf("%w: ports single-hop %d, multihop %d, echo %d must differ", ErrConfig,
			opts.SingleHopPort, opts.MultihopPort, opts.EchoPort)
	}
	if opts.LingerPackets <= 0 {
		opts.LingerPackets = 3
	}
	m := &Manager{
		opts: opts, net: opts.Network, clk: opts.Clock, log: opts.Log, rand: rand.Uint32, manual: manual,
		byDiscr:   map[uint32]*Session{},
		byKey:     map[Key]*Session{},
		byPeer:    map[netip.Addr][]*Session{},
		listeners: map[listenerKey]*listener{},
		sched:     newScheduler(),
		stop:      make(chan struct{}),
	}
	if m.net == nil {
		m.net = OSNetwork{}
	}
	if m.clk == nil {
		m.clk = clock.RealClock{}
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.notes.init(opts.Notify)
	m.start = m.clk.Now()
	return m, nil
}

// now is the clock reading and the machine's monotonic time.
func (m *Manager) now() (time.Time, time.Duration) {
	t := m.clk.Now()
	return t, t.Sub(m.start)
}

// Add starts a session: it opens the sockets it needs (the port's
// listener for the family, if not yet open, and the session's transmit
// socket), allocates a random unique discriminator, and enables the
// machine, which sends its first packet at once unless passive.
func (m *Manager) Add(cfg SessionConfig) (*Session, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Passive {
		cfg.Profile.PassiveMode = true
	}
	m.mu.Lock()
	s, err := m.addLocked(cfg)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// addLocked returns s locked, so that a packet the readers find it for
	// waits for Enable instead of reaching a machine that ignores it.
	s.step(bfd.Event{Kind: bfd.Enable})
	s.mu.Unlock()
	return s, nil
}

// addLocked builds and indexes the session and returns it with s.mu held;
// m.mu is held.
func (m *Manager) addLocked(cfg SessionConfig) (*Session, error) {
	if m.closed {
		return nil, ErrClosed
	}
	if _, ok := m.byKey[cfg.Key]; ok {
		return nil, fmt.Errorf("%w: %s", ErrExists, cfg.Key)
	}
	fam := familyOf(cfg.Peer)
	kind := kindSingleHop
	port := m.opts.SingleHopPort
	if cfg.Multihop {
		kind, port = kindMultihop, m.opts.MultihopPort
	}
	if _, err := m.listenLocked(kind, fam); err != nil {
		return nil, err
	}
	s := &Session{m: m, cfg: cfg, kind: kind}
	for i := range s.timers {
		s.timers[i] = timerEntry{s: s, t: bfd.Timer(i), index: -1}
	}
	if cfg.Interface != "" {
		idx, err := m.net.InterfaceIndex(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("session %s: %w", cfg.Key, err)
		}
		s.ifindex = idx
	}
	dst := cfg.Peer
	if dst.Is6() && dst.IsLinkLocalUnicast() {
		dst = dst.WithZone(cfg.Interface)
	}
	s.dst = netip.AddrPortFrom(dst, port)
	tx, err := m.openSender(SenderSpec{Family: fam, Local: cfg.Local, Interface: cfg.Interface})
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", cfg.Key, err)
	}
	s.tx = tx
	echoCapable := false
	if cfg.Profile.EchoMode && !cfg.Multihop && fam == IPv4 && cfg.Local.IsValid() && cfg.Interface != "" {
		// RFC 5881 §4: Echo on single-hop IPv4 only (RFC 5883 forbids
		// it on multihop); it needs this system's address on the link.
		e, err := m.net.OpenEcho(EchoSpec{Local: cfg.Local, Peer: cfg.Peer, Interface: cfg.Interface, Port: m.opts.EchoPort})
		if err == nil {
			s.echo, echoCapable = e, true
		} else {
			m.log.Warn("bfd: echo unavailable, running without it", "session", cfg.Key.String(), "err", err)
		}
	}
	discr := m.newDiscrLocked()
	mc, err := bfd.New(bfd.Config{Profile: cfg.Profile, LocalDiscr: discr, Auth: cfg.Auth,
		InitialAuthSeq: m.rand(), EchoCapable: echoCapable})
	if err != nil {
		s.closeSockets()
		return nil, fmt.Errorf("session %s: %w", cfg.Key, err)
	}
	s.mc = mc
	s.discr = discr
	s.mu.Lock() // nobody else can hold it yet; Add unlocks it after Enable
	m.byDiscr[discr] = s
	m.byKey[cfg.Key] = s
	m.byPeer[cfg.Peer] = append(m.byPeer[cfg.Peer], s)
	if s.echo != nil && !m.manual {
		m.wg.Add(1)
		go s.readEcho(s.echo)
	}
	return s, nil
}

// newDiscrLocked draws a random nonzero discriminator no session holds
// (RFC 5880 §6.8.1).
func (m *Manager) newDiscrLocked() uint32 {
	for {
		d := m.rand()
		if _, taken := m.byDiscr[d]; d != 0 && !taken {
			return d
		}
	}
}

// openSender binds a transmit socket to a random port of the RFC 5881
// range, trying others while ports are taken.
func (m *Manager) openSender(spec SenderSpec) (SendConn, error) {
	var err error
	for range 64 {
		spec.Port = uint16(SourcePortMin + m.rand()%(SourcePortMax-SourcePortMin+1))
		var c SendConn
		c, err = m.net.OpenSender(spec)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrPortInUse) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free source port after 64 tries: %w", err)
}

// Listen opens the receive sockets of single-hop or multihop sessions of a
// family now rather than with the first session, so that Accept can answer
// peers before this system wants any session of its own.
func (m *Manager) Listen(multihop bool, f Family) error {
	kind := kindSingleHop
	if multihop {
		kind = kindMultihop
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	_, err := m.listenLocked(kind, f)
	return err
}

// Session returns the session of a key.
func (m *Manager) Session(k Key) (*Session, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.byKey[k]
	return s, ok
}

// Sessions returns every session not removed.
func (m *Manager) Sessions() []*Session {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Session, 0, len(m.byKey))
	for _, s := range m.byKey {
		out = append(out, s)
	}
	return out
}

// forget takes s out of the key and peer indexes (it can be added again);
// its discriminator stays taken while it lingers.
func (m *Manager) forget(s *Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byKey[s.cfg.Key] == s {
		delete(m.byKey, s.cfg.Key)
	}
	list := m.byPeer[s.cfg.Peer]
	for i, o := range list {
		if o == s {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(m.byPeer, s.cfg.Peer)
	} else {
		m.byPeer[s.cfg.Peer] = list
	}
}

func (m *Manager) release(s *Session) {
	m.mu.Lock()
	if m.byDiscr[s.discr] == s {
		delete(m.byDiscr, s.discr)
	}
	m.mu.Unlock()
}

// Close disables every session (each sends AdminDown once, at once),
// closes every socket, stops the goroutines and delivers the last
// changes before it returns.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	sessions := make([]*Session, 0, len(m.byDiscr))
	for _, s := range m.byDiscr {
		sessions = append(sessions, s)
	}
	listeners := m.listeners
	m.listeners = map[listenerKey]*listener{}
	m.mu.Unlock()
	for _, s := range sessions {
		s.shutdown(false)
	}
	var errs []error
	for _, l := range listeners {
		if err := l.conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.stopped.CompareAndSwap(false, true) {
		close(m.stop)
	}
	m.wg.Wait()
	m.notes.flush()
	return errors.Join(errs...)
}

// run is the scheduler goroutine: it sleeps until the earliest deadline
// and steps every expiry due.
func (m *Manager) run() {
	defer m.wg.Done()
	t := m.clk.NewTimer(time.Hour)
	defer t.Stop()
	var due []fired
	for {
		var next time.Time
		var ok bool
		now := m.clk.Now()
		due, next, ok = m.sched.popDue(now, due[:0])
		for i := range due {
			m.fire(due[i])
			due[i] = fired{}
		}
		if len(due) > 0 {
			continue
		}
		wait := time.Hour
		if ok {
			wait = next.Sub(now)
		}
		t.Stop()
		t.Reset(wait)
		select {
		case <-t.C():
		case <-m.sched.wake:
		case <-m.stop:
			return
		}
	}
}

// fireDue steps every expiry due at now (the tests' driver) and returns
// the next deadline.
func (m *Manager) fireDue(now time.Time) (time.Time, bool) {
	due, next, ok := m.sched.popDue(now, nil)
	for _, f := range due {
		m.fire(f)
	}
	if len(due) > 0 {
		return m.sched.next()
	}
	return next, ok
}

func (m *Manager) fire(f fired) {
	switch f.t {
	case bfd.TransmitTimer:
		d := m.clk.Since(f.at)
		m.stats.late.record(d)
		if m.lateHook != nil {
			m.lateHook(d)
		}
	case bfd.DetectTimer:
		if m.deferDetection(f) {
			return
		}
	}
	f.s.fire(f.t, f.token)
}

// detectGrace bounds how long a Detection Time expiry waits for the
// receive socket's backlog; detectRecheck is how often it looks again
// (not every millisecond: when a starved process gets the CPU back with
// many expiries due, the checks must not starve the reader in turn).
const (
	detectGrace   = 100 * time.Millisecond
	detectRecheck = 5 * time.Millisecond
)

// deferDetection re-arms a Detection Time expiry detectRecheck later, with
// the same token, while the session's receive socket holds unread
// datagrams and for at most detectGrace: a packet that reached the socket before the
// deadline, but that this process had no CPU to read yet, is not a path
// failure. It reports whether it deferred. The bound keeps a flood of
// packets from postponing detection for longer.
func (m *Manager) deferDetection(f fired) bool {
	m.mu.RLock()
	l := m.listeners[listenerKey{f.s.kind, familyOf(f.s.cfg.Peer)}]
	m.mu.RUnlock()
	if l == nil {
		return false
	}
	p, ok := l.conn.(interface{ Pending() bool })
	if !ok {
		return false
	}
	now := m.clk.Now()
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deferToken != f.token {
		s.deferToken, s.deferFrom = f.token, f.at
	}
	if s.removed || now.Sub(s.deferFrom) >= detectGrace || !p.Pending() {
		return false
	}
	s.c.detectDeferrals++
	m.sched.set(&s.timers[bfd.DetectTimer], now.Add(detectRecheck), f.token)
	return true
}

// notify queues a change for Options.Notify.
func (m *Manager) notify(c Change) { m.notes.push(c) }
