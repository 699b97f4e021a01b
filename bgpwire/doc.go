// Package bgpwire is Herald's BGP-4 wire format and finite state machine.
//
// It is pure: no I/O, no clocks, no goroutines. Encoders append into
// caller-owned buffers and do not allocate in steady state; decoders validate
// RFC 4271 section 6 and classify malformed attributes by RFC 7606, returning
// errors that carry the NOTIFICATION code, subcode and data to send. The
// state machine of RFC 4271 section 8 takes events (including timer expiry)
// and returns actions; the caller owns the TCP connection and the timers.
package bgpwire
