package bgpwire

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func seq(asns ...uint32) ASSegment { return ASSegment{ASSequence, asns} }
func set(asns ...uint32) ASSegment { return ASSegment{ASSet, asns} }

func TestMergedASPath(t *testing.T) {
	const T = ASTrans
	tests := []struct {
		name string
		a    Attributes
		want []ASSegment
	}{
		{"no AS4_PATH", Attributes{ASPath: []ASSegment{seq(1, 2)}}, []ASSegment{seq(1, 2)}},
		// RFC 6793 §4.2.3: the 2-octet speaker 10 prepended itself after
		// the path left the 4-octet world.
		{"prepended by an old speaker", Attributes{
			ASPath:  []ASSegment{seq(10, T, T)},
			AS4Path: []ASSegment{seq(4200000000, 4200000001)},
		}, []ASSegment{seq(10), seq(4200000000, 4200000001)}},
		{"same length", Attributes{ASPath: []ASSegment{seq(T)}, AS4Path: []ASSegment{seq(4200000000)}}, []ASSegment{seq(4200000000)}},
		{"AS4_PATH longer is ignored", Attributes{ASPath: []ASSegment{seq(T)}, AS4Path: []ASSegment{seq(1, 2)}}, []ASSegment{seq(T)}},
		{"AS_SET counts one", Attributes{
			ASPath:  []ASSegment{set(5, 6, 7), seq(T)},
			AS4Path: []ASSegment{seq(4200000000)},
		}, []ASSegment{set(5, 6, 7), seq(4200000000)}},
		{"confederation segments are kept", Attributes{
			ASPath:  []ASSegment{{ASConfedSequence, []uint32{65000}}, seq(10, T)},
			AS4Path: []ASSegment{seq(4200000000)},
		}, []ASSegment{{ASConfedSequence, []uint32{65000}}, seq(10), seq(4200000000)}},
		{"non-AS_TRANS aggregator makes AS4_PATH stale", Attributes{
			ASPath: []ASSegment{seq(10, T)}, AS4Path: []ASSegment{seq(4200000000)},
			HasAggregator: true, Aggregator: Aggregator{AS: 10},
		}, []ASSegment{seq(10, T)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.a.MergedASPath(nil), cmpOpts...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergedAggregator(t *testing.T) {
	a := Attributes{HasAggregator: true, Aggregator: Aggregator{AS: ASTrans, Addr: addr("192.0.2.1")},
		HasAS4Aggregator: true, AS4Aggregator: Aggregator{AS: 4200000000, Addr: addr("192.0.2.1")}}
	if got, ok := a.MergedAggregator(); !ok || got.AS != 4200000000 {
		t.Errorf("MergedAggregator = %v, %v", got, ok)
	}
	a.Aggregator.AS = 10
	if got, _ := a.MergedAggregator(); got.AS != 10 {
		t.Errorf("MergedAggregator = %v, want AS 10", got)
	}
	if _, ok := (&Attributes{}).MergedAggregator(); ok {
		t.Error("no aggregator reported as present")
	}
}

func TestPathLength(t *testing.T) {
	if n := PathLength([]ASSegment{seq(1, 2, 3), set(4, 5), {ASConfedSet, []uint32{6}}, {ASConfedSequence, []uint32{7, 8}}}); n != 4 {
		t.Errorf("PathLength = %d, want 4", n)
	}
}
