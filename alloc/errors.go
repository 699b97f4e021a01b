package alloc

import (
	"errors"
	"strings"
)

// Every error the allocator returns wraps one or more of these sentinels
// (test with errors.Is); its text says what to change. The controller
// publishes the text as an AllocationFailed Event.
var (
	// ErrPoolExhausted: a pool has no free address of a family (and, for a
	// Service with a sharing key, no address it could share).
	ErrPoolExhausted = errors.New("no free address")
	// ErrNoPool: no pool is a candidate for the Service at all.
	ErrNoPool = errors.New("no address pool can serve the service")
	// ErrNotAdmitted: a pool's serviceAllocation does not select the Service.
	ErrNotAdmitted = errors.New("pool's serviceAllocation does not select the service")
	// ErrUnknownPool: the requested pool does not exist.
	ErrUnknownPool = errors.New("no such address pool")
	// ErrIPNotInPool: a requested or claimed IP is in no pool, is in another
	// pool than the requested one, or is avoided (avoidBuggyIPs).
	ErrIPNotInPool = errors.New("IP is not in an address pool")
	// ErrIPInUse: a requested or claimed IP is held by another Service.
	ErrIPInUse = errors.New("IP is in use")
	// ErrSharingIncompatible: both Services allow sharing but cannot share
	// (different keys, overlapping ports, or different backends under
	// externalTrafficPolicy: Local). Always comes with ErrIPInUse.
	ErrSharingIncompatible = errors.New("cannot share the IP")
	// ErrFamilyUnavailable: a pool has no addresses of a needed family.
	ErrFamilyUnavailable = errors.New("pool has no addresses of the family")
	// ErrInvalidRequest: the Service's requested IPs, families and family
	// policy contradict each other.
	ErrInvalidRequest = errors.New("invalid IP request")
	// ErrInvalidPool: a pool definition is malformed (SetPools, ParseRange).
	ErrInvalidPool = errors.New("invalid address pool")
	// ErrOverlappingPools: two pools share addresses (SetPools).
	ErrOverlappingPools = errors.New("address pools overlap")
	// ErrNoValidConfig: no valid configuration has been loaded since the
	// controller's term began, so nothing is allocated yet. The allocator
	// never returns it; the controller wraps it in the reason it gives
	// every waiting Service, so readers of its Events (kubectl herald)
	// can tell this wait from the allocator's own refusals.
	ErrNoValidConfig = errors.New("no IP is allocated until the configuration is valid")
)

// AllocationError is the failure of an automatic allocation: one reason per
// candidate pool, in the order they were tried.
type AllocationError struct {
	Service ServiceKey
	Reasons []error
	// NotTried says why the other pools were not candidates (autoAssign
	// false, serviceAllocation not selecting the Service).
	NotTried []string
}

func (e *AllocationError) Error() string {
	var b strings.Builder
	b.WriteString("no IP for ")
	b.WriteString(e.Service.String())
	b.WriteString(": ")
	for i, r := range e.Reasons {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Error())
	}
	if len(e.NotTried) > 0 {
		b.WriteString("; not tried: ")
		b.WriteString(strings.Join(e.NotTried, "; "))
	}
	return b.String()
}

// Unwrap lets errors.Is find the sentinel of any pool's reason.
func (e *AllocationError) Unwrap() []error { return e.Reasons }
