package liveness

import (
	"slices"
)

// Observation is what one speaker's BFD session to Node says.
type Observation struct {
	Node string
	// Up: the session is Up. False: it failed (detection time, Echo, the
	// peer signaling Down) or never came up within the grace period. A
	// session the peer withdrew (its AdminDown) or still coming up is not
	// an observation at all.
	Up bool
}

// Report is one speaker's observations of its session peers, as it
// publishes them. Versions order a reporter's reports: a higher Epoch (a
// new incarnation of the speaker) wins, then a higher Seq.
type Report struct {
	Reporter string
	Epoch    uint64
	Seq      uint64
	// Leaving: the speaker is stopping. It counts as dead until a report
	// of a newer Epoch.
	Leaving bool
	// Observations, sorted by Node.
	Observations []Observation
}

// Newer reports whether r supersedes o (same reporter assumed).
func (r Report) Newer(o Report) bool {
	if r.Epoch != o.Epoch {
		return r.Epoch > o.Epoch
	}
	return r.Seq > o.Seq
}

// Inputs is everything one verdict depends on.
type Inputs struct {
	// Members are the speakers the API lists (Self is one implicitly).
	Members []string
	Self    string
	// Own are Self's observations from its own sessions, fresher than any
	// report it published.
	Own []Observation
	// Reports are the fresh reports of other speakers (expired ones left
	// out); reports of non-members and of Self are ignored.
	Reports []Report
}

// Decide computes the alive set, the same on every speaker given the same
// inputs. The rules:
//
//   - A member is dead when its own latest report says it is leaving, or
//     when more of the votes about it say Down than Up. A vote is one
//     reporter's observation of its session to the member; only reporters
//     that are members, not the member itself, and not dead count. Ties
//     keep a member alive: one watcher's broken link, or a member cut off
//     from exactly half of its watchers, does not move its addresses.
//   - Dead reporters' votes are dropped, which can leave other members
//     with a Down majority; this repeats, in rounds that each use the dead
//     set of the round before, until nothing changes. Death is monotone
//     within one decision: a member found dead stays dead even if the
//     votes that killed it came from a reporter found dead later. That
//     ends the repetition, keeps the answer independent of any order, and
//     errs towards moving addresses rather than leaving them on a node
//     that may be gone. (Dropping the monotony can oscillate: two members
//     that voted each other down and whose only witness died would revive
//     and die in turn.)
//   - A member with no votes at all is alive: the API says it exists and
//     nobody has seen it fail (so a starting speaker agrees with the
//     others rather than claiming everything).
//   - Self is also dead when isolated: it has observations of its own and
//     none of them is Up. A speaker that can see none of its peers
//     assumes the failure is its own and stands down; its peers, seeing
//     it Down, take its addresses over.
//
// It returns the alive members in ring order.
func Decide(in Inputs) []string {
	ring := Ring(append(slices.Clone(in.Members), in.Self))
	return decide(ring, ringIndex(ring), in.Self, in.Own, in.Reports)
}

func ringIndex(ring []string) map[string]int {
	index := make(map[string]int, len(ring))
	for i, m := range ring {
		index[m] = i
	}
	return index
}

// decide is Decide on a ring already built (members and self, in ring
// order) with its index.
func decide(members []string, index map[string]int, self string, own []Observation, reports []Report) []string {
	type ballot struct {
		reporter int
		up       bool
	}
	about := make([][]ballot, len(members))
	dead := make([]bool, len(members))
	add := func(reporter int, obs []Observation) {
		for _, o := range obs {
			if j, ok := index[o.Node]; ok && j != reporter {
				about[j] = append(about[j], ballot{reporter, o.Up})
			}
		}
	}
	si := index[self]
	add(si, own)
	for _, r := range reports {
		i, ok := index[r.Reporter]
		if !ok || i == si {
			continue
		}
		if r.Leaving {
			dead[i] = true
			continue
		}
		add(i, r.Observations)
	}
	ownUp, ownAny := false, false
	for _, o := range own {
		if _, ok := index[o.Node]; ok && o.Node != self {
			ownAny = true
			ownUp = ownUp || o.Up
		}
	}
	if ownAny && !ownUp {
		dead[si] = true
	}
	next := make([]bool, len(members))
	for changed := true; changed; {
		changed = false
		for j := range members {
			if dead[j] {
				next[j] = true
				continue
			}
			up, down := 0, 0
			for _, b := range about[j] {
				if dead[b.reporter] {
					continue
				}
				if b.up {
					up++
				} else {
					down++
				}
			}
			next[j] = down > up
			changed = changed || next[j]
		}
		dead, next = next, dead
	}
	alive := make([]string, 0, len(members))
	for j, m := range members {
		if !dead[j] {
			alive = append(alive, m)
		}
	}
	return alive
}
