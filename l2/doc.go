// Package l2 answers ARP (IPv4) and NDP (IPv6) for the service IPs this node
// owns, and sends gratuitous ARP / unsolicited Neighbor Advertisements when
// ownership moves here. Each interface has a reader goroutine that answers
// from an atomic snapshot published by its interface actor, so a reply never
// waits behind a mailbox. Interfaces are discovered through a netlink
// subscription.
package l2
