package timeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormatGolden renders each testdata/*.json body and compares it with
// the hand-written testdata/*.txt of the same name.
func TestFormatGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			tr, err := DecodeBytes(body)
			if err != nil {
				t.Fatal(err)
			}
			if got := Format(tr); got != string(want) {
				t.Errorf("Format:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	span := func(id, parent, op string, start, dur int64) Span {
		s := Span{SpanID: id, OperationName: op, StartTime: start, Duration: dur, ProcessID: "p"}
		if parent != "" {
			s.References = []Reference{{RefType: refChildOf, SpanID: parent}}
		}
		return s
	}
	procs := map[string]Process{"p": {ServiceName: "svc"}}
	tests := []struct {
		name  string
		trace Trace
		want  string
	}{
		{"no spans", Trace{TraceID: "t0"}, "trace t0: no spans\n"},
		{
			"siblings by start, then ID; a child after its parent even when it starts earlier",
			Trace{TraceID: "t1", Processes: procs, Spans: []Span{
				span("b", "", "second-root", 2000, 1),
				span("a", "", "first-root", 1000, 5000),
				span("c", "a", "early-child", 500, 10),
			}},
			"trace t1: 3 spans over 5.500 ms from svc\n" +
				"       start     duration  span [process@node] attributes\n" +
				"    0.500 ms     5.000 ms  first-root [svc]\n" +
				"    0.000 ms     0.010 ms    early-child [svc]\n" +
				"    1.500 ms     0.001 ms  second-root [svc]\n",
		},
		{
			"a parent cycle is still shown, each span once",
			Trace{TraceID: "t2", Processes: procs, Spans: []Span{
				span("x", "y", "x-op", 0, 1000),
				span("y", "x", "y-op", 10, 1000),
			}},
			"trace t2: 2 spans over 1.010 ms from svc\n" +
				"       start     duration  span [process@node] attributes\n" +
				"    0.000 ms     1.000 ms  x-op [svc]\n" +
				"    0.010 ms     1.000 ms    y-op [svc]\n",
		},
		{
			"unknown process: its ID stands in",
			Trace{TraceID: "t3", Spans: []Span{{SpanID: "s", OperationName: "op", ProcessID: "p9", Duration: 1234567}}},
			"trace t3: 1 spans over 1234.567 ms\n" +
				"       start     duration  span [process@node] attributes\n" +
				"    0.000 ms  1234.567 ms  op [p9]\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Format(tc.trace); got != tc.want {
				t.Errorf("Format:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		spans   int
		wantErr error
	}{
		{"one trace", `{"data":[{"traceID":"ab","spans":[{"spanID":"1","tags":[{"key":"n","type":"int64","value":12345678901234}]}]}]}`, 1, nil},
		{"no data", `{"data":[]}`, 0, ErrNoTrace},
		{"errors", `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`, 0, ErrNoTrace},
		{"no spans", `{"data":[{"traceID":"ab","spans":[]}]}`, 0, ErrNoTrace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := DecodeBytes([]byte(tc.body))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(tr.Spans) != tc.spans {
				t.Fatalf("%d spans, want %d", len(tr.Spans), tc.spans)
			}
		})
	}
	// Large integers survive exactly (no float64 rounding).
	tr, _ := DecodeBytes([]byte(`{"data":[{"traceID":"ab","spans":[{"spanID":"1","tags":[{"key":"herald.n","value":12345678901234567}]}]}]}`))
	if got := keyAttrs(tr.Spans[0].Tags); got != "herald.n=12345678901234567" {
		t.Errorf("keyAttrs = %q", got)
	}
	if _, err := DecodeBytes([]byte(`not json`)); err == nil || errors.Is(err, ErrNoTrace) {
		t.Errorf("bad JSON: err = %v, want a decoding error", err)
	}
}
