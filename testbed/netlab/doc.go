// Package netlab builds Herald's lab topology out of Linux network
// namespaces with iproute2: N node namespaces, a client and a router on one
// bridged L2 segment, plus a routed link between the router and the client
// (the BGP layout). Every link has IPv4 and IPv6 with DAD disabled, so
// addresses are usable at once. Nodes set arp_ignore=1/arp_announce=2, so a
// service IP bound on a node's lo is answered by Herald, never by the kernel.
//
// Contract:
//   - New (or NewForTest) claims a lab ID atomically (creating the switch
//     namespace <prefix><id>-sw), so labs in parallel tests and processes
//     never share namespace names. Addresses are derived from the ID but live
//     only inside the lab's namespaces; nothing is created in the caller's
//     namespace.
//   - Close kills every process left in the lab's namespaces, stops the
//     backends, deletes the namespaces (taking the bridge and veths along)
//     and the state directory under StateRoot. NewForTest registers Close
//     with t.Cleanup; CloseOnSignal covers SIGINT/SIGTERM; CleanupStale
//     removes labs whose owning process died; RemoveAll removes all labs with
//     a prefix.
//   - Backends are HTTP servers in the node namespaces answering with the
//     node's name; HTTPGetFromClient proves reachability from the client.
//   - StartCapture records the TCP segments an interface of a namespace
//     sees (tcpdump); ReadPcap reads them, so a test checks the wire, not
//     either end's account of it.
//   - RunInNamespace runs a function on a thread inside a namespace: sockets
//     it creates belong to that namespace (the routers package uses it to
//     run GoBGP's listener in a node).
//
// Every operation needs root; tests skip when IsRoot is false.
package netlab
