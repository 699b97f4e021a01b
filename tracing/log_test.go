package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLogHandler(t *testing.T) {
	span := sc(0x42, 0x17, false)
	traced := Context(context.Background(), span)
	wantTrace, wantSpan := span.TraceID().String(), span.SpanID().String()
	for _, tc := range []struct {
		name string
		log  func(l *slog.Logger)
		want map[string]any // the line, without time, level and msg
	}{
		{name: "no span", log: func(l *slog.Logger) { l.InfoContext(context.Background(), "m", "k", 1) },
			want: map[string]any{"k": 1.0}},
		{name: "no context", log: func(l *slog.Logger) { l.Info("m") }, want: map[string]any{}},
		{name: "span", log: func(l *slog.Logger) { l.InfoContext(traced, "m", "k", 1) },
			want: map[string]any{"k": 1.0, LogTraceID: wantTrace, LogSpanID: wantSpan}},
		{name: "attrs before", log: func(l *slog.Logger) { l.With("a", "x").InfoContext(traced, "m") },
			want: map[string]any{"a": "x", LogTraceID: wantTrace, LogSpanID: wantSpan}},
		{name: "group keeps the IDs at the top",
			log: func(l *slog.Logger) {
				l.With("a", "x").WithGroup("peer").With("b", "y").InfoContext(traced, "m", "k", 1)
			},
			want: map[string]any{"a": "x", LogTraceID: wantTrace, LogSpanID: wantSpan,
				"peer": map[string]any{"b": "y", "k": 1.0}}},
		{name: "group without a span", log: func(l *slog.Logger) { l.WithGroup("peer").With("b", "y").Info("m", "k", 1) },
			want: map[string]any{"peer": map[string]any{"b": "y", "k": 1.0}}},
		{name: "nested groups", log: func(l *slog.Logger) { l.WithGroup("g1").WithGroup("g2").InfoContext(traced, "m", "k", 1) },
			want: map[string]any{LogTraceID: wantTrace, LogSpanID: wantSpan, "g1": map[string]any{"g2": map[string]any{"k": 1.0}}}},
		{name: "empty group and attrs change nothing", log: func(l *slog.Logger) { l.WithGroup("").With().InfoContext(traced, "m") },
			want: map[string]any{LogTraceID: wantTrace, LogSpanID: wantSpan}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))))
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			delete(got, "time")
			delete(got, "level")
			delete(got, "msg")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, buf.String())
			}
		})
	}
}

func TestLogHandlerEnabled(t *testing.T) {
	h := NewLogHandler(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled does not follow the wrapped handler's level")
	}
}
