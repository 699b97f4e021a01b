// Package bfd is the Bidirectional Forwarding Detection control packet codec
// (RFC 5880, with the authentication sections) and the session state machine
// with timer negotiation, Poll/Final sequences and transmit jitter.
//
// It is pure: time and received packets enter as events, and the state
// machine returns the packets to send and the timers to arm. Sockets
// (RFC 5881 single hop, RFC 5883 multihop) belong to the caller.
package bfd
