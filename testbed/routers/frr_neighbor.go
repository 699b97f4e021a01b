package routers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// FRRNeighbor is what FRR's `show bgp neighbors ADDR json` says of one
// neighbor: what tests check at the router rather than trusting the peer's
// own account (message counts, the last reset and its NOTIFICATION, the
// capabilities both sides advertised).
type FRRNeighbor struct {
	State string
	// Message counts: FRR counts End-of-RIB markers as UPDATEs.
	UpdatesReceived, UpdatesSent             int
	NotificationsReceived, NotificationsSent int
	KeepalivesReceived                       int
	// PrefixesAccepted sums acceptedPrefixCounter over the families.
	PrefixesAccepted int
	// ConnectionsEstablished and ConnectionsDropped count sessions.
	ConnectionsEstablished, ConnectionsDropped int
	// LastResetDueTo is FRR's reason for the last reset ("Notification
	// received (...)", "BGP Notification send", "Waiting for peer OPEN",
	// ...); LastNotification the reason of the last NOTIFICATION when FRR
	// keeps one (lastNotificationReason), LastErrorCodeSubcode its code
	// and subcode as FRR prints them.
	LastResetDueTo       string
	LastNotification     string
	LastErrorCodeSubcode string
	// ExtendedMessage: both sides advertised RFC 8654 extended messages.
	ExtendedMessage bool
	// HoldTime and Keepalive are the negotiated timers in milliseconds.
	HoldTimeMsecs, KeepaliveMsecs int
	// RemoteAS is the peer's AS as FRR sees it.
	RemoteAS uint32
	// Raw is the neighbor's whole JSON object.
	Raw string
}

type frrNeighborJSON struct {
	RemoteAS     uint32 `json:"remoteAs"`
	BGPState     string `json:"bgpState"`
	HoldMsecs    int    `json:"bgpTimerHoldTimeMsecs"`
	KeepMsecs    int    `json:"bgpTimerKeepAliveIntervalMsecs"`
	Capabilities struct {
		ExtendedMessage string `json:"extendedMessage"`
	} `json:"neighborCapabilities"`
	MessageStats struct {
		NotificationsSent int `json:"notificationsSent"`
		NotificationsRecv int `json:"notificationsRecv"`
		UpdatesSent       int `json:"updatesSent"`
		UpdatesRecv       int `json:"updatesRecv"`
		KeepalivesRecv    int `json:"keepalivesRecv"`
	} `json:"messageStats"`
	AddressFamilyInfo map[string]struct {
		AcceptedPrefixCounter int `json:"acceptedPrefixCounter"`
	} `json:"addressFamilyInfo"`
	ConnectionsEstablished int    `json:"connectionsEstablished"`
	ConnectionsDropped     int    `json:"connectionsDropped"`
	LastResetDueTo         string `json:"lastResetDueTo"`
	LastNotificationReason string `json:"lastNotificationReason"`
	LastErrorCodeSubcode   string `json:"lastErrorCodeSubcode"`
}

// Neighbor reads `show bgp neighbors NEIGHBOR json`. neighbor is an
// address or, for an unnumbered neighbor, an interface name.
func (f *FRR) Neighbor(ctx context.Context, neighbor string) (FRRNeighbor, error) {
	out, err := f.Exec(ctx, "show bgp neighbors "+neighbor+" json")
	if err != nil {
		return FRRNeighbor{}, err
	}
	return parseFRRNeighborDetail(out, neighbor)
}

func parseFRRNeighborDetail(out, neighbor string) (FRRNeighbor, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return FRRNeighbor{}, fmt.Errorf("routers: parse frr neighbor json: %w: %s", err, out)
	}
	raw, ok := m[neighbor]
	if !ok {
		// FRR names an address neighbor in its canonical form.
		if a, err := netip.ParseAddr(neighbor); err == nil {
			raw, ok = m[a.String()]
		}
	}
	if !ok {
		return FRRNeighbor{}, fmt.Errorf("routers: frr has no neighbor %s: %s", neighbor, strings.TrimSpace(out))
	}
	var n frrNeighborJSON
	if err := json.Unmarshal(raw, &n); err != nil {
		return FRRNeighbor{}, fmt.Errorf("routers: parse frr neighbor %s: %w", neighbor, err)
	}
	out2 := FRRNeighbor{
		State:                  n.BGPState,
		UpdatesReceived:        n.MessageStats.UpdatesRecv,
		UpdatesSent:            n.MessageStats.UpdatesSent,
		NotificationsReceived:  n.MessageStats.NotificationsRecv,
		NotificationsSent:      n.MessageStats.NotificationsSent,
		KeepalivesReceived:     n.MessageStats.KeepalivesRecv,
		ConnectionsEstablished: n.ConnectionsEstablished,
		ConnectionsDropped:     n.ConnectionsDropped,
		LastResetDueTo:         n.LastResetDueTo,
		LastNotification:       n.LastNotificationReason,
		LastErrorCodeSubcode:   n.LastErrorCodeSubcode,
		ExtendedMessage:        n.Capabilities.ExtendedMessage == "advertisedAndReceived",
		HoldTimeMsecs:          n.HoldMsecs,
		KeepaliveMsecs:         n.KeepMsecs,
		RemoteAS:               n.RemoteAS,
		Raw:                    string(raw),
	}
	for _, af := range n.AddressFamilyInfo {
		out2.PrefixesAccepted += af.AcceptedPrefixCounter
	}
	return out2, nil
}
