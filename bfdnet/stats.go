package bfdnet

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// ManagerStats counts what reached no session, and how punctual the
// scheduler is.
type ManagerStats struct {
	// Sessions is the number of sessions, lingering ones included.
	Sessions int
	// NoSession counts well-formed packets that name no session: an
	// unknown Your Discriminator, one of another peer or port, or a first
	// packet from an address no session (and no Accept) wants.
	NoSession uint64
	// TTLDrops and Malformed count packets from addresses no session has,
	// dropped for their TTL or by bfd.Decode.
	TTLDrops  uint64
	Malformed bfd.DropCounts
	// EchoUnknown counts returning Echo packets that are not a running
	// Echo session's (a damaged packet, a discriminator no session has).
	EchoUnknown uint64
	// ReadErrors counts failed reads on the receive sockets.
	ReadErrors uint64
	// QueueDrops counts datagrams the kernel dropped because a receive
	// socket's buffer was full (this process did not read fast enough),
	// as far as the sockets have reported it.
	QueueDrops uint64
	// Lateness is how long after its deadline every transmit timer
	// expiry was stepped: the delay the shell adds to the jittered
	// schedule (the socket's own is not in it).
	Lateness Lateness
}

// LatenessBounds are the upper bounds of Lateness.Counts' buckets; the
// last bucket has none.
var LatenessBounds = [...]time.Duration{100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond}

// Lateness is a histogram of delays.
type Lateness struct {
	// Counts[i] counts delays of at most LatenessBounds[i] (and more than
	// the bound before); the last counts the rest.
	Counts [len(LatenessBounds) + 1]uint64
	Count  uint64
	Sum    time.Duration
	Max    time.Duration
}

// Quantile estimates the q-quantile (0 < q ≤ 1) as the upper bound of its
// bucket; Max for the last bucket.
func (l Lateness) Quantile(q float64) time.Duration {
	if l.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(l.Count) + 0.5)
	var seen uint64
	for i, c := range l.Counts {
		seen += c
		if seen >= rank && c > 0 {
			if i < len(LatenessBounds) {
				return LatenessBounds[i]
			}
			return l.Max
		}
	}
	return l.Max
}

type lateness struct {
	counts [len(LatenessBounds) + 1]atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
}

func (l *lateness) record(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(LatenessBounds) && d > LatenessBounds[i] {
		i++
	}
	l.counts[i].Add(1)
	l.sum.Add(int64(d))
	for {
		m := l.max.Load()
		if int64(d) <= m || l.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (l *lateness) snapshot() Lateness {
	var out Lateness
	for i := range l.counts {
		out.Counts[i] = l.counts[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = time.Duration(l.sum.Load())
	out.Max = time.Duration(l.max.Load())
	return out
}

type managerCounters struct {
	noSession   atomic.Uint64
	ttlDrops    atomic.Uint64
	malformed   [len(bfd.DropCounts{})]atomic.Uint64
	echoUnknown atomic.Uint64
	readErrors  atomic.Uint64
	late        lateness
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() ManagerStats {
	m.mu.RLock()
	n := len(m.byDiscr)
	m.mu.RUnlock()
	st := ManagerStats{Sessions: n, NoSession: m.stats.noSession.Load(), TTLDrops: m.stats.ttlDrops.Load(),
		EchoUnknown: m.stats.echoUnknown.Load(), ReadErrors: m.stats.readErrors.Load(), Lateness: m.stats.late.snapshot()}
	for i := range m.stats.malformed {
		st.Malformed[i] = m.stats.malformed[i].Load()
	}
	m.mu.RLock()
	for _, l := range m.listeners {
		st.QueueDrops += uint64(l.queueDrops.Load())
	}
	m.mu.RUnlock()
	return st
}

// notifier delivers changes to Options.Notify in order, from its own
// goroutine, so that a session's lock is never held while the caller's
// code runs.
type notifier struct {
	fn      func(Change)
	mu      sync.Mutex
	q       []Change
	spare   []Change
	wake    chan struct{}
	deliver sync.Mutex // one flush at a time keeps the order
}

func (n *notifier) init(fn func(Change)) {
	n.fn = fn
	n.wake = make(chan struct{}, 1)
}

func (n *notifier) push(c Change) {
	if n.fn == nil {
		return
	}
	n.mu.Lock()
	n.q = append(n.q, c)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run(wg *sync.WaitGroup, stop <-chan struct{}) {
	defer wg.Done()
	for {
		select {
		case <-n.wake:
			n.flush()
		case <-stop:
			return
		}
	}
}

// flush delivers everything queued.
func (n *notifier) flush() {
	n.deliver.Lock()
	defer n.deliver.Unlock()
	for {
		n.mu.Lock()
		batch := n.q
		n.q, n.spare = n.spare, nil
		n.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, c := range batch {
			n.fn(c)
		}
		clear(batch)
		n.mu.Lock()
		n.spare = batch[:0]
		n.mu.Unlock()
	}
}
