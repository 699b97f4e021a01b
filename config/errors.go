package config

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every Error wraps exactly one of them, so callers and
// tests can classify a failure with errors.Is without matching text.
var (
	ErrInvalidName          = errors.New("invalid name")
	ErrDuplicateName        = errors.New("name already used by another object of this kind")
	ErrRequired             = errors.New("required")
	ErrDuplicateEntry       = errors.New("listed more than once")
	ErrInvalidValue         = errors.New("invalid value")
	ErrOutOfRange           = errors.New("out of range")
	ErrMutuallyExclusive    = errors.New("mutually exclusive fields")
	ErrInvalidAddress       = errors.New("not a CIDR or an address range")
	ErrRangeReversed        = errors.New("range end is before its start")
	ErrMixedFamily          = errors.New("range mixes IPv4 and IPv6")
	ErrOverlap              = errors.New("overlaps another address range")
	ErrInvalidSelector      = errors.New("invalid label selector")
	ErrUnknownPool          = errors.New("no IPAddressPool with this name")
	ErrNoPoolSelected       = errors.New("selects no IPAddressPool")
	ErrUnknownPeer          = errors.New("no BGPPeer with this name")
	ErrUnknownBFDProfile    = errors.New("no BFDProfile with this name")
	ErrUnknownSecret        = errors.New("no Secret with this name")
	ErrSecretType           = errors.New("wrong Secret type")
	ErrSecretKey            = errors.New(`secret has no "password" key`)
	ErrInvalidPassword      = errors.New("invalid password")
	ErrHoldTime             = errors.New("invalid hold time")
	ErrKeepaliveTime        = errors.New("invalid keepalive time")
	ErrConnectTime          = errors.New("invalid connect time")
	ErrInvalidCommunity     = errors.New("malformed community")
	ErrUnknownCommunity     = errors.New("unknown community alias")
	ErrAggregationLength    = errors.New("aggregation length shorter than the pool's prefix")
	ErrLocalPrefConflict    = errors.New("conflicting localPref")
	ErrMyASNConflict        = errors.New("conflicting myASN on shared nodes")
	ErrDuplicatePeerSession = errors.New("same BGP session as another BGPPeer")
	ErrUnknownField         = errors.New("unknown field")
)

// Error is one problem in one object. Field is a JSON path into the object
// ("spec.addresses[1]"); Err wraps a sentinel above and carries the
// offending value and the explanation.
type Error struct {
	Kind      string
	Namespace string
	Name      string
	Field     string
	Err       error
}

// Object returns "namespace/name", or the bare name for objects without a
// namespace.
func (e *Error) Object() string { return ObjectName(e.Namespace, e.Name) }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind)
	b.WriteByte(' ')
	b.WriteString(e.Object())
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap exposes the sentinel to errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem Compile found, in a stable order (kind, then
// namespace/name, then the order the fields were checked).
type Errors []*Error

// Error prints one line per problem.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at every problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Warning is a non-fatal remark about one object: the configuration works,
// but probably not as its author meant, or uses a deprecated form.
type Warning struct {
	Kind      string
	Namespace string
	Name      string
	Field     string
	Message   string
	// Whole is set for a remark on the configuration as a whole (a pool no
	// advertisement selects, an advertisement with no peer to go to)
	// rather than on the object's own fields. Such a remark is only true
	// of a complete configuration: while objects are applied one by one
	// (a pool, then its advertisement) it is premature, so the webhook
	// leaves it to ConfigurationState and herald validate.
	Whole bool
}

// Object returns "namespace/name", or the bare name.
func (w Warning) Object() string { return ObjectName(w.Namespace, w.Name) }

func (w Warning) String() string {
	s := w.Kind + " " + w.Object() + ": "
	if w.Field != "" {
		s += w.Field + ": "
	}
	return s + w.Message
}

// ObjectName is how every message names an object: "namespace/name", or
// the name alone for cluster-scoped objects.
func ObjectName(namespace, name string) string {
	if name == "" {
		name = "<unnamed>"
	}
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// ref identifies the object being compiled, so each check only names the
// field.
type ref struct {
	Kind      string
	Namespace string
	Name      string
}

func (r ref) String() string { return r.Kind + " " + ObjectName(r.Namespace, r.Name) }

// diagnostics collects errors and warnings while compiling.
type diagnostics struct {
	errs     Errors
	warnings []Warning
}

// errorf records an error on field of obj. format must contain exactly one
// %w, the sentinel.
func (d *diagnostics) errorf(obj ref, field, format string, args ...any) {
	d.errs = append(d.errs, &Error{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Field: field,
		Err: fmt.Errorf(format, args...)})
}

func (d *diagnostics) warnf(obj ref, field, format string, args ...any) {
	d.warnings = append(d.warnings, Warning{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Field: field,
		Message: fmt.Sprintf(format, args...)})
}

// warnWhole records a remark on the configuration as a whole (Warning.Whole).
func (d *diagnostics) warnWhole(obj ref, format string, args ...any) {
	d.warnf(obj, "", format, args...)
	d.warnings[len(d.warnings)-1].Whole = true
}

// index formats a JSON path element.
func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }
