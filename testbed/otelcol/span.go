package otelcol

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Span is one received span, flattened out of its resource and scope.
// IDs are lowercase hex; ParentSpanID is empty for a root span. Attribute
// values are as pcommon.Value.AsRaw gives them (string, bool, int64,
// float64, []byte, []any, map[string]any).
type Span struct {
	TraceID       string
	SpanID        string
	ParentSpanID  string
	Name          string
	Kind          string // "Server", "Client", "Internal", ...
	Start, End    time.Time
	StatusCode    string // "Unset", "Ok" or "Error"
	StatusMessage string
	Attributes    map[string]any
	Events        []Event
	Links         []Link

	ServiceName        string // resource attribute service.name
	ResourceAttributes map[string]any
	ScopeName          string
	ScopeVersion       string
}

// Event is a span event.
type Event struct {
	Name       string
	Time       time.Time
	Attributes map[string]any
}

// Link is a span link.
type Link struct {
	TraceID    string
	SpanID     string
	Attributes map[string]any
}

// Attr returns attribute key as a string ("" if absent).
func (s Span) Attr(key string) string {
	v, ok := s.Attributes[key]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// String is a one-line summary: name, IDs, parent and attributes.
func (s Span) String() string {
	keys := make([]string, 0, len(s.Attributes))
	for k := range s.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%q trace=%s span=%s", s.Name, s.TraceID, s.SpanID)
	if s.ParentSpanID != "" {
		fmt.Fprintf(&b, " parent=%s", s.ParentSpanID)
	}
	if s.ServiceName != "" {
		fmt.Fprintf(&b, " service=%s", s.ServiceName)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, s.Attributes[k])
	}
	if len(s.Links) > 0 {
		fmt.Fprintf(&b, " links=%d", len(s.Links))
	}
	return b.String()
}

func flatten(td ptrace.Traces) []Span {
	var out []Span
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes().AsRaw()
		service, _ := res["service.name"].(string)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				s := Span{
					TraceID:            sp.TraceID().String(),
					SpanID:             sp.SpanID().String(),
					Name:               sp.Name(),
					Kind:               sp.Kind().String(),
					Start:              sp.StartTimestamp().AsTime(),
					End:                sp.EndTimestamp().AsTime(),
					StatusCode:         sp.Status().Code().String(),
					StatusMessage:      sp.Status().Message(),
					Attributes:         sp.Attributes().AsRaw(),
					ServiceName:        service,
					ResourceAttributes: res,
					ScopeName:          ss.Scope().Name(),
					ScopeVersion:       ss.Scope().Version(),
				}
				if !sp.ParentSpanID().IsEmpty() {
					s.ParentSpanID = sp.ParentSpanID().String()
				}
				for e := 0; e < sp.Events().Len(); e++ {
					ev := sp.Events().At(e)
					s.Events = append(s.Events, Event{Name: ev.Name(), Time: ev.Timestamp().AsTime(), Attributes: ev.Attributes().AsRaw()})
				}
				for l := 0; l < sp.Links().Len(); l++ {
					ln := sp.Links().At(l)
					s.Links = append(s.Links, Link{TraceID: ln.TraceID().String(), SpanID: ln.SpanID().String(), Attributes: ln.Attributes().AsRaw()})
				}
				out = append(out, s)
			}
		}
	}
	return out
}
