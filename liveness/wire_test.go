package liveness

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestStatusRoundTrip(t *testing.T) {
	for _, s := range []Status{
		{Report: Report{Reporter: "a", Epoch: 1, Seq: 1}},
		{Report: Report{Reporter: "node-1", Epoch: 1<<63 + 5, Seq: 42, Leaving: true}},
		{Report: Report{Reporter: "n", Epoch: 7, Seq: 9, Observations: []Observation{{"b", true}, {"c", false}}},
			Interfaces: []string{"eth0", "eth1"}},
		{Report: Report{Reporter: strings.Repeat("x", 253), Epoch: 1, Seq: 2}, Interfaces: []string{strings.Repeat("i", 15)}},
	} {
		b, err := AppendStatus([]byte("prefix"), s)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("AppendStatus lost the prefix")
		}
		m, err := Decode(b[len("prefix"):])
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if m.Digest != nil || m.Status == nil {
			t.Fatalf("decoded %+v, want a Status", m)
		}
		if d := cmp.Diff(s, *m.Status, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("round trip (-sent +decoded):\n%s", d)
		}
	}
}

func TestDigestsSplitAndRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 50, 1000} {
		d := Digest{Request: n%2 == 1}
		for i := range n {
			d.Versions = append(d.Versions, Version{Reporter: strings.Repeat("n", 1+i%40) + string(rune('a'+i%26)), Epoch: uint64(i), Seq: uint64(i * 3)})
		}
		dgs, err := AppendDigests(d)
		if err != nil {
			t.Fatal(err)
		}
		var got Digest
		got.Request = d.Request
		for _, b := range dgs {
			if len(b) > MaxDatagram {
				t.Errorf("%d versions: a datagram of %d bytes", n, len(b))
			}
			m, err := Decode(b)
			if err != nil {
				t.Fatalf("%d versions: %v", n, err)
			}
			if m.Digest == nil || m.Digest.Request != d.Request {
				t.Fatalf("%d versions: decoded %+v", n, m)
			}
			got.Versions = append(got.Versions, m.Digest.Versions...)
		}
		if d := cmp.Diff(d, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%d versions (-sent +decoded):\n%s", n, d)
		}
		if n == 1000 && len(dgs) < 2 {
			t.Errorf("1000 versions in %d datagram(s): not split", len(dgs))
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := AppendStatus(nil, Status{Report: Report{Reporter: "a", Epoch: 1, Seq: 1,
		Observations: []Observation{{"b", true}}}, Interfaces: []string{"eth0"}})
	mod := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "malformed liveness message: version: truncated"},
		{"version", mod(func(b []byte) []byte { b[0] = 2; return b }), "malformed liveness message: version 2, want 1"},
		{"type", mod(func(b []byte) []byte { b[1] = 9; return b }), "malformed liveness message: type 9"},
		{"flags", mod(func(b []byte) []byte { b[2] = 2; return b }), "malformed liveness message: flags 0x2: unknown bits"},
		{"empty reporter", mod(func(b []byte) []byte { b[3] = 0; return b }), "malformed liveness message: reporter: length 0 (28 bytes left)"},
		{"truncated", good[:len(good)-1], "malformed liveness message: interface: length 4 (3 bytes left)"},
		{"trailing", append(bytes.Clone(good), 0), "malformed liveness message: 1 bytes after the message"},
		{"observation", mod(func(b []byte) []byte { b[25] = 7; return b }), "malformed liveness message: observation of b: 7 is neither 0 nor 1"},
		{"too large", make([]byte, MaxDatagram+1), "malformed liveness message: 1401 bytes, at most 1400"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.b)
			if err == nil || err.Error() != c.want || !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode: %v, want %q wrapping ErrMalformed", err, c.want)
			}
		})
	}
}

func TestAppendStatusRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Status
		want string
	}{
		{"no reporter", Status{}, `liveness status: reporter: name "": length 0 not in 1..253`},
		{"long interface", Status{Report: Report{Reporter: "a"}, Interfaces: []string{strings.Repeat("i", 254)}},
			"liveness status of a: interface: name \"" + strings.Repeat("i", 254) + "\": length 254 not in 1..253"},
		{"too large", Status{Report: Report{Reporter: "a", Observations: make20(200)}},
			"liveness status larger than a datagram: a's is 4424 bytes, at most 1400"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := AppendStatus([]byte{1}, c.s)
			if err == nil || err.Error() != c.want {
				t.Errorf("AppendStatus: %v, want %q", err, c.want)
			}
			if len(b) != 1 {
				t.Errorf("AppendStatus left %d bytes after a failure, want the input's 1", len(b))
			}
		})
	}
}

func make20(n int) []Observation {
	out := make([]Observation, n)
	for i := range out {
		out[i] = Observation{Node: strings.Repeat("n", 20)}
	}
	return out
}

func TestExchange(t *testing.T) {
	held := map[string]Version{
		"a": {"a", 1, 5}, "b": {"b", 2, 1}, "c": {"c", 1, 1},
	}
	for _, c := range []struct {
		name    string
		d       Digest
		send    []string
		request []Version
	}{
		{"same", Digest{Versions: []Version{{"a", 1, 5}, {"b", 2, 1}}}, nil, nil},
		{"they are behind", Digest{Versions: []Version{{"a", 1, 4}, {"b", 1, 9}}}, []string{"a", "b"}, nil},
		{"they are ahead", Digest{Versions: []Version{{"a", 1, 6}, {"c", 2, 0}}}, nil, []Version{{"a", 1, 5}, {"c", 1, 1}}},
		{"they know one we lack", Digest{Versions: []Version{{"z", 1, 1}}}, nil, []Version{{"z", 0, 0}}},
		{"a request for one they lack", Digest{Request: true, Versions: []Version{{"c", 0, 0}}}, []string{"c"}, nil},
		{"a request asks nothing back", Digest{Request: true, Versions: []Version{{"a", 1, 9}, {"z", 1, 1}}}, nil, nil},
		{"zero version of one we lack", Digest{Versions: []Version{{"z", 0, 0}}}, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			send, req := Exchange(held, c.d)
			if d := cmp.Diff(c.send, send, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("send (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.request, req, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("request (-want +got):\n%s", d)
			}
		})
	}
}

// FuzzDecode: no input crashes Decode, and what it accepts re-encodes to
// a message that decodes the same.
func FuzzDecode(f *testing.F) {
	s, _ := AppendStatus(nil, Status{Report: Report{Reporter: "a", Epoch: 1, Seq: 2,
		Observations: []Observation{{"b", true}, {"c", false}}}, Interfaces: []string{"eth0"}})
	f.Add(s)
	ds, _ := AppendDigests(Digest{Request: true, Versions: []Version{{"a", 1, 2}, {"b", 0, 0}}})
	f.Add(ds[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var again []byte
		switch {
		case m.Status != nil:
			again, err = AppendStatus(nil, *m.Status)
		case m.Digest != nil:
			var dgs [][]byte
			dgs, err = AppendDigests(*m.Digest)
			if err == nil && len(dgs) == 1 {
				again = dgs[0]
			}
		default:
			t.Fatal("Decode returned neither a Status nor a Digest")
		}
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		if again == nil {
			return
		}
		m2, err := Decode(again)
		if err != nil {
			t.Fatalf("decoding the re-encoding: %v", err)
		}
		if d := cmp.Diff(m, m2, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("re-encoding changed the message:\n%s", d)
		}
	})
}
