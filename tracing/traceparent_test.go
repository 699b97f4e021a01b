package tracing

import (
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

const (
	tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	sid = "00f067aa0ba902b7"
)

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		in        string
		wantFlags trace.TraceFlags
		wantErr   string // empty: valid
	}{
		{in: "00-" + tid + "-" + sid + "-01", wantFlags: trace.FlagsSampled},
		{in: "00-" + tid + "-" + sid + "-00", wantFlags: 0},
		{in: "00-" + tid + "-" + sid + "-03", wantFlags: trace.FlagsSampled | trace.FlagsRandom},
		// A later version: more fields after a dash, unknown flags ignored.
		{in: "01-" + tid + "-" + sid + "-01", wantFlags: trace.FlagsSampled},
		{in: "cc-" + tid + "-" + sid + "-ff-what-the-future-holds", wantFlags: trace.FlagsSampled | trace.FlagsRandom},
		{in: "fe-" + tid + "-" + sid + "-00-", wantFlags: 0},

		{in: "", wantErr: "0 characters"},
		{in: "00-" + tid + "-" + sid + "-0", wantErr: "54 characters"},
		{in: "00-" + tid + "-" + sid + "-01-", wantErr: "version 00 has 56 characters"},
		{in: "00-" + tid + "-" + sid + "-010", wantErr: "version 00 has 56 characters"},
		{in: "01-" + tid + "-" + sid + "-01x", wantErr: "after the flags"},
		{in: "ff-" + tid + "-" + sid + "-01", wantErr: "version ff"},
		{in: "0A-" + tid + "-" + sid + "-01", wantErr: "version"},
		{in: "00_" + tid + "-" + sid + "-01", wantErr: "character 2"},
		{in: "00-" + tid + "_" + sid + "-01", wantErr: "character 35"},
		{in: "00-" + tid + "-" + sid + "_01", wantErr: "character 52"},
		{in: "00-" + strings.ToUpper(tid) + "-" + sid + "-01", wantErr: "trace-id"},
		{in: "00-" + strings.Repeat("0", 32) + "-" + sid + "-01", wantErr: "trace-id is all zeros"},
		{in: "00-" + tid + "-" + "00f067aa0ba9g2b7" + "-01", wantErr: "parent-id"},
		{in: "00-" + tid + "-" + strings.Repeat("0", 16) + "-01", wantErr: "parent-id is all zeros"},
		{in: "00-" + tid + "-" + sid + "-0x", wantErr: "trace-flags"},
		{in: "00-" + tid + "-" + sid + "-09", wantErr: "bits version 00 does not define"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTraceparent(tc.in)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrTraceparent) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one wrapping ErrTraceparent that says %q", err, tc.wantErr)
				}
				if got.IsValid() {
					t.Errorf("an error came with a valid SpanContext %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.TraceID().String() != tid || got.SpanID().String() != sid || got.TraceFlags() != tc.wantFlags || !got.IsRemote() {
				t.Errorf("got %s %s flags %v remote %v, want %s %s %v remote", got.TraceID(), got.SpanID(), got.TraceFlags(), got.IsRemote(), tid, sid, tc.wantFlags)
			}
		})
	}
}

func TestFormatTraceparent(t *testing.T) {
	if got := FormatTraceparent(trace.SpanContext{}); got != "" {
		t.Errorf("invalid SpanContext formats as %q, want empty", got)
	}
	for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled, trace.FlagsSampled | trace.FlagsRandom, 0xff} {
		s := sc(0xab, 0xcd, false).WithTraceFlags(flags)
		got := FormatTraceparent(s)
		want := "00-000000000000000000000000000000ab-00000000000000cd-0" + string("0123"[flags&3])
		if got != want {
			t.Errorf("flags %v: %q, want %q", flags, got, want)
		}
		back, err := ParseTraceparent(got)
		if err != nil || back.TraceID() != s.TraceID() || back.SpanID() != s.SpanID() || back.TraceFlags() != flags&3 {
			t.Errorf("flags %v: parsing %q back gave %v, %v", flags, got, back, err)
		}
	}
}

func TestAnnotations(t *testing.T) {
	s := sc(7, 8, false)
	a := SetAnnotation(nil, s)
	if a[TraceparentAnnotation] != FormatTraceparent(s) {
		t.Fatalf("annotations %v", a)
	}
	got, err := FromAnnotations(a)
	if err != nil || got.TraceID() != s.TraceID() || got.SpanID() != s.SpanID() || !got.IsRemote() {
		t.Errorf("read back %v, %v; want %v as remote", got, err, s)
	}
	a["other"] = "kept"
	if a = SetAnnotation(a, trace.SpanContext{}); len(a) != 1 || a["other"] != "kept" {
		t.Errorf("clearing left %v", a)
	}
	if got, err := FromAnnotations(a); err != nil || got.IsValid() {
		t.Errorf("no annotation: %v, %v; want the zero SpanContext and no error", got, err)
	}
	if got, err := FromAnnotations(map[string]string{TraceparentAnnotation: "garbage"}); err == nil || !errors.Is(err, ErrTraceparent) ||
		!strings.Contains(err.Error(), TraceparentAnnotation) || got.IsValid() {
		t.Errorf("bad annotation: %v, %v; want an error naming the annotation", got, err)
	}
	if a := SetAnnotation(nil, trace.SpanContext{}); a != nil {
		t.Errorf("clearing nil made %v", a)
	}
}
