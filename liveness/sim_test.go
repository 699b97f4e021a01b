package liveness

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// meshSim runs the liveness mesh of n speakers in simulated time: every
// speaker a View, every BFD session a real bfd.Machine, packets encoded,
// delivered after a latency and decoded, timers as scheduled events, and
// reports sent to every other speaker (the direct fan-out of design.md).
// It plays the shell's part as doc.go describes it, and counts packets.
// Deterministic for a seed.
type meshSim struct {
	now     time.Duration
	seq     uint64
	q       meshQueue
	rng     *rand.Rand
	profile bfd.Profile
	// latency is one way, for BFD packets and reports alike, plus up to
	// jitter at random; each direction of a link delivers in order (one
	// path, no reordering), so arrival is never before the previous one.
	latency, jitter time.Duration
	arrival         map[[2]int32]time.Duration
	nodes           []*meshNode
	byName          map[string]int
	discrs          map[uint32]*meshSess
	nextDiscr       uint32
	// fanOut: reports are published and delivered (off during warm-up,
	// when the views are seeded in bulk instead).
	fanOut bool
	// linkDown drops the BFD packets between two speakers (both ways);
	// reportDown the reports from one to another.
	linkDown   func(a, b int) bool
	reportDown func(from, to int) bool
	// watch is the speaker whose death is being timed: deadAt[i] is when
	// speaker i first counted it dead.
	watch  int
	deadAt map[int]time.Duration
	pkt    []byte
}

type meshNode struct {
	name   string
	view   *View
	sess   map[string]*meshSess
	dead   bool
	tickAt time.Duration
	// Packets sent and received (BFD), reports sent and received.
	sent, recv       uint64
	repSent, repRecv uint64
}

type meshSess struct {
	node, peer int
	m          *bfd.Machine
	wanted     bool
	gone       bool
	buf        []bfd.Action
	// Timers are lazy: one queued item per timer, at pending; a restart
	// to a later deadline only moves deadline, and the item re-queues
	// itself when it comes up early. (The Detection Timer restarts with
	// every packet; queueing each restart would triple the queue.)
	deadline [5]time.Duration
	token    [5]uint64
	pending  [5]time.Duration
	queued   [5]bool
}

const (
	evPacket = iota
	evTimer
	evReport
	evTick
)

type meshItem struct {
	at     time.Duration
	seq    uint64
	kind   uint8
	timer  bfd.Timer
	node   int32
	from   int32
	raw    []byte
	sess   *meshSess
	report *Report
}

type meshQueue []meshItem

func (q meshQueue) Len() int { return len(q) }
func (q meshQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q meshQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *meshQueue) Push(x any)   { *q = append(*q, x.(meshItem)) }
func (q *meshQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// livenessProfile is the mesh's BFD profile: 100 ms × 3.
func livenessProfile() bfd.Profile {
	return bfd.Profile{Name: "liveness", ReceiveInterval: 100, TransmitInterval: 100, DetectMultiplier: 3, MinimumTTL: 255}
}

func newMeshSim(seed uint64, n int, cfg Config) *meshSim {
	s := &meshSim{
		rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995)), profile: livenessProfile(),
		latency: 200 * time.Microsecond, jitter: 100 * time.Microsecond,
		byName: map[string]int{}, discrs: map[uint32]*meshSess{}, watch: -1, deadAt: map[int]time.Duration{},
		arrival:  map[[2]int32]time.Duration{},
		linkDown: func(int, int) bool { return false }, reportDown: func(int, int) bool { return false },
	}
	members := names(n)
	for i, name := range members {
		s.byName[name] = i
		s.nodes = append(s.nodes, &meshNode{name: name, view: NewView(cfg, name, 1), sess: map[string]*meshSess{}})
	}
	for i, nd := range s.nodes {
		nd.view.SetMembers(0, members)
		s.afterView(i)
	}
	return s
}

func (s *meshSim) push(it meshItem) {
	s.seq++
	it.seq = s.seq
	heap.Push(&s.q, it)
}

// arrive is when something sent now from one speaker to another arrives.
func (s *meshSim) arrive(from, to int) time.Duration {
	at := s.now + s.latency + time.Duration(s.rng.Int64N(int64(s.jitter)+1))
	link := [2]int32{int32(from), int32(to)}
	at = max(at, s.arrival[link])
	s.arrival[link] = at
	return at
}

func (s *meshSim) run(until time.Duration) {
	for s.q.Len() > 0 && s.q[0].at <= until {
		it := heap.Pop(&s.q).(meshItem)
		s.now = it.at
		nd := s.nodes[it.node]
		if nd.dead {
			continue
		}
		switch it.kind {
		case evPacket:
			s.deliverPacket(int(it.node), int(it.from), it.raw)
		case evTimer:
			ss, t := it.sess, it.timer
			if ss.gone || !ss.queued[t] || it.at != ss.pending[t] {
				continue
			}
			if ss.deadline[t] > it.at {
				ss.pending[t] = ss.deadline[t]
				s.push(meshItem{at: ss.deadline[t], kind: evTimer, node: it.node, sess: ss, timer: t})
				continue
			}
			ss.queued[t] = false
			s.step(ss, bfd.Event{Kind: bfd.TimerExpired, Timer: t, Token: ss.token[t]})
		case evReport:
			nd.repRecv++
			if nd.view.Receive(s.now, *it.report) {
				s.afterView(int(it.node))
			}
		case evTick:
			if it.at == nd.tickAt {
				nd.view.Tick(s.now)
				s.afterView(int(it.node))
			}
		}
	}
	s.now = until
}

func (s *meshSim) deliverPacket(to, from int, raw []byte) {
	nd := s.nodes[to]
	nd.recv++
	var p bfd.Packet
	if err := bfd.Decode(raw, &p); err != nil {
		panic(err)
	}
	var ss *meshSess
	if p.YourDiscr != 0 {
		ss = s.discrs[p.YourDiscr]
		if ss == nil || ss.node != to || ss.gone {
			return // ErrNoSession
		}
	} else if ss = nd.sess[s.nodes[from].name]; ss == nil {
		// A member opens a session this speaker does not want: answer
		// it (doc.go), passively, without a vote.
		ss = s.newSession(to, from, false)
	}
	s.step(ss, bfd.Event{Kind: bfd.Received, Packet: &p, Raw: raw})
}

func (s *meshSim) newSession(node, peer int, wanted bool) *meshSess {
	s.nextDiscr++
	prof := s.profile
	prof.PassiveMode = !wanted
	m, err := bfd.New(bfd.Config{Profile: prof, LocalDiscr: s.nextDiscr})
	if err != nil {
		panic(err)
	}
	ss := &meshSess{node: node, peer: peer, m: m, wanted: wanted}
	s.discrs[s.nextDiscr] = ss
	s.nodes[node].sess[s.nodes[peer].name] = ss
	s.step(ss, bfd.Event{Kind: bfd.Enable})
	return ss
}

func (s *meshSim) removeSession(ss *meshSess) {
	ss.gone = true
	delete(s.discrs, ss.m.Config().LocalDiscr)
	delete(s.nodes[ss.node].sess, s.nodes[ss.peer].name)
}

// step steps one session and carries out its actions.
func (s *meshSim) step(ss *meshSess, ev bfd.Event) {
	ev.Now, ev.Rand = s.now, s.rng.Uint32()
	ss.buf = ss.m.StepAppend(ss.buf[:0], ev)
	nd := s.nodes[ss.node]
	viewChanged := false
	for _, a := range ss.buf {
		switch a.Kind {
		case bfd.SendControl:
			var err error
			s.pkt, err = bfd.AppendPacket(s.pkt[:0], &a.Packet)
			if err != nil {
				panic(err)
			}
			nd.sent++
			if s.linkDown(ss.node, ss.peer) || s.nodes[ss.peer].dead {
				continue
			}
			s.push(meshItem{at: s.arrive(ss.node, ss.peer), kind: evPacket, node: int32(ss.peer), from: int32(ss.node), raw: slices.Clone(s.pkt)})
		case bfd.StartTimer:
			t, at := a.Timer, s.now+a.Duration
			ss.deadline[t], ss.token[t] = at, a.Token
			if !ss.queued[t] || at < ss.pending[t] {
				ss.queued[t], ss.pending[t] = true, at
				s.push(meshItem{at: at, kind: evTimer, node: int32(ss.node), sess: ss, timer: t})
			}
		case bfd.SessionUp:
			nd.view.SetSession(s.now, s.nodes[ss.peer].name, SessionUp)
			viewChanged = true
		case bfd.SessionDown:
			if !ss.wanted {
				nd.view.SetSession(s.now, s.nodes[ss.peer].name, SessionWithdrawn)
				s.removeSession(ss)
				viewChanged = true
				continue
			}
			st := SessionWithdrawn
			if a.Cause.Failure() {
				st = SessionFailed
			}
			nd.view.SetSession(s.now, s.nodes[ss.peer].name, st)
			viewChanged = true
		}
	}
	if viewChanged {
		s.afterView(ss.node)
	}
}

// afterView brings speaker i's sessions in line with its view, publishes
// its report if it is new, arms its tick and notes when it found the
// watched speaker dead.
func (s *meshSim) afterView(i int) {
	nd := s.nodes[i]
	want := nd.view.Sessions()
	for _, p := range want {
		ss := nd.sess[p]
		switch {
		case ss == nil:
			s.newSession(i, s.byName[p], true)
		case !ss.wanted:
			ss.wanted = true
			if ss.m.State() == bfd.Up {
				nd.view.SetSession(s.now, p, SessionUp)
			}
		}
	}
	for p, ss := range nd.sess {
		if ss.wanted && !slices.Contains(want, p) {
			// Unwanted now: AdminDown goes out, then the session goes.
			ss.wanted = false
			s.step(ss, bfd.Event{Kind: bfd.Disable})
			if !ss.gone {
				s.removeSession(ss)
			}
		}
	}
	if s.fanOut {
		if r, ok := nd.view.Publish(s.now); ok {
			for j, other := range s.nodes {
				if j == i || other.dead {
					continue
				}
				nd.repSent++
				if !s.reportDown(i, j) {
					s.push(meshItem{at: s.arrive(i, j), kind: evReport, node: int32(j), report: &r})
				}
			}
		}
	}
	if d, ok := nd.view.Deadline(); ok && (nd.tickAt <= s.now || d < nd.tickAt) {
		nd.tickAt = d
		s.push(meshItem{at: d, kind: evTick, node: int32(i)})
	}
	if s.watch >= 0 && i != s.watch {
		if _, seen := s.deadAt[i]; !seen && !nd.view.IsAlive(s.nodes[s.watch].name) {
			s.deadAt[i] = s.now
		}
	}
}

// seedReports ends the warm-up: every speaker publishes and every other
// one receives it at once, then reports flow as they change.
func (s *meshSim) seedReports() {
	var reports []Report
	for _, nd := range s.nodes {
		r, _ := nd.view.Publish(s.now)
		reports = append(reports, r)
	}
	for i, nd := range s.nodes {
		for j, r := range reports {
			if i != j {
				nd.view.Receive(s.now, r)
			}
		}
	}
	s.fanOut = true
	for i := range s.nodes {
		s.afterView(i)
	}
}

// kill stops speaker i at once: no packet, no report, no timer.
func (s *meshSim) kill(i int) { s.nodes[i].dead = true }

type counts struct{ sent, recv, repSent, repRecv uint64 }

func (s *meshSim) counts() []counts {
	out := make([]counts, len(s.nodes))
	for i, nd := range s.nodes {
		out[i] = counts{nd.sent, nd.recv, nd.repSent, nd.repRecv}
	}
	return out
}

// allUp reports whether every live speaker's wanted sessions are Up.
func (s *meshSim) allUp() error {
	for _, nd := range s.nodes {
		if nd.dead {
			continue
		}
		for _, p := range nd.view.Sessions() {
			if ss := nd.sess[p]; ss == nil || ss.m.State() != bfd.Up {
				return fmt.Errorf("%s: session to %s not up", nd.name, p)
			}
		}
	}
	return nil
}

// stats are order statistics of durations.
type stats struct {
	n                     int
	min, median, p99, max time.Duration
}

func statsOf(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return stats{n: len(ds), min: ds[0], median: at(0.5), p99: at(0.99), max: ds[len(ds)-1]}
}

func (st stats) String() string {
	return fmt.Sprintf("n=%d min %v median %v p99 %v max %v", st.n, st.min.Round(time.Millisecond),
		st.median.Round(time.Millisecond), st.p99.Round(time.Millisecond), st.max.Round(time.Millisecond))
}
