package bgpwire

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fuzz targets check that decoding never panics, that every error is a
// *NotificationError with an action, and that what decodes cleanly
// re-encodes to a message that decodes to the same value. Their seed corpora
// are committed under testdata/fuzz/; `go test -run TestWriteFuzzSeeds
// -write-fuzz-seeds` regenerates the generated part of them from the vectors.

var writeSeeds = flag.Bool("write-fuzz-seeds", false, "write testdata/fuzz seed corpora from the test vectors")

func sessionOf(fourOctetAS, extended bool) Session {
	return Session{FourOctetAS: fourOctetAS, ExtendedMessage: extended}
}

// checkError fails unless err is nil or a well-formed *NotificationError.
func checkError(t *testing.T, err error) *NotificationError {
	t.Helper()
	if err == nil {
		return nil
	}
	var ne *NotificationError
	if !errors.As(err, &ne) {
		t.Fatalf("error %v (%T) is not a *NotificationError", err, err)
	}
	if ne.Action < AttributeDiscard || ne.Action > SessionReset || ne.Code == 0 || ne.Err == nil {
		t.Fatalf("incomplete error %#v", ne)
	}
	return ne
}

// differentialOpts compare a message with its re-encoding: WireAS is
// derived from AS by the encoder, so it is not expected to survive.
var differentialOpts = append([]cmp.Option{cmpopts.IgnoreFields(Open{}, "WireAS")}, cmpOpts...)

// reencode encodes m and decodes the result, which must equal m.
func reencode(t *testing.T, s Session, m *Message) {
	t.Helper()
	b, err := AppendMessage(nil, s, m)
	if err != nil {
		t.Fatalf("re-encode of a decoded message: %v\n%+v", err, m)
	}
	var again Message
	if err := again.Decode(b, s); err != nil {
		t.Fatalf("decode of re-encoded message: %v\n% x", err, b)
	}
	if diff := cmp.Diff(*m, again, differentialOpts...); diff != "" {
		t.Fatalf("decode(encode(decode(x))) differs (-first +second):\n%s", diff)
	}
}

// decodeAndCheck decodes msg and, unless the message was rejected as a whole
// or in part (treat-as-withdraw drops nothing, but a session reset leaves the
// value half-filled), re-encodes it.
func decodeAndCheck(t *testing.T, s Session, msg []byte, differential bool) {
	var m Message
	ne := checkError(t, m.Decode(msg, s))
	if m.Type == TypeNotification && ne == nil {
		m.Notification.ShutdownReason()
		m.Notification.HardResetCause()
	}
	if differential && (ne == nil || ne.Action == AttributeDiscard) {
		reencode(t, s, &m)
	}
}

// FuzzMessage parses whole messages, header included.
func FuzzMessage(f *testing.F) {
	f.Add([]byte{}, false, false)
	f.Fuzz(func(t *testing.T, msg []byte, fourOctetAS, extended bool) {
		s := sessionOf(fourOctetAS, extended)
		if _, err := ParseHeader(msg, s.MaxLen()); err != nil && (len(msg) >= HeaderLen || err != ErrShortHeader) {
			checkError(t, err)
		}
		decodeAndCheck(t, s, msg, false)
	})
}

// FuzzRoundTrip is the differential target: decode, encode, decode again.
func FuzzRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg []byte, fourOctetAS, extended bool) {
		decodeAndCheck(t, sessionOf(fourOctetAS, extended), msg, true)
	})
}

// FuzzOpen fuzzes the OPEN body: fixed fields, optional parameters and
// capabilities.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeAndCheck(t, Session{}, withHeader(TypeOpen, body), true)
	})
}

// FuzzUpdate fuzzes the UPDATE body: withdrawn routes, path attributes,
// NLRI.
func FuzzUpdate(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, fourOctetAS bool) {
		decodeAndCheck(t, sessionOf(fourOctetAS, true), withHeader(TypeUpdate, body), true)
	})
}

// FuzzMPReachUnreach fuzzes the value of MP_REACH_NLRI or MP_UNREACH_NLRI in
// an otherwise valid UPDATE.
func FuzzMPReachUnreach(f *testing.F) {
	f.Fuzz(func(t *testing.T, value []byte, unreach bool) {
		if len(value) > 0xffff-64 {
			return
		}
		t4 := AttrMPReachNLRI
		if unreach {
			t4 = AttrMPUnreachNLRI
		}
		attrs := []byte{FlagOptional | FlagExtendedLength, byte(t4), byte(len(value) >> 8), byte(len(value))}
		attrs = append(attrs, value...)
		attrs = append(attrs, flagsWellKnown, byte(AttrOrigin), 1, 0, flagsWellKnown, byte(AttrASPath), 0)
		body := append([]byte{0, 0, byte(len(attrs) >> 8), byte(len(attrs))}, attrs...)
		decodeAndCheck(t, Session{FourOctetAS: true, ExtendedMessage: true}, withHeader(TypeUpdate, body), true)
	})
}

// FuzzNotification fuzzes the NOTIFICATION body and its data helpers.
func FuzzNotification(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeAndCheck(t, Session{}, withHeader(TypeNotification, body), true)
	})
}

// withHeader prefixes body with a valid header for its length, or returns
// the body as-is when it cannot fit one (the decoder must reject it).
func withHeader(typ MessageType, body []byte) []byte {
	n := HeaderLen + len(body)
	if n > 0xffff {
		return body
	}
	h := appendHeader(make([]byte, 0, n), typ)
	h[16], h[17] = byte(n>>8), byte(n)
	return append(h, body...)
}

// seedFile writes one corpus entry in the `go test fuzz v1` format.
func seedFile(t *testing.T, target, name string, values ...any) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	text := "go test fuzz v1\n"
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			text += "[]byte(" + strconv.Quote(string(v)) + ")\n"
		case bool:
			text += fmt.Sprintf("bool(%v)\n", v)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-fuzz-seeds to regenerate the seed corpora")
	}
	var msgs [][]byte
	var sessions []Session
	for _, v := range vectors(t) {
		msgs, sessions = append(msgs, v.bytes), append(sessions, v.s)
	}
	for _, r := range roundTrips() {
		b, err := AppendMessage(nil, r.s, &r.m)
		if err != nil {
			t.Fatal(err)
		}
		msgs, sessions = append(msgs, b), append(sessions, r.s)
	}
	captures, _ := filepath.Glob("testdata/captures/*.bin")
	for _, f := range captures {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs, sessions = append(msgs, b), append(sessions, Session{FourOctetAS: true})
	}
	for i, m := range msgs {
		s := sessions[i]
		name := fmt.Sprintf("%02d", i)
		seedFile(t, "FuzzMessage", name, m, s.FourOctetAS, s.ExtendedMessage)
		seedFile(t, "FuzzRoundTrip", name, m, s.FourOctetAS, s.ExtendedMessage)
		body := m[HeaderLen:]
		switch MessageType(m[18]) {
		case TypeOpen:
			seedFile(t, "FuzzOpen", name, body)
		case TypeUpdate:
			seedFile(t, "FuzzUpdate", name, body, s.FourOctetAS)
			var u Update
			if err := u.Decode(m, s); err == nil && (u.HasMPReach || u.HasMPUnreach) {
				for _, mp := range mpValues(body) {
					seedFile(t, "FuzzMPReachUnreach", fmt.Sprintf("%s-%d", name, mp.t), mp.v, mp.t == AttrMPUnreachNLRI)
				}
			}
		case TypeNotification:
			seedFile(t, "FuzzNotification", name, body)
		}
	}
}

// mpValues extracts the MP attribute values of a valid UPDATE body.
func mpValues(body []byte) (out []struct {
	t AttrType
	v []byte
}) {
	wlen := int(body[0])<<8 | int(body[1])
	b := body[2+wlen:]
	attrs := b[2 : 2+(int(b[0])<<8|int(b[1]))]
	for len(attrs) > 0 {
		hl, l := 3, int(attrs[2])
		if attrs[0]&FlagExtendedLength != 0 {
			hl, l = 4, int(attrs[2])<<8|int(attrs[3])
		}
		if t := AttrType(attrs[1]); t == AttrMPReachNLRI || t == AttrMPUnreachNLRI {
			out = append(out, struct {
				t AttrType
				v []byte
			}{t, attrs[hl : hl+l]})
		}
		attrs = attrs[hl+l:]
	}
	return out
}
