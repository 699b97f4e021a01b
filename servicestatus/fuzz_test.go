package servicestatus

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/heraldlb/herald/alloc"
)

// FuzzMachine steps a Machine with an arbitrary stream of events, decoded
// from bytes, and checks the package's promises after every step. The shell
// is simulated just enough to keep the stream plausible: a Written comes
// only while a write is outstanding, and a Write's result shows what it
// wrote.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0, 0, 1, 2, 1, 3, 0, 3, 2, 5})
	f.Add([]byte{0, 1, 1, 0x13, 2, 1, 3, 6, 3, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) { runMachine(t, data) })
}

var fuzzIPs = []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::1")}

func runMachine(t *testing.T, data []byte) {
	m := New(Config{Remind: true})
	rv := 1
	var outstanding *Action // the Write in flight
	shown := []netip.Addr(nil)
	// revoked are the IPs revoked and not given back by a later decision:
	// no Write may show them.
	revoked := map[netip.Addr]bool{}
	reserved := map[netip.Addr]uint64{} // what the allocator still reserves
	var gen uint64
	exists := false
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	ipsOf := func(b byte) []netip.Addr {
		var out []netip.Addr
		for i, ip := range fuzzIPs {
			if b&(1<<i) != 0 {
				out = append(out, ip)
			}
		}
		return out
	}
	obj := func() *Object {
		rv++
		return &Object{UID: "u", ResourceVersion: strconv.Itoa(rv), IPs: slices.Clone(shown), Ref: rv}
	}
	for step := 0; len(data) > 0 && step < 200; step++ {
		var ev Event
		switch op := next() % 8; op {
		case 0:
			b := next()
			exists = b%4 != 0
			ev = Event{Kind: Observe, Exists: exists, Spec: Spec{LoadBalancer: b%4 != 1, Ours: b%4 >= 2,
				Request: alloc.Service{RequestedPool: fmt.Sprint(b % 3)}}, Object: obj()}
			if !exists {
				ev = Event{Kind: Observe}
			}
		case 1:
			ips := ipsOf(next())
			for _, ip := range ips {
				delete(revoked, ip)
				delete(reserved, ip)
			}
			ev = Event{Kind: Decide, Decision: Decision{Assignment: alloc.Assignment{Pool: "p", IPs: ips}}}
		case 2:
			var rs []alloc.Reservation
			for _, ip := range ipsOf(next()) {
				gen++
				revoked[ip] = true
				reserved[ip] = gen
				rs = append(rs, alloc.Reservation{IP: ip, Gen: gen})
			}
			ev = Event{Kind: Revoke, Reservations: rs}
		case 3, 4:
			if outstanding == nil {
				continue
			}
			w := WriteResult{Before: slices.Clone(shown)}
			switch next() % 4 {
			case 0:
				shown = slices.Clone(outstanding.IPs)
				w.Object = obj()
			case 1:
				w.Conflict, w.Object = true, obj()
			case 2:
				w.Err = errors.New("unavailable")
			case 3:
				w.Gone = true
			}
			outstanding = nil
			ev = Event{Kind: Written, Write: w}
		case 5:
			ev = Event{Kind: Retry}
		case 6:
			ev = Event{Kind: Remind, Gen: uint64(next() % 4)}
		case 7:
			ev = Event{Kind: Decide, Decision: Decision{Err: errors.New("no free address")}}
		}
		for _, a := range m.Step(ev) {
			switch a.Kind {
			case Write:
				if outstanding != nil {
					t.Fatalf("step %d: a second Write while one is in flight", step)
				}
				for _, ip := range a.IPs {
					if revoked[ip] {
						t.Fatalf("step %d: Write puts revoked %v back", step, ip)
					}
				}
				outstanding = &a
			case StatusClear:
				if outstanding != nil {
					t.Fatalf("step %d: StatusClear while a write is in flight", step)
				}
				for _, r := range a.Reservations {
					if exists && slices.Contains(m.obj.IPs, r.IP) {
						t.Fatalf("step %d: %v reported clear while the status shows it", step, r.IP)
					}
					if g, ok := reserved[r.IP]; ok && g != r.Gen {
						// An older generation is allowed only if the
						// allocator made a newer one the machine has
						// not heard of, which this shell never does.
						t.Fatalf("step %d: %v reported at generation %d, reserved at %d", step, r.IP, r.Gen, g)
					}
				}
			case Idle:
				if outstanding != nil || m.Pending() || len(m.toClear) > 0 {
					t.Fatalf("step %d: Idle with work pending", step)
				}
			}
		}
	}
}
