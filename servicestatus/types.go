package servicestatus

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/heraldlb/herald/alloc"
)

// Object is one version of the Service as read from the cache or returned
// by a write: what its status and pool annotation say, and which version it
// is. Ref is the caller's object this view was taken from (the shell's
// *corev1.Service); the machine never looks inside it, it only hands back
// the Ref of the newest version it knows with every write and Event.
type Object struct {
	UID             string
	ResourceVersion string
	// IPs is status.loadBalancer.ingress, in order.
	IPs []netip.Addr
	// Pool is the metallb.io/ip-allocated-from-pool annotation.
	Pool string
	Ref  any
}

// Spec is what the Service asks for, as read from the cache.
type Spec struct {
	// LoadBalancer is spec.type == LoadBalancer; Ours is that and the
	// served loadBalancerClass.
	LoadBalancer bool
	Ours         bool
	// Request is what allocation depends on; Created orders Services
	// when pools cannot serve everyone.
	Request alloc.Service
	Created time.Time
	// Invalid is set when the request cannot be read: allocation must fail
	// with it rather than guess.
	Invalid error
	// Deprecated lists the metallb.universe.tf/* annotations in use.
	Deprecated []string
}

// Decision is the allocator's answer to a request.
type Decision struct {
	Assignment alloc.Assignment
	// Err says why no IP could be given.
	Err error
	// Conflict is set when the IP in the Service's status was refused at
	// restore (another Service won it).
	Conflict error
	// Pending says why no decision can be made yet (no valid configuration
	// since the term started); the status is left alone.
	Pending error
}

// WriteResult is the outcome of a Write action.
type WriteResult struct {
	// Object is the Service after the write, or a fresh read after a
	// conflict; nil when the write failed otherwise or the Service is gone.
	Object *Object
	// Before is what the status said when the write began.
	Before   []netip.Addr
	Conflict bool
	Gone     bool
	Err      error
}

// EventKind names an input to the machine.
type EventKind uint8

const (
	// Observe: the cache's view of the Service (Exists, Spec, Object).
	Observe EventKind = iota + 1
	// Decide: the allocator's Decision.
	Decide
	// Revoke: the allocator took these Reservations' IPs from the Service
	// and keeps them reserved until its status no longer shows them.
	Revoke
	// Written: a Write action's WriteResult.
	Written
	// Retry: the backoff timer armed by RetryLater fired.
	Retry
	// Remind: the reminder timer for failure Gen fired.
	Remind
	numEventKinds
)

var eventNames = [numEventKinds]string{Observe: "Observe", Decide: "Decide", Revoke: "Revoke", Written: "Written", Retry: "Retry", Remind: "Remind"}

func (k EventKind) String() string {
	if k > 0 && k < numEventKinds {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one input to Step. Only the fields of its Kind are read.
type Event struct {
	Kind EventKind
	// Observe: whether the Service exists, and if so its Spec and Object.
	Exists bool
	Spec   Spec
	Object *Object
	// Decide.
	Decision Decision
	// Revoke.
	Reservations []alloc.Reservation
	// Written.
	Write WriteResult
	// Remind: the failure the timer was armed for.
	Gen uint64
}

// ActionKind names something the shell must do.
type ActionKind uint8

const (
	// Ensure: ask the allocator for Action.Request (Action.Created).
	Ensure ActionKind = iota + 1
	// Release: tell the allocator to release whatever the Service holds.
	Release
	// Write: make the status say Action.IPs and the pool annotation say
	// Action.Pool (removed when empty), starting from Action.Object.Ref.
	// At most one Write is outstanding; its result comes back as Written.
	Write
	// Publish: record a Kubernetes Event on Action.Object.Ref.
	Publish
	// StatusClear: tell the allocator the status no longer shows these
	// Action.Reservations.
	StatusClear
	// RetryLater: arm the backoff timer; it comes back as Retry.
	RetryLater
	// ResetBackoff: a write succeeded; the next failure starts the backoff
	// from its first delay.
	ResetBackoff
	// RemindLater: arm the reminder timer for failure Action.Gen.
	RemindLater
	// Idle: the Service is gone or not a LoadBalancer of the served class,
	// and nothing is pending (no write, no reserved IP its status still
	// shows): the actor may be stopped.
	Idle
	numActionKinds
)

var actionNames = [numActionKinds]string{Ensure: "Ensure", Release: "Release", Write: "Write", Publish: "Publish",
	StatusClear: "StatusClear", RetryLater: "RetryLater", ResetBackoff: "ResetBackoff", RemindLater: "RemindLater", Idle: "Idle"}

func (k ActionKind) String() string {
	if k > 0 && k < numActionKinds {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// Event types of the Kubernetes Events the machine publishes.
const (
	Normal  = "Normal"
	Warning = "Warning"
)

// Reasons of the Kubernetes Events the machine publishes.
const (
	ReasonIPAllocated          = "IPAllocated"
	ReasonAllocationFailed     = "AllocationFailed"
	ReasonClearedIP            = "ClearedIP"
	ReasonDeprecatedAnnotation = "DeprecatedAnnotation"
)

// Action is one thing for the shell to do. Only the fields of its Kind are
// set.
type Action struct {
	Kind ActionKind
	// Ensure.
	Request alloc.Service
	Created time.Time
	// Write; Publish (its object).
	Object *Object
	IPs    []netip.Addr
	Pool   string
	// Publish: a Kubernetes Event.
	Type, Reason, Message string
	// StatusClear.
	Reservations []alloc.Reservation
	// RemindLater.
	Gen uint64
}
