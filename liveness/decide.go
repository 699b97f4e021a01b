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
	index := ringIndex(ring)
	si := index[in.Self]
	var votes []vote
	var leaving []int32
	for _, r := range in.Reports {
		i, ok := index[r.Reporter]
		if !ok || i == si {
			continue
		}
		if r.Leaving {
			leaving = append(leaving, int32(i))
			continue
		}
		votes = resolve(votes, index, i, r.Observations)
	}
	dead, _ := decide(len(ring), si, resolve(nil, index, si, in.Own), votes, leaving, false)
	return aliveOf(ring, dead)
}

func ringIndex(ring []string) map[string]int {
	index := make(map[string]int, len(ring))
	for i, m := range ring {
		index[m] = i
	}
	return index
}

// vote is one observation with its reporter and subject as ring positions.
type vote struct {
	reporter, subject int32
	up                bool
}

// resolve appends reporter's observations of members as votes, dropping
// observations of non-members and of the reporter itself.
func resolve(dst []vote, index map[string]int, reporter int, obs []Observation) []vote {
	for _, o := range obs {
		if j, ok := index[o.Node]; ok && j != reporter {
			dst = append(dst, vote{int32(reporter), int32(j), o.Up})
		}
	}
	return dst
}

func aliveOf(ring []string, dead []bool) []string {
	alive := make([]string, 0, len(ring))
	for j, m := range ring {
		if !dead[j] {
			alive = append(alive, m)
		}
	}
	return alive
}

// decide is Decide on ring positions: n members, self at si, self's own
// votes, the others' votes, and the members dead from the start (leaving).
// It returns the dead, and the contested: members a live reporter sees
// Down.
//
// othersUp says a session Self answers without wanting it is Up: Self is
// not isolated then, whatever its own sessions say.
func decide(n, si int, own, votes []vote, gone []int32, othersUp bool) (dead, contested []bool) {
	dead = make([]bool, n)
	for _, i := range gone {
		dead[i] = true
	}
	ownUp := false
	for _, v := range own {
		ownUp = ownUp || v.up
	}
	if len(own) > 0 && !ownUp && !othersUp {
		dead[si] = true
	}
	// The votes grouped by subject (a counting sort).
	start := make([]int32, n+1)
	for _, v := range own {
		start[v.subject+1]++
	}
	for _, v := range votes {
		start[v.subject+1]++
	}
	for j := range n {
		start[j+1] += start[j]
	}
	about := make([]vote, len(own)+len(votes))
	fill := slices.Clone(start[:n])
	for _, vs := range [2][]vote{own, votes} {
		for _, v := range vs {
			about[fill[v.subject]] = v
			fill[v.subject]++
		}
	}
	next := make([]bool, n)
	for changed := true; changed; {
		changed = false
		for j := range n {
			if dead[j] {
				next[j] = true
				continue
			}
			up, down := 0, 0
			for _, b := range about[start[j]:start[j+1]] {
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
	contested = next
	clear(contested)
	for _, vs := range [2][]vote{own, votes} {
		for _, v := range vs {
			if !v.up && !dead[v.reporter] {
				contested[v.subject] = true
			}
		}
	}
	return dead, contested
}
