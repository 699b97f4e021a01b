// Command kubectl-herald is a kubectl plugin: status, why a Service is still
// pending, and who announces which IP to whom.
//
// Its place in the whole: the binaries, the top layer, in docs/architecture.md.
package main
