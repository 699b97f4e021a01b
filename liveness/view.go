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
	// ReportTTL is how long a report counts without a newer one from its
	// reporter, which republishes every ReportTTL/3. Negative: forever.
	// Default 30 s.
	ReportTTL time.Duration
}

// DefaultConfig is the configuration the zero Config stands for.
func DefaultConfig() Config {
	return Config{Neighbors: 2, Grace: 3 * time.Second, ReportTTL: 30 * time.Second}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Neighbors <= 0 {
		c.Neighbors = d.Neighbors
	}
	if c.Grace <= 0 {
		c.Grace = d.Grace
	}
	switch {
	case c.ReportTTL < 0:
		c.ReportTTL = 0
	case c.ReportTTL == 0:
		c.ReportTTL = d.ReportTTL
	}
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
	SessionWithdrawn
)

type session struct {
	since time.Duration // when it became wanted
	state SessionState  // 0 until the shell reports
}

type received struct {
	r  Report
	at time.Duration
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
	reports  map[string]received
	alive    []string
	aliveSet map[string]bool
	// dirty: alive and wanted must be recomputed at now.
	dirty bool
	now   time.Duration
	// published is the last report Publish returned, at publishedAt.
	published   Report
	publishedAt time.Duration
	hasPub      bool
	leaving     bool
}

// NewView starts the view of speaker self; epoch must grow with every
// restart of the speaker (its start time, for instance).
func NewView(cfg Config, self string, epoch uint64) *View {
	v := &View{cfg: cfg.withDefaults(), self: self, epoch: epoch,
		sessions: map[string]*session{}, reports: map[string]received{}}
	v.setRing(nil)
	return v
}

func (v *View) setRing(members []string) {
	v.ring = Ring(append(slices.Clone(members), v.self))
	v.index = ringIndex(v.ring)
	v.dirty = true
}

func (v *View) at(now time.Duration) {
	if now > v.now {
		v.now = now
	}
	v.dirty = true
}

// SetMembers replaces the member list (the speakers the API lists).
func (v *View) SetMembers(now time.Duration, names []string) {
	v.at(now)
	v.setRing(names)
}

// SetSession records what the BFD session to peer says. Sessions to peers
// the View does not want are ignored: the shell answers them (so that the
// peer's session comes up) but they do not vote.
func (v *View) SetSession(now time.Duration, peer string, s SessionState) {
	v.refresh()
	if ss := v.sessions[peer]; ss != nil && ss.state != s {
		ss.state = s
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
	v.reports[r.Reporter] = received{r: r, at: now}
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

// Sessions are the peers this speaker must run BFD sessions with: its
// Neighbors nearest members on each side of the ring, and its Neighbors
// nearest alive ones, so that a member whose watchers all died gets new
// watchers. Sorted by name.
func (v *View) Sessions() []string {
	v.refresh()
	return slices.Clone(v.wanted)
}

// Alive is the alive set, in ring order.
func (v *View) Alive() []string {
	v.refresh()
	return slices.Clone(v.alive)
}

// IsAlive reports whether name is in the alive set.
func (v *View) IsAlive(name string) bool {
	v.refresh()
	return v.aliveSet[name]
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
	if v.aliveSet[v.self] {
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
// something: a session's grace ending, a report expiring, a refresh
// falling due.
func (v *View) Deadline() (time.Duration, bool) {
	v.refresh()
	var d time.Duration
	ok := false
	at := func(t time.Duration) {
		if !ok || t < d {
			d, ok = t, true
		}
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
	for range 4 {
		var fresh []Report
		for _, r := range v.reports {
			if v.cfg.ReportTTL == 0 || v.now-r.at < v.cfg.ReportTTL {
				fresh = append(fresh, r.r)
			}
		}
		v.alive = decide(v.ring, v.index, v.self, v.observations(), fresh)
		v.aliveSet = make(map[string]bool, len(v.alive))
		for _, a := range v.alive {
			v.aliveSet[a] = true
		}
		if !v.updateSessions() {
			return
		}
	}
}

// updateSessions recomputes the wanted peers; it reports a change.
func (v *View) updateSessions() bool {
	aliveRing := make([]string, 0, len(v.ring))
	for _, m := range v.ring {
		if m == v.self || v.aliveSet[m] {
			aliveRing = append(aliveRing, m)
		}
	}
	want := append(Neighbors(v.ring, v.self, v.cfg.Neighbors), Neighbors(aliveRing, v.self, v.cfg.Neighbors)...)
	slices.Sort(want)
	want = slices.Compact(want)
	if slices.Equal(want, v.wanted) {
		return false
	}
	for _, p := range want {
		if v.sessions[p] == nil {
			v.sessions[p] = &session{since: v.now}
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
