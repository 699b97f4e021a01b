// Command kubectl-herald is a kubectl plugin: status, why a Service is still
// pending, and who announces which IP to whom.
package main
