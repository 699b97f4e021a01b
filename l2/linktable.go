package l2

import (
	"net/netip"
	"slices"
)

// EventKind is what happened to a link.
type EventKind uint8

const (
	LinkAdded   EventKind = iota + 1 // first seen
	LinkUp                           // became Up (admin and oper up)
	LinkDown                         // stopped being Up
	LinkChanged                      // another attribute changed (name, MAC, flags, master)
	LinkRemoved                      // deleted; Link is its last known state
	AddrAdded                        // Addr was added to the link
	AddrRemoved                      // Addr was removed from the link
)

var eventKindNames = [...]string{"?", "LinkAdded", "LinkUp", "LinkDown", "LinkChanged", "LinkRemoved", "AddrAdded", "AddrRemoved"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "EventKind(?)"
}

// Event reports one change to one link with the link's state after it and
// the filter's verdict on that state.
type Event struct {
	Kind   EventKind
	Link   Link
	Addr   netip.Prefix // for AddrAdded and AddrRemoved
	Reason Reason       // ReasonUsable when the link may announce
}

// Usable is Reason == ReasonUsable.
func (e Event) Usable() bool { return e.Reason == ReasonUsable }

// linkTable is the pure state of interface discovery: the links known and
// their addresses. Each method takes one netlink notification (already
// converted) and returns the events it causes, so the translation from
// netlink to events is tested without netlink.
type linkTable struct {
	filter Filter
	links  map[int]*Link
	// early holds addresses reported for a link index not seen yet (an
	// address notification can overtake its link's).
	early map[int][]netip.Prefix
}

func newLinkTable(f Filter) *linkTable {
	return &linkTable{filter: f, links: map[int]*Link{}, early: map[int][]netip.Prefix{}}
}

func (t *linkTable) event(k EventKind, l *Link, addr netip.Prefix) Event {
	c := l.clone()
	return Event{Kind: k, Link: c, Addr: addr, Reason: t.filter.Usable(c)}
}

// setLink applies a new-link notification: the full current attributes of
// one link (its Addrs field is ignored; addresses come separately).
func (t *linkTable) setLink(l Link) []Event {
	old := t.links[l.Index]
	if old == nil {
		l.Addrs = t.early[l.Index]
		delete(t.early, l.Index)
		slices.SortFunc(l.Addrs, comparePrefix)
		t.links[l.Index] = &l
		return []Event{t.event(LinkAdded, &l, netip.Prefix{})}
	}
	l.Addrs = old.Addrs
	prev := *old
	*old = l
	switch {
	case prev.Up() != l.Up() && l.Up():
		return []Event{t.event(LinkUp, old, netip.Prefix{})}
	case prev.Up() != l.Up():
		return []Event{t.event(LinkDown, old, netip.Prefix{})}
	case !sameAttrs(prev, l):
		return []Event{t.event(LinkChanged, old, netip.Prefix{})}
	}
	return nil
}

func sameAttrs(a, b Link) bool {
	return a.Index == b.Index && a.Name == b.Name && a.Kind == b.Kind && a.MAC == b.MAC &&
		a.Ethernet == b.Ethernet && a.AdminUp == b.AdminUp && a.OperUp == b.OperUp &&
		a.Loopback == b.Loopback && a.NoARP == b.NoARP && a.MasterIndex == b.MasterIndex
}

// removeLink applies a deleted-link notification.
func (t *linkTable) removeLink(index int) []Event {
	delete(t.early, index)
	old := t.links[index]
	if old == nil {
		return nil
	}
	delete(t.links, index)
	return []Event{t.event(LinkRemoved, old, netip.Prefix{})}
}

// setAddr applies an address notification.
func (t *linkTable) setAddr(index int, p netip.Prefix, added bool) []Event {
	// Keep the host part (a node's 192.0.2.5/24 stays that), drop a zone.
	p = netip.PrefixFrom(p.Addr().WithZone(""), p.Bits())
	l := t.links[index]
	if l == nil {
		if added && !slices.Contains(t.early[index], p) {
			t.early[index] = append(t.early[index], p)
		} else if !added {
			t.early[index] = slices.DeleteFunc(t.early[index], func(q netip.Prefix) bool { return q == p })
		}
		return nil
	}
	i, found := slices.BinarySearchFunc(l.Addrs, p, comparePrefix)
	switch {
	case added && !found:
		l.Addrs = slices.Insert(slices.Clone(l.Addrs), i, p)
		return []Event{t.event(AddrAdded, l, p)}
	case !added && found:
		l.Addrs = slices.Delete(slices.Clone(l.Addrs), i, i+1)
		return []Event{t.event(AddrRemoved, l, p)}
	}
	return nil
}

// replace applies a full listing (after subscribing or resubscribing):
// links missing from it are removed, the others set, addresses diffed.
// Links come out in index order so the events are deterministic.
func (t *linkTable) replace(links []Link) []Event {
	var evs []Event
	seen := map[int]bool{}
	for _, l := range links {
		seen[l.Index] = true
	}
	var gone []int
	for idx := range t.links {
		if !seen[idx] {
			gone = append(gone, idx)
		}
	}
	slices.Sort(gone)
	for _, idx := range gone {
		evs = append(evs, t.removeLink(idx)...)
	}
	links = slices.Clone(links)
	slices.SortFunc(links, func(a, b Link) int { return a.Index - b.Index })
	for _, l := range links {
		want := l.Addrs
		evs = append(evs, t.setLink(l)...)
		have := slices.Clone(t.links[l.Index].Addrs)
		for _, p := range have {
			if !slices.Contains(want, p) {
				evs = append(evs, t.setAddr(l.Index, p, false)...)
			}
		}
		for _, p := range want {
			evs = append(evs, t.setAddr(l.Index, p, true)...)
		}
	}
	return evs
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
