// Package l2 makes the service IPs this node owns reachable on the local
// segment: it answers ARP (IPv4) and Neighbor Solicitations (IPv6) for
// them, announces them with gratuitous ARP and unsolicited Neighbor
// Advertisements when ownership moves here, and discovers the interfaces
// it may do that on through a netlink subscription.
//
// Its place in the whole: the I/O libraries (shell layer), in docs/architecture.md.
//
// # Responder
//
// A Responder serves one interface. Open opens its sockets (see Open for
// what each needs: CAP_NET_RAW and nothing more); New takes connections
// the caller opened, which is how the tests drive it without privileges.
// Each socket has a reader goroutine that answers every question from an
// atomic snapshot of the owned IPs: a reply never waits behind a mailbox,
// a lock or an allocation. The snapshot changes only through Set, which
// the interface actor calls with the complete set this interface owns.
//
// What the responder promises:
//   - Exactly one answer per question for an owned IP, from this
//     interface's MAC, and none for any other IP. Questions are ARP
//     requests (also ARP probes from 0.0.0.0, which are answered to defend
//     the address, RFC 5227 §2.1.1) and Neighbor Solicitations sent to the
//     solicited-node group or unicast to the IP itself (the probes of
//     Neighbor Unreachability Detection, which an ICMPv6 socket would not
//     see when the IP is not a kernel address) or from :: (DAD probes,
//     answered to ff02::1 with Solicited=0). Every Neighbor Advertisement
//     has Override=1, Router=0 and the MAC as target link-layer option,
//     and the service IP as its source address. (The comments on the
//     unexported handleARP and handleNS list every rule.)
//   - The frames this host sends and ARP announcements by other hosts are
//     never answered.
//   - Set joins the solicited-node group ff02::1:ffXX:XXXX of each owned
//     IPv6 IP before the IP is published, once per group however many IPs
//     map to it, and leaves it when the last such IP goes.
//   - Set starts the gratuitous schedule for each newly owned IP itself
//     (both ARP forms, request and reply, or one unsolicited NA with
//     Override=1 to ff02::1; at once and then at the Schedule offsets,
//     default 0, 250 ms, 1 s, 2 s; then every Refresh if set). It returns
//     the IPs it added so the shell can log or trace them. Announce
//     restarts the schedule, e.g. when the link comes back up. After Set
//     returns, no gratuitous message goes out for an IP it removed.
//   - Counters are kept per IP for the life of the responder.
//
// What the caller must do:
//   - Call Set from one goroutine at a time (the interface actor), with
//     only the IPs this interface should answer for.
//   - Watch Done: a socket error reading cannot recover from (the
//     interface was deleted) ends the responder; close it and open a new
//     one when the link is back. ENETDOWN while the link is down is not
//     such an error.
//   - Not also let the kernel answer: a node that binds service IPs to a
//     local interface (kube-proxy IPVS, or lo) must set arp_ignore=1 and
//     arp_announce=2 (kube-proxy's strictARP), or the kernel answers ARP
//     for them too. The kernel never answers an NS for an address on
//     another interface, so IPv6 needs nothing.
//
// Known limits: Ethernet links only (no InfiniBand), a Neighbor
// Solicitation with IPv6 extension headers is not answered, and a reply
// to a question read just before a Set may be written just after it (the
// gratuitous repeats of the new owner correct a cache that took it).
//
// # Interface discovery
//
// Watch reports links appearing, going up or down, changing, vanishing,
// and addresses added and removed, as netlink notifies them, each with the
// Filter's verdict. Filter.Usable is a pure function: a link is usable
// when it is not loopback, not excluded by name (DefaultExclude lists the
// interfaces of container runtimes and CNI plugins), has an Ethernet
// address, does ARP, is not enslaved to a bond or bridge, and is up.
package l2
