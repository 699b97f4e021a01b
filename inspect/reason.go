package inspect

import (
	"strings"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/informers"
)

// Reason is the one word explain gives for a Service's state.
type Reason string

// Reasons for a Service with an IP.
const (
	// ReasonAnnounced: a speaker reports announcing it (ServiceBGPStatus or
	// ServiceL2Status).
	ReasonAnnounced Reason = "Announced"
	// ReasonAllocated: it has an IP and an advertisement selects it, but no
	// speaker reports announcing it (yet).
	ReasonAllocated Reason = "Allocated"
	// ReasonNoAdvertisement: it has an IP, but no L2Advertisement or
	// BGPAdvertisement selects its pool (or the Service), so nothing
	// announces it.
	ReasonNoAdvertisement Reason = "NoAdvertisement"
	// ReasonSessionsDown: speakers mean to announce it over BGP, but none
	// of their sessions to the chosen peers is Established, so no router
	// has it.
	ReasonSessionsDown Reason = "SessionsDown"
)

// Reasons for a Service without an IP (pending).
const (
	ReasonConfigInvalid     Reason = "ConfigurationInvalid"
	ReasonNoPool            Reason = "NoPoolAdmits"
	ReasonUnknownPool       Reason = "UnknownPool"
	ReasonPoolExhausted     Reason = "PoolExhausted"
	ReasonSharingRefused    Reason = "SharingRefused"
	ReasonIPInUse           Reason = "RequestedIPTaken"
	ReasonIPNotInPool       Reason = "IPNotInPool"
	ReasonFamilyUnavailable Reason = "FamilyUnavailable"
	ReasonInvalidRequest    Reason = "InvalidRequest"
	// ReasonAllocationFailed: the controller refused it for a reason this
	// version does not know; the message says which.
	ReasonAllocationFailed Reason = "AllocationFailed"
	// ReasonNoReport: no IP and no word from the controller.
	ReasonNoReport Reason = "NoReport"
)

// Reasons for Services Herald does not serve.
const (
	ReasonNotLoadBalancer Reason = "NotLoadBalancer"
	ReasonOtherClass      Reason = "OtherLoadBalancerClass"
)

// failureClass maps a sentinel's text to the reason it stands for. Order
// matters: a message may quote a lesser sentinel in its detail (a pool
// exhausted for a sharing Service quotes the share refusal; "no pool"
// quotes each pool's serviceAllocation refusal), so the one that decides
// comes first.
var failureClasses = []struct {
	sentinel error
	reason   Reason
	phrase   string
}{
	{alloc.ErrNoValidConfig, ReasonConfigInvalid, "the configuration is invalid"},
	{informers.ErrInvalidService, ReasonInvalidRequest, "its IP request cannot be read"},
	{alloc.ErrInvalidRequest, ReasonInvalidRequest, "its IP request contradicts itself"},
	{alloc.ErrNoPool, ReasonNoPool, "no pool admits it"},
	{alloc.ErrUnknownPool, ReasonUnknownPool, "the requested pool does not exist"},
	{alloc.ErrPoolExhausted, ReasonPoolExhausted, "pool exhausted"},
	{alloc.ErrSharingIncompatible, ReasonSharingRefused, "sharing refused"},
	{alloc.ErrIPInUse, ReasonIPInUse, "the requested IP is taken"},
	{alloc.ErrNotAdmitted, ReasonNoPool, "no pool admits it"},
	{alloc.ErrIPNotInPool, ReasonIPNotInPool, "the requested IP is in no usable pool"},
	{alloc.ErrFamilyUnavailable, ReasonFamilyUnavailable, "no pool has the IP family it needs"},
}

// ClassifyFailure names the reason of an AllocationFailed message and a
// short phrase for it. The message texts wrap the sentinels, so their
// Error() texts are what is matched.
func ClassifyFailure(message string) (Reason, string) {
	for _, c := range failureClasses {
		if strings.Contains(message, c.sentinel.Error()) {
			return c.reason, c.phrase
		}
	}
	return ReasonAllocationFailed, "allocation failed"
}
