// Package config compiles the set of metallb.io objects, together with the
// Namespaces, Nodes and Secrets they refer to, into one immutable, validated
// Config.
//
// It is pure: the caller supplies every object. Compile returns every error
// at once; each names the kind, namespace, name and field at fault and says
// what is wrong. The same code runs in the validating webhook, in the
// controller and speaker, and in `herald validate`.
package config
