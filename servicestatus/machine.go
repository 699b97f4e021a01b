package servicestatus

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"

	"k8s.io/apimachinery/pkg/util/resourceversion"

	"github.com/heraldlb/herald/alloc"
)

// Config configures a Machine.
type Config struct {
	// Remind repeats the AllocationFailed Event of a Service that keeps
	// waiting (RemindLater actions); false publishes it once.
	Remind bool
}

// Machine converges one Service: desired (what the allocator decided)
// against actual (the status and the pool annotation of the newest version
// known). The zero Machine is a Service not seen yet; it is a plain value.
type Machine struct {
	cfg Config

	exists bool
	spec   Spec
	// obj is the newest version known: the cache's, or the one our own
	// last write returned when the cache has not caught up yet.
	obj *Object

	sent       *alloc.Service // last request sent to the allocator
	have       bool           // the allocator has answered since sent
	assignment alloc.Assignment
	lastFailed string // text of the last AllocationFailed Event
	// failGen numbers failures, so a reminder for a failure that has since
	// been resolved or replaced does nothing.
	failGen uint64
	// cleared is set when the ClearedIP Event for a release was already
	// published (the API server itself clears the status of a Service that
	// stops being a LoadBalancer, so no write of ours may follow).
	cleared bool
	warned  bool // deprecation Event published
	// toClear are the reservations of IPs the allocator took from this
	// Service, to report once its status no longer shows them.
	toClear map[netip.Addr]uint64

	inflight  bool
	dirty     bool
	conflicts int

	out []Action
}

// New returns a Machine for a Service not seen yet.
func New(cfg Config) *Machine { return &Machine{cfg: cfg} }

// Step applies one event and returns the actions for the shell, in order.
func (m *Machine) Step(ev Event) []Action { return m.StepAppend(nil, ev) }

// StepAppend is Step appending to out.
func (m *Machine) StepAppend(out []Action, ev Event) []Action {
	m.out = out
	switch ev.Kind {
	case Observe:
		m.observe(ev)
	case Decide:
		m.decide(ev.Decision)
		m.maybeIdle()
	case Revoke:
		m.revoke(ev.Reservations)
		// Revoke changes nothing to write by itself (the allocator's
		// decision follows it), but the status may already be clear.
		m.maybeIdle()
	case Written:
		m.written(ev.Write)
	case Retry:
		m.reconcile()
	case Remind:
		m.remind(ev.Gen)
	}
	out = m.out
	m.out = nil
	return out
}

// Pending reports whether a write is in flight or owed.
func (m *Machine) Pending() bool { return m.inflight || m.dirty }

// Reserved returns the reservations still waiting for the status to clear,
// sorted by IP.
func (m *Machine) Reserved() []alloc.Reservation {
	out := make([]alloc.Reservation, 0, len(m.toClear))
	for ip, gen := range m.toClear {
		out = append(out, alloc.Reservation{IP: ip, Gen: gen})
	}
	slices.SortFunc(out, func(a, b alloc.Reservation) int { return a.IP.Compare(b.IP) })
	return out
}

func (m *Machine) emit(a Action) { m.out = append(m.out, a) }

func (m *Machine) publish(typ, reason, msg string) {
	m.emit(Action{Kind: Publish, Object: m.obj, Type: typ, Reason: reason, Message: msg})
}

// observe takes the cache's view and asks the allocator for what it needs.
func (m *Machine) observe(ev Event) {
	m.exists = ev.Exists
	if !ev.Exists {
		m.obj = nil
		m.forget()
		m.maybeIdle()
		return
	}
	m.spec = ev.Spec
	if ev.Object != nil {
		m.obj = newer(m.obj, ev.Object)
	}
	if !m.spec.Ours {
		held := m.assignment.IPs
		m.forget()
		if !m.spec.LoadBalancer && len(held) > 0 && m.obj != nil {
			m.cleared = true
			m.publish(Normal, ReasonClearedIP, fmt.Sprintf("Service is no longer of type LoadBalancer; released IP %v", addrStrings(held)))
		}
		m.reconcile()
		return
	}
	if len(m.spec.Deprecated) > 0 && !m.warned && m.obj != nil {
		m.warned = true
		m.publish(Warning, ReasonDeprecatedAnnotation, fmt.Sprintf("annotations %v are deprecated; use the metallb.io/ forms", m.spec.Deprecated))
	}
	if m.spec.Invalid != nil {
		// Nothing the allocator could do: the request itself is unreadable.
		m.forget()
		m.have, m.assignment = true, alloc.Assignment{}
		m.reportFailure(m.spec.Invalid)
		m.reconcile()
		return
	}
	if m.sent == nil || !reflect.DeepEqual(*m.sent, m.spec.Request) {
		req := m.spec.Request
		m.sent = &req
		m.emit(Action{Kind: Ensure, Request: req, Created: m.spec.Created})
	}
	m.reconcile()
}

// forget releases whatever the allocator holds for this Service. It tells
// the allocator even when this machine never asked for anything: the
// allocator also learns of Services by itself (restore reads every Service
// from the cache), and a Service first looked after when it is gone would
// otherwise leave that entry, and later an IP, behind.
func (m *Machine) forget() {
	m.emit(Action{Kind: Release})
	m.sent = nil
	m.have = false
	m.assignment = alloc.Assignment{}
}

// revoke records IPs the allocator took from this Service, to report once
// its status no longer shows them.
func (m *Machine) revoke(rs []alloc.Reservation) {
	if m.toClear == nil {
		m.toClear = map[netip.Addr]uint64{}
	}
	for _, r := range rs {
		m.toClear[r.IP] = r.Gen
		// The allocator no longer gives this Service the IP; a decision
		// saying otherwise can only be older than this message (both come
		// in the allocator's order), so no write may put it back, not
		// even a retry of an older write.
		if m.have {
			m.assignment.IPs = slices.DeleteFunc(slices.Clone(m.assignment.IPs), func(ip netip.Addr) bool { return ip == r.IP })
			if len(m.assignment.IPs) == 0 {
				// No IP left from the pool: the annotation must not
				// name it either.
				m.assignment.Pool = ""
			}
		}
	}
}

func (m *Machine) decide(d Decision) {
	if !m.exists || !m.spec.Ours || m.spec.Invalid != nil {
		// A decision for a request this machine has since withdrawn.
		return
	}
	if d.Pending != nil {
		// No decision yet: say why, and leave the status alone (it may
		// hold an IP a valid configuration will restore).
		m.reportFailure(d.Pending)
		return
	}
	m.have = true
	m.assignment = d.Assignment
	if d.Conflict != nil && m.obj != nil {
		m.publish(Warning, ReasonAllocationFailed, fmt.Sprintf("the IP in status could not be kept: %v", d.Conflict))
	}
	if d.Err != nil {
		m.reportFailure(d.Err)
	} else {
		m.lastFailed = ""
		m.failGen++
	}
	m.reconcile()
}

func (m *Machine) reportFailure(err error) {
	if text := err.Error(); text != m.lastFailed && m.obj != nil {
		m.lastFailed = text
		m.failGen++
		m.publish(Warning, ReasonAllocationFailed, text)
		if m.cfg.Remind {
			m.emit(Action{Kind: RemindLater, Gen: m.failGen})
		}
	}
}

// remind repeats the AllocationFailed Event while the failure lasts.
// client-go's event pipeline drops Events silently when its sink falls
// behind, and Events expire; a Service that is still waiting must still
// say why.
func (m *Machine) remind(gen uint64) {
	if gen != m.failGen || m.lastFailed == "" || m.obj == nil || !m.exists {
		return
	}
	m.publish(Warning, ReasonAllocationFailed, m.lastFailed)
	m.emit(Action{Kind: RemindLater, Gen: gen})
}

// desired returns what status and annotation should say, and whether this
// machine should touch them at all.
func (m *Machine) desired() (ips []netip.Addr, pool string, manage bool) {
	switch {
	case !m.exists || m.obj == nil:
		return nil, "", false
	case m.spec.Ours:
		if !m.have {
			return nil, "", false // wait for the allocator's answer
		}
		return m.assignment.IPs, m.assignment.Pool, true
	case !m.spec.LoadBalancer:
		// No longer a LoadBalancer: whatever Herald wrote goes.
		return nil, "", true
	default:
		// Another class: another controller's Service.
		return nil, "", false
	}
}

func (m *Machine) reconcile() {
	if m.inflight {
		m.dirty = true
		return
	}
	m.dirty = false
	ips, pool, manage := m.desired()
	if !manage || (slices.Equal(m.obj.IPs, ips) && m.obj.Pool == pool) {
		m.maybeIdle()
		return
	}
	m.inflight = true
	m.emit(Action{Kind: Write, Object: m.obj, IPs: slices.Clone(ips), Pool: pool})
}

func (m *Machine) written(w WriteResult) {
	m.inflight = false
	switch {
	case w.Gone:
		m.emit(Action{Kind: ResetBackoff})
	case w.Conflict:
		// Someone else changed the Service: retry at once with the fresh
		// object, but through the backoff if it keeps happening.
		m.obj = newer(m.obj, w.Object)
		m.conflicts++
		if m.conflicts > 3 {
			m.emit(Action{Kind: RetryLater})
			return
		}
		m.dirty = true
	case w.Err != nil:
		if w.Object != nil {
			m.obj = newer(m.obj, w.Object)
		}
		m.emit(Action{Kind: RetryLater})
		return
	default:
		// The cache may already show the write (its watch event can
		// overtake the result), so compare with the status the write
		// started from.
		m.obj = newer(m.obj, w.Object)
		m.conflicts = 0
		m.emit(Action{Kind: ResetBackoff})
		if w.Object != nil {
			m.publishChange(w.Before, w.Object.IPs, w.Object.Pool)
		}
	}
	if m.dirty {
		m.reconcile()
	} else {
		m.maybeIdle()
	}
}

// publishChange publishes the Event for a status change that was just written,
// naming the pool the write named (a later decision may name another).
func (m *Machine) publishChange(before, after []netip.Addr, pool string) {
	if slices.Equal(before, after) {
		return
	}
	if len(after) == 0 {
		if !m.cleared {
			m.publish(Normal, ReasonClearedIP, fmt.Sprintf("Cleared IP %v", addrStrings(before)))
		}
		m.cleared = false
		return
	}
	m.cleared = false
	m.publish(Normal, ReasonIPAllocated, fmt.Sprintf("Assigned IP %v from pool %s", addrStrings(after), pool))
}

// checkClear reports the reserved IPs the status no longer shows (all of
// them once the Service is gone). Its one caller, maybeIdle, never runs it
// while a write is in flight: that write may be putting one back. An IP
// this Service was given again stays listed while its status shows it,
// which is harmless: the allocator ignores a report about a reservation
// already taken back.
func (m *Machine) checkClear() {
	if len(m.toClear) == 0 {
		return
	}
	var shown []netip.Addr
	if m.obj != nil {
		shown = m.obj.IPs
	}
	var done []alloc.Reservation
	for _, r := range m.Reserved() {
		if !m.exists || !slices.Contains(shown, r.IP) {
			done = append(done, r)
			delete(m.toClear, r.IP)
		}
	}
	if len(done) > 0 {
		m.emit(Action{Kind: StatusClear, Reservations: done})
	}
}

// maybeIdle says Idle when the Service is gone or not a LoadBalancer of
// the served class and nothing is pending (no write, no reserved IP its
// status still shows).
func (m *Machine) maybeIdle() {
	if m.inflight || m.dirty {
		return
	}
	m.checkClear()
	if len(m.toClear) > 0 || (m.exists && m.spec.Ours) {
		return
	}
	m.emit(Action{Kind: Idle})
}

// newer returns the more recent of two versions of the Service, by
// resourceVersion as apimachinery compares them; when either does not
// parse, b wins (the caller passes the fresher source as b).
func newer(a, b *Object) *Object {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.UID != b.UID {
		return b // recreated under the same name
	}
	if c, err := resourceversion.CompareResourceVersion(a.ResourceVersion, b.ResourceVersion); err == nil && c > 0 {
		return a
	}
	return b
}

func addrStrings(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}
