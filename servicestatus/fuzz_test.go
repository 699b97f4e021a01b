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
	// The API server's side, as the harness keeps it: the status now, its
	// version, and every version so far (a cache may deliver an old one).
	rv, uid := 1, 1
	api := []netip.Addr(nil)
	history := map[int][]netip.Addr{1: nil}
	first := 1 // the first version of the current object
	// newest is the version of the newest object the machine was given:
	// what it may believe the status says.
	newest := 0
	var outstanding *Action // the Write in flight
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
	version := func(v int) *Object {
		newest = max(newest, v)
		return &Object{UID: strconv.Itoa(uid), ResourceVersion: strconv.Itoa(v), IPs: slices.Clone(history[v]), Ref: v}
	}
	write := func(ips []netip.Addr) *Object {
		rv++
		api = slices.Clone(ips)
		history[rv] = api
		return version(rv)
	}
	for step := 0; len(data) > 0 && step < 200; step++ {
		var ev Event
		switch op := next() % 10; op {
		case 0, 8, 9:
			b := next()
			wasThere := exists
			exists = b%4 != 0
			if !exists {
				ev = Event{Kind: Observe}
				break
			}
			if !wasThere && newest > 0 {
				// Deleted and created again: a new object, whose
				// versions start after the old one's.
				uid++
				rv++
				api, first, newest = nil, rv, 0
				history[rv] = nil
			}
			obj := version(rv)
			switch op {
			case 8:
				// Someone else writes the status (the API server clears
				// it on a type change; a person edits it).
				obj = write(ipsOf(next()))
			case 9:
				// The cache delivers an older version.
				obj = version(first + int(next())%(rv-first+1))
			}
			ev = Event{Kind: Observe, Exists: true, Spec: Spec{LoadBalancer: b%4 != 1, Ours: b%4 >= 2,
				Request: alloc.Service{RequestedPool: fmt.Sprint(b % 3)}}, Object: obj}
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
			w := WriteResult{Before: slices.Clone(api)}
			switch next() % 4 {
			case 0:
				w.Object = write(outstanding.IPs)
			case 1:
				w.Conflict, w.Object = true, write(api)
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
				if a.Object.Ref.(int) != newest {
					t.Fatalf("step %d: Write based on version %v, the newest known is %d", step, a.Object.Ref, newest)
				}
				outstanding = &a
			case StatusClear:
				if outstanding != nil {
					t.Fatalf("step %d: StatusClear while a write is in flight", step)
				}
				for _, r := range a.Reservations {
					// The newest version the machine knows must not show
					// the IP (or the Service is gone).
					if exists && slices.Contains(history[newest], r.IP) {
						t.Fatalf("step %d: %v reported clear while version %d shows it", step, r.IP, newest)
					}
					if g, ok := reserved[r.IP]; ok && g != r.Gen {
						t.Fatalf("step %d: %v reported at generation %d, reserved at %d", step, r.IP, r.Gen, g)
					}
				}
			case Idle:
				if outstanding != nil {
					t.Fatalf("step %d: Idle with a write in flight", step)
				}
			}
		}
	}
}
