package tracing

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"
)

// TraceparentAnnotation is the Service annotation through which the
// controller hands a Service's trace to the speakers: a W3C Trace Context
// traceparent (https://www.w3.org/TR/trace-context/#traceparent-header)
// naming the controller's span of the Service's last change.
const TraceparentAnnotation = "herald.io/traceparent"

// ErrTraceparent is wrapped by every error ParseTraceparent returns.
var ErrTraceparent = errors.New("invalid traceparent")

// Sizes of the version 00 form: 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>.
const (
	traceparentLen = 2 + 1 + 32 + 1 + 16 + 1 + 2
	traceIDAt      = 3
	spanIDAt       = traceIDAt + 32 + 1
	flagsAt        = spanIDAt + 16 + 1
)

// FormatTraceparent writes sc as a version 00 traceparent, or "" if sc is
// not valid. Only the sampled and random flags are carried, as the
// specification asks.
func FormatTraceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	var b [traceparentLen]byte
	b[0], b[1], b[2] = '0', '0', '-'
	tid, sid := sc.TraceID(), sc.SpanID()
	hexInto(b[traceIDAt:], tid[:])
	b[spanIDAt-1] = '-'
	hexInto(b[spanIDAt:], sid[:])
	b[flagsAt-1] = '-'
	hexInto(b[flagsAt:], []byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))})
	return string(b[:])
}

const hexDigits = "0123456789abcdef"

func hexInto(dst, src []byte) {
	for i, c := range src {
		dst[2*i], dst[2*i+1] = hexDigits[c>>4], hexDigits[c&0x0f]
	}
}

// ParseTraceparent reads a W3C traceparent into a remote SpanContext. It
// follows the specification's parsing rules: lower-case hex only; version
// ff is invalid; version 00 is exactly 55 characters with only the
// sampled and random flags; a later version may carry more fields after
// a '-', which are ignored, as are its other flag bits; an all-zero
// trace-id or parent-id is invalid. Errors wrap ErrTraceparent and say
// what is wrong.
func ParseTraceparent(s string) (trace.SpanContext, error) {
	if len(s) < traceparentLen {
		return trace.SpanContext{}, fmt.Errorf("%w: %d characters, want %d", ErrTraceparent, len(s), traceparentLen)
	}
	version, ok := hexByte(s[0], s[1])
	switch {
	case !ok:
		return trace.SpanContext{}, fmt.Errorf("%w: version %q is not two lower-case hex digits", ErrTraceparent, s[:2])
	case version == 0xff:
		return trace.SpanContext{}, fmt.Errorf("%w: version ff is forbidden", ErrTraceparent)
	case version == 0 && len(s) != traceparentLen:
		return trace.SpanContext{}, fmt.Errorf("%w: version 00 has %d characters, want %d", ErrTraceparent, len(s), traceparentLen)
	case len(s) > traceparentLen && s[traceparentLen] != '-':
		return trace.SpanContext{}, fmt.Errorf("%w: character %d after the flags is %q, want '-'", ErrTraceparent, traceparentLen, s[traceparentLen])
	}
	for _, at := range []int{traceIDAt - 1, spanIDAt - 1, flagsAt - 1} {
		if s[at] != '-' {
			return trace.SpanContext{}, fmt.Errorf("%w: character %d is %q, want '-'", ErrTraceparent, at, s[at])
		}
	}
	var cfg trace.SpanContextConfig
	if !hexBytes(cfg.TraceID[:], s[traceIDAt:traceIDAt+32]) {
		return trace.SpanContext{}, fmt.Errorf("%w: trace-id %q is not 32 lower-case hex digits", ErrTraceparent, s[traceIDAt:traceIDAt+32])
	}
	if !cfg.TraceID.IsValid() {
		return trace.SpanContext{}, fmt.Errorf("%w: trace-id is all zeros", ErrTraceparent)
	}
	if !hexBytes(cfg.SpanID[:], s[spanIDAt:spanIDAt+16]) {
		return trace.SpanContext{}, fmt.Errorf("%w: parent-id %q is not 16 lower-case hex digits", ErrTraceparent, s[spanIDAt:spanIDAt+16])
	}
	if !cfg.SpanID.IsValid() {
		return trace.SpanContext{}, fmt.Errorf("%w: parent-id is all zeros", ErrTraceparent)
	}
	flags, ok := hexByte(s[flagsAt], s[flagsAt+1])
	if !ok {
		return trace.SpanContext{}, fmt.Errorf("%w: trace-flags %q are not two lower-case hex digits", ErrTraceparent, s[flagsAt:flagsAt+2])
	}
	known := byte(trace.FlagsSampled | trace.FlagsRandom)
	if version == 0 && flags&^known != 0 {
		return trace.SpanContext{}, fmt.Errorf("%w: trace-flags %02x set bits version 00 does not define", ErrTraceparent, flags)
	}
	cfg.TraceFlags = trace.TraceFlags(flags & known)
	cfg.Remote = true
	return trace.NewSpanContext(cfg), nil
}

// hexBytes decodes lower-case hex src into dst (len(src) == 2*len(dst)).
func hexBytes(dst []byte, src string) bool {
	for i := range dst {
		b, ok := hexByte(src[2*i], src[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := hexNibble(hi)
	l, ok2 := hexNibble(lo)
	return h<<4 | l, ok1 && ok2
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// FromAnnotations returns the SpanContext of a Service's traceparent
// annotation: invalid (the zero SpanContext) when there is none, and an
// error when there is one that does not parse. A bad annotation is no
// reason to stop work: callers trace from a new root and may log it.
func FromAnnotations(annotations map[string]string) (trace.SpanContext, error) {
	v, ok := annotations[TraceparentAnnotation]
	if !ok {
		return trace.SpanContext{}, nil
	}
	sc, err := ParseTraceparent(v)
	if err != nil {
		return trace.SpanContext{}, fmt.Errorf("annotation %s: %w", TraceparentAnnotation, err)
	}
	return sc, nil
}

// SetAnnotation records sc as the traceparent annotation in annotations
// (allocating the map if it is nil) and returns the map. An invalid sc
// removes the annotation: the Service's last change was not traced.
func SetAnnotation(annotations map[string]string, sc trace.SpanContext) map[string]string {
	if !sc.IsValid() {
		delete(annotations, TraceparentAnnotation)
		return annotations
	}
	if annotations == nil {
		annotations = make(map[string]string, 1)
	}
	annotations[TraceparentAnnotation] = FormatTraceparent(sc)
	return annotations
}
