package liveness

import (
	"slices"
	"time"
)

// Config tunes the mesh. The zero value means the defaults.
type Config struct {
	// Neighbors is how many ring neighbours on each side a speaker keeps
	// BFD sessions with: 2·Neighbors sessions per speaker, and as many
	// watchers per speaker. Default 2.
	Neighbors int
	// Grace is how long a wanted session may take to come up before its
	// absence counts as Down. Default 3 s: a session at the slow rate of
	// RFC 5880 §6.8.3 (1 s) comes up within one or two packets.
	Grace time.Duration
	// ReportTTL, if positive, is how long a report counts without a newer
	// one from its reporter, which then republishes every ReportTTL/3.
	// Zero (the default): reports count until superseded, and a speaker
	// publishes only when its observations change, so the steady state
	// sends no reports at all; partitions are then resolved by second
	// opinions and the healed ring (design.md), a little more slowly.
	ReportTTL time.Duration
	// StartHold is how long a speaker that knows no other member when it
	// first learns the member list leaves itself out of its own alive
	// set. Speakers that start together (a new cluster) each know only
	// themselves at first and would each answer every L2 IP until they
	// hear of one another; held, they answer nothing until the member
	// lists have had time to cross. A speaker that starts into a running
	// cluster finds the others listed and is not held. Default 3 s;
	// negative: no hold.
	StartHold time.Duration
}

// DefaultConfig is the configuration the zero Config stands for.
func DefaultConfig() Config {
	return Config{Neighbors: 2, Grace: 3 * time.Second, StartHold: 3 * time.Second}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Neighbors <= 0 {
		c.Neighbors = d.Neighbors
	}
	if c.Grace <= 0 {
		c.Grace = d.Grace
	}
	c.ReportTTL = max(c.ReportTTL, 0)
	if c.StartHold == 0 {
		c.StartHold = d.StartHold
	}
	c.StartHold = max(c.StartHold, 0)
	return c
}

// SessionState is what the shell tells the View about one BFD session.
type SessionState uint8

const (
	// SessionUp: the BFD session is Up.
	SessionUp SessionState = iota + 1
	// SessionFailed: it went Down for a failure (bfd.DownCause.Failure).
	SessionFailed
	// SessionWithdrawn: it went Down because the peer disabled it
	// (AdminDown). Not a vote: the peer stopped wanting the session (its
	// ring changed), and a stopping speaker says so with a Leaving report.
	// The session starts a new grace period: one that does not come back
	// Up within it votes Down, in case the leaving report was lost.
	SessionWithdrawn
)

type session struct {
	since time.Duration // when it became wanted
	state SessionState  // 0 until the shell reports
}

type received struct {
	r  Report
	at time.Duration
	// votes are r's observations resolved against the ring (none for a
	// leaving report or a non-member reporter).
	votes  []vote
	member bool
}

// View is one speaker's liveness state: the members, its own sessions,
// the reports it received, and what follows from them. It is a pure value
// (no I/O, clock or goroutine): every mutator takes the shell's monotonic
// clock, and results are computed when read.
type View struct {
	cfg   Config
	self  string
	epoch uint64
	seq   uint64
	// ring is the members and self in ring order, index their positions.
	ring  []string
	index map[string]int
	// wanted are the session peers (Sessions), sessions their states.
	wanted   []string
	sessions map[string]*session
	// answered are the peers whose sessions the shell answers without
	// this View wanting them, and that are Up: they do not vote, but they
	// show this speaker is not isolated.
	answered map[string]bool
	reports  map[string]received
	alive    []string
	// dead and contested are by ring position.
	dead      []bool
	contested []bool
	// dirty: alive and wanted must be recomputed at now.
	dirty bool
	now   time.Duration
	// published is the last report Publish returned, at publishedAt.
	published   Report
	publishedAt time.Duration
	hasPub      bool
	leaving     bool
	// membersSet: SetMembers has been called; holdUntil is when the start
	// hold ends (zero: no hold).
	membersSet bool
	holdUntil  time.Duration
}

// NewView starts the view of speaker self; epoch must grow with every
// restart of the speaker (its start time, for instance).
func NewView(cfg Config, self string, epoch uint64) *View {
	v := &View{cfg: cfg.withDefaults(), self: self, epoch: epoch,
		sessions: map[string]*session{}, reports: map[string]received{}, answered: map[string]bool{}}
	v.setRing(nil)
	return v
}

func (v *View) setRing(members []string) {
	v.ring = Ring(append(slices.Clone(members), v.self))
	v.index = ringIndex(v.ring)
	v.dirty = true
	for name, r := range v.reports {
		v.reports[name] = v.resolved(r)
	}
	for p := range v.answered {
		if _, ok := v.index[p]; !ok {
			delete(v.answered, p)
		}
	}
}

// resolved is r with its votes resolved against the current ring.
func (v *View) resolved(r received) received {
	i, ok := v.index[r.r.Reporter]
	r.member, r.votes = ok, nil
	if ok && !r.r.Leaving {
		r.votes = resolve(nil, v.index, i, r.r.Observations)
	}
	return r
}

func (v *View) at(now time.Duration) {
	if now > v.now {
		v.now = now
	}
	v.dirty = true
}

// SetMembers replaces the member list (the speakers the API lists). The
// first call decides the start hold (Config.StartHold): a list with no
// member but Self starts it.
func (v *View) SetMembers(now time.Duration, names []string) {
	v.at(now)
	if !v.membersSet {
		v.membersSet = true
		if !slices.ContainsFunc(names, func(n string) bool { return n != v.self }) && v.cfg.StartHold > 0 {
			v.holdUntil = now + v.cfg.StartHold
		}
	}
	v.setRing(names)
}

// Holding reports whether the start hold keeps Self out of its alive set.
func (v *View) Holding() bool { return v.now < v.holdUntil }

// HoldLeft is how much of the start hold is left at the View's time (zero
// when it is not holding), for the shell to report.
func (v *View) HoldLeft() time.Duration { return max(0, v.holdUntil-v.now) }

// SetSession records what the BFD session to peer says. Sessions to peers
// the View does not want (the shell answers them, so that the peer's
// session comes up) do not vote, but one that is Up shows this speaker is
// not isolated.
func (v *View) SetSession(now time.Duration, peer string, s SessionState) {
	v.refresh()
	ss := v.sessions[peer]
	switch {
	case ss != nil && s == SessionWithdrawn:
		// The peer disabled a session this speaker wants. A peer that
		// merely stopped wanting it answers again (passively) and the
		// session comes back Up; one that stopped says so in a leaving
		// report. If neither happens within the grace period — the
		// leaving report was lost — the session counts as Down, as a
		// new session that never came up would.
		ss.state, ss.since = 0, now
		v.at(now)
	case ss != nil && ss.state != s:
		ss.state = s
		v.at(now)
	case ss == nil && (s == SessionUp) != v.answered[peer]:
		if s == SessionUp {
			v.answered[peer] = true
		} else {
			delete(v.answered, peer)
		}
		v.at(now)
	}
}

// Receive takes another speaker's report and returns whether it was newer
// than the one held.
func (v *View) Receive(now time.Duration, r Report) bool {
	if r.Reporter == v.self {
		return false
	}
	if old, ok := v.reports[r.Reporter]; ok && !r.Newer(old.r) {
		return false
	}
	r.Observations = slices.Clone(r.Observations)
	v.reports[r.Reporter] = v.resolved(received{r: r, at: now})
	v.at(now)
	return true
}

// Tick lets time pass: sessions past their grace start to vote, reports
// past their TTL stop. Call it at Deadline.
func (v *View) Tick(now time.Duration) { v.at(now) }

// Leave marks this speaker as stopping: its next published report says
// so, and the others count it dead at once.
func (v *View) Leave(now time.Duration) {
	v.leaving = true
	v.at(now)
}

// Sessions are the peers this speaker must run BFD sessions with, sorted
// by name:
//   - its Neighbors nearest members on each side of the ring;
//   - its Neighbors nearest alive ones, so that a member whose watchers
//     all died gets new watchers;
//   - the contested members it adopts: when a live watcher sees a member
//     Down, the Neighbors nearest alive members on each side beyond the
//     member's ring neighbours watch it too, and the majority of all the
//     votes decides (a dead member's new sessions never come up and vote
//     Down after the grace period; a live one's come up and vote Up, so a
//     member cut off from its watchers but reachable by others stays);
//   - the peers it had that are dead now, whose votes must stay.
func (v *View) Sessions() []string {
	v.refresh()
	return slices.Clone(v.wanted)
}

// Alive is the alive set, in ring order. Self is left out while Holding:
// it is not dead (it votes, publishes and counts in the others' views),
// but it must not elect itself owner of anything yet.
func (v *View) Alive() []string {
	v.refresh()
	return slices.Clone(v.alive)
}

// IsAlive reports whether name is in the alive set.
func (v *View) IsAlive(name string) bool {
	v.refresh()
	i, ok := v.index[name]
	return ok && !v.dead[i] && !(name == v.self && v.Holding())
}

// Observations are this speaker's votes: its wanted sessions that are Up,
// that failed, or that are past their grace without having reported.
// Sorted by node.
func (v *View) Observations() []Observation {
	v.refresh()
	return v.observations()
}

func (v *View) observations() []Observation {
	var out []Observation
	for _, p := range v.wanted {
		s := v.sessions[p]
		switch {
		case s.state == SessionUp:
			out = append(out, Observation{Node: p, Up: true})
		case s.state == SessionFailed:
			out = append(out, Observation{Node: p})
		case s.state == 0 && v.now-s.since >= v.cfg.Grace:
			out = append(out, Observation{Node: p})
		}
	}
	return out
}

// Publish returns this speaker's report and whether it is new: its
// observations changed since the last one, it is leaving, or ReportTTL/3
// passed (a refresh, so that others do not expire it). The shell sends a
// new report to the other speakers. A speaker dead in its own view
// publishes no observations.
func (v *View) Publish(now time.Duration) (Report, bool) {
	v.at(now)
	v.refresh()
	var obs []Observation
	if !v.dead[v.index[v.self]] {
		// A speaker dead in its own view (isolated, most likely by its own
		// fault, or voted dead) keeps its votes to itself: they would
		// count against its peers in the round before it is found dead.
		obs = v.observations()
	}
	if v.hasPub && v.published.Leaving == v.leaving && slices.Equal(v.published.Observations, obs) &&
		(v.cfg.ReportTTL == 0 || now-v.publishedAt < v.cfg.ReportTTL/3) {
		return v.published, false
	}
	v.seq++
	v.published = Report{Reporter: v.self, Epoch: v.epoch, Seq: v.seq, Leaving: v.leaving, Observations: obs}
	v.publishedAt, v.hasPub = now, true
	return v.published, true
}

// Deadline is the next time at which Tick (and Publish) may change
// something: the start hold ending, a session's grace ending, a report
// expiring, a refresh falling due.
func (v *View) Deadline() (time.Duration, bool) {
	v.refresh()
	var d time.Duration
	ok := false
	at := func(t time.Duration) {
		if !ok || t < d {
			d, ok = t, true
		}
	}
	if v.Holding() {
		at(v.holdUntil)
	}
	for _, p := range v.wanted {
		if s := v.sessions[p]; s.state == 0 && s.since+v.cfg.Grace > v.now {
			at(s.since + v.cfg.Grace)
		}
	}
	if v.cfg.ReportTTL > 0 {
		for _, r := range v.reports {
			if r.at+v.cfg.ReportTTL > v.now {
				at(r.at + v.cfg.ReportTTL)
			}
		}
		if v.hasPub {
			at(v.publishedAt + v.cfg.ReportTTL/3)
		}
	}
	return d, ok
}

// refresh recomputes the alive set and the wanted sessions if anything
// changed. Sessions follow the alive set and votes follow sessions, so it
// repeats until both hold still; a new session starts without a vote, so
// that is at once in practice, and it is bounded regardless.
func (v *View) refresh() {
	if !v.dirty {
		return
	}
	v.dirty = false
	si := v.index[v.self]
	for range 4 {
		var votes []vote
		var gone []int32
		for _, r := range v.reports {
			if !r.member || v.cfg.ReportTTL > 0 && v.now-r.at >= v.cfg.ReportTTL {
				continue
			}
			if r.r.Leaving {
				gone = append(gone, int32(v.index[r.r.Reporter]))
			}
			votes = append(votes, r.votes...)
		}
		own := resolve(nil, v.index, si, v.observations())
		v.dead, v.contested = decide(len(v.ring), si, own, votes, gone, len(v.answered) > 0)
		v.alive = aliveOf(v.ring, v.dead)
		if v.Holding() {
			v.alive = slices.DeleteFunc(v.alive, func(n string) bool { return n == v.self })
		}
		if !v.updateSessions() {
			return
		}
	}
}

// adopted are the contested members this speaker gives a second opinion
// on: for each, the Neighbors nearest alive members on each side beyond
// its ring neighbours watch it too. The set depends on the ring and the
// dead only, not on the votes the second opinions add, so it holds still
// while they come in.
func (v *View) adopted() []string {
	var out []string
	n, r := len(v.ring), v.cfg.Neighbors
	si := v.index[v.self]
	for x, c := range v.contested {
		if !c || x == si || n <= 2*r+1 {
			continue
		}
		for _, dir := range []int{1, n - 1} {
			found := 0
			for d := r + 1; d < n && found < r; d++ {
				j := (x + d*dir) % n
				if j == x || v.dead[j] {
					continue
				}
				found++
				if j == si {
					out = append(out, v.ring[x])
				}
			}
		}
	}
	return out
}

// updateSessions recomputes the wanted peers; it reports a change.
func (v *View) updateSessions() bool {
	aliveRing := make([]string, 0, len(v.ring))
	for i, m := range v.ring {
		if m == v.self || !v.dead[i] {
			aliveRing = append(aliveRing, m)
		}
	}
	want := append(Neighbors(v.ring, v.self, v.cfg.Neighbors), Neighbors(aliveRing, v.self, v.cfg.Neighbors)...)
	want = append(want, v.adopted()...)
	// A peer that died keeps its session, and so its vote: dropping it
	// would leave the member without the vote that killed it, alive again,
	// wanted again, and so on. (A session that is not Up costs a packet a
	// second.) It goes when the member leaves the list.
	for _, p := range v.wanted {
		if i, ok := v.index[p]; ok && v.dead[i] {
			want = append(want, p)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if slices.Equal(want, v.wanted) {
		return false
	}
	for _, p := range want {
		if v.sessions[p] == nil {
			v.sessions[p] = &session{since: v.now}
			delete(v.answered, p) // the shell reports it afresh
		}
	}
	for _, p := range v.wanted {
		if !slices.Contains(want, p) {
			delete(v.sessions, p)
		}
	}
	v.wanted = want
	return true
}
