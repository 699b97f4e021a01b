package bfd

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// roundTrips are packets of every shape: each state, every flag Herald may
// receive, every authentication type.
func roundTrips() []struct {
	name string
	p    Packet
} {
	base := Packet{Diag: DiagControlDetectionTimeExpired, State: Up, DetectMult: 3, MyDiscr: 0x01020304, YourDiscr: 0xfffffffe,
		DesiredMinTx: 300_000, RequiredMinRx: 200_000, RequiredMinEchoRx: 50_000}
	with := func(f func(*Packet)) Packet {
		p := base
		f(&p)
		return p
	}
	return []struct {
		name string
		p    Packet
	}{
		{"up", base},
		{"down-your-zero", with(func(p *Packet) { p.State, p.YourDiscr = Down, 0 })},
		{"admindown-your-zero", with(func(p *Packet) { p.State, p.YourDiscr, p.Diag = AdminDown, 0, DiagAdministrativelyDown })},
		{"init", with(func(p *Packet) { p.State = Init })},
		{"poll", with(func(p *Packet) { p.Poll = true })},
		{"final", with(func(p *Packet) { p.Final = true })},
		{"poll-and-final", with(func(p *Packet) { p.Poll, p.Final = true, true })},
		{"cpi-demand", with(func(p *Packet) { p.ControlPlaneIndependent, p.Demand = true, true })},
		{"max-fields", with(func(p *Packet) {
			p.Diag, p.DetectMult = 31, 255
			p.DesiredMinTx, p.RequiredMinRx, p.RequiredMinEchoRx = ^uint32(0), ^uint32(0), ^uint32(0)
		})},
		{"zero-rx", with(func(p *Packet) { p.RequiredMinRx, p.RequiredMinEchoRx = 0, 0 })},
		{"simple-1", with(func(p *Packet) { p.Auth = Auth{Type: AuthSimplePassword, KeyID: 1, Data: []byte("x")} })},
		{"simple-16", with(func(p *Packet) {
			p.Auth = Auth{Type: AuthSimplePassword, KeyID: 255, Data: []byte("0123456789abcdef")}
		})},
		{"md5", with(func(p *Packet) { p.Auth = Auth{Type: AuthKeyedMD5, KeyID: 2, Seq: 1, Data: []byte("k")} })},
		{"meticulous-md5", with(func(p *Packet) {
			p.Auth = Auth{Type: AuthMeticulousKeyedMD5, KeyID: 3, Seq: ^uint32(0), Data: []byte("0123456789abcdef")}
		})},
		{"sha1", with(func(p *Packet) { p.Auth = Auth{Type: AuthKeyedSHA1, KeyID: 4, Seq: 77, Data: []byte("key")} })},
		{"meticulous-sha1", with(func(p *Packet) {
			p.Auth = Auth{Type: AuthMeticulousKeyedSHA1, KeyID: 5, Seq: 1 << 31, Data: []byte("0123456789abcdefghij")}
		})},
	}
}

// wantLen is the packet length from the RFC's section formats.
func wantLen(a AuthType, secret []byte) int {
	switch a {
	case AuthSimplePassword:
		return 24 + 3 + len(secret)
	case AuthKeyedMD5, AuthMeticulousKeyedMD5:
		return 24 + 24
	case AuthKeyedSHA1, AuthMeticulousKeyedSHA1:
		return 24 + 28
	}
	return 24
}

func TestRoundTrip(t *testing.T) {
	for _, rt := range roundTrips() {
		t.Run(rt.name, func(t *testing.T) {
			b, err := AppendPacket([]byte{0xee}, &rt.p)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != 0xee {
				t.Fatal("AppendPacket overwrote dst")
			}
			b = b[1:]
			if len(b) != wantLen(rt.p.Auth.Type, rt.p.Auth.Data) {
				t.Fatalf("encoded %d bytes, want %d", len(b), wantLen(rt.p.Auth.Type, rt.p.Auth.Data))
			}
			var got Packet
			if err := Decode(b, &got); err != nil {
				t.Fatalf("decode: %v\n% x", err, b)
			}
			if int(got.Length) != len(b) {
				t.Errorf("Length %d, want %d", got.Length, len(b))
			}
			want := rt.p
			want.Length = got.Length
			ignore := cmpopts.IgnoreFields(Auth{}, "Data")
			if diff := cmp.Diff(want, got, ignore); diff != "" {
				t.Errorf("decode(encode(p)) differs (-want +got):\n%s", diff)
			}
			switch typ := rt.p.Auth.Type; {
			case typ == AuthSimplePassword:
				if !bytes.Equal(got.Auth.Data, rt.p.Auth.Data) {
					t.Errorf("password %q, want %q", got.Auth.Data, rt.p.Auth.Data)
				}
			case typ.Keyed():
				_, n := typ.sectionLen()
				if len(got.Auth.Data) != n || bytes.Contains(b, rt.p.Auth.Data) && len(rt.p.Auth.Data) > 3 {
					t.Errorf("digest %x: wrong length or the key is on the wire", got.Auth.Data)
				}
			}
			if rt.p.Auth.Type != AuthNone {
				if err := CheckAuth(b, &got, rt.p.Auth.Data); err != nil {
					t.Errorf("CheckAuth with the right secret: %v", err)
				}
				wrong := append([]byte("!"), rt.p.Auth.Data[1:]...)
				if err := CheckAuth(b, &got, wrong); !errors.Is(err, ErrAuthMismatch) {
					t.Errorf("CheckAuth with a wrong secret: %v, want ErrAuthMismatch", err)
				}
			}
		})
	}
}

// Every byte of an authenticated packet is covered: changing any of them
// makes Decode or CheckAuth fail.
func TestAuthCoversEveryByte(t *testing.T) {
	for _, rt := range roundTrips() {
		if !rt.p.Auth.Type.Keyed() {
			continue
		}
		b, _ := AppendPacket(nil, &rt.p)
		for i := range b {
			for _, x := range []byte{0x01, 0x80} {
				c := bytes.Clone(b)
				c[i] ^= x
				var p Packet
				if err := Decode(c, &p); err != nil {
					continue
				}
				if err := CheckAuth(c, &p, rt.p.Auth.Data); err == nil {
					t.Errorf("%s: byte %d ^ %#x still authenticates", rt.name, i, x)
				}
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := func(p Packet) []byte {
		b, err := AppendPacket(nil, &p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	up := Packet{State: Up, DetectMult: 3, MyDiscr: 1, YourDiscr: 2, DesiredMinTx: 1, RequiredMinRx: 1}
	down := up
	down.State, down.YourDiscr = Down, 0
	md5 := up
	md5.Auth = Auth{Type: AuthKeyedMD5, KeyID: 1, Data: []byte("k")}
	simple := up
	simple.Auth = Auth{Type: AuthSimplePassword, KeyID: 1, Data: []byte("pw")}
	patch := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"short-payload", valid(up)[:23], ErrBadLength},
		{"empty", nil, ErrBadLength},
		{"version-0", patch(valid(up), func(b []byte) []byte { b[0] &= 0x1f; return b }), ErrBadVersion},
		{"version-2", patch(valid(up), func(b []byte) []byte { b[0] = 2<<5 | b[0]&0x1f; return b }), ErrBadVersion},
		{"length-23", patch(valid(up), func(b []byte) []byte { b[3] = 23; return b }), ErrBadLength},
		{"length-past-payload", patch(valid(up), func(b []byte) []byte { b[3] = 25; return b }), ErrBadLength},
		{"auth-bit-length-24", patch(valid(up), func(b []byte) []byte { b[1] |= flagAuth; return b }), ErrBadLength},
		{"auth-bit-length-25", patch(valid(up), func(b []byte) []byte { b[1] |= flagAuth; b[3] = 25; return append(b, 0) }), ErrBadLength},
		{"detect-mult-0", patch(valid(up), func(b []byte) []byte { b[2] = 0; return b }), ErrZeroDetectMult},
		{"multipoint", patch(valid(up), func(b []byte) []byte { b[1] |= flagMultipoint; return b }), ErrMultipoint},
		{"my-discr-0", patch(valid(up), func(b []byte) []byte { clear(b[4:8]); return b }), ErrZeroMyDiscriminator},
		{"your-discr-0-up", patch(valid(up), func(b []byte) []byte { clear(b[8:12]); return b }), ErrZeroYourDiscriminator},
		{"your-discr-0-init", patch(valid(up), func(b []byte) []byte { clear(b[8:12]); b[1] = byte(Init) << 6; return b }), ErrZeroYourDiscriminator},
		{"auth-len-1", patch(valid(md5), func(b []byte) []byte { b[25] = 1; return b }), ErrAuthLength},
		{"auth-len-past-length", patch(valid(md5), func(b []byte) []byte { b[25] = 25; return b }), ErrAuthLength},
		{"md5-len-28", patch(valid(md5), func(b []byte) []byte { b[3], b[25] = 52, 28; return append(b, 0, 0, 0, 0) }), ErrAuthLength},
		{"sha1-len-24", patch(valid(md5), func(b []byte) []byte { b[24] = byte(AuthKeyedSHA1); return b }), ErrAuthLength},
		{"simple-empty-password", patch(valid(simple), func(b []byte) []byte { b[3], b[25] = 27, 3; return b[:27] }), ErrAuthLength},
		{"simple-17-byte-password", append(patch(valid(simple), func(b []byte) []byte { b[3], b[25] = 24+20, 20; return b }), make([]byte, 15)...), ErrAuthLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			err := Decode(c.b, &p)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode = %v, want %v", err, c.want)
			}
			var counts DropCounts
			if r := counts.Add(err); r.Err() != c.want || counts.Of(r) != 1 || counts.Total() != 1 {
				t.Errorf("counted as %s (%d of %d)", r, counts.Of(r), counts.Total())
			}
		})
	}
	accepted := []struct {
		name string
		b    []byte
	}{
		{"your-discr-0-down", valid(down)},
		{"your-discr-0-admindown", patch(valid(down), func(b []byte) []byte { b[1] = 0; return b })},
		{"bytes-after-length", append(valid(up), 1, 2, 3)},
		{"length-beyond-24-without-auth", patch(append(valid(up), 9, 9), func(b []byte) []byte { b[3] = 26; return b })},
		{"reserved-auth-type", patch(valid(md5), func(b []byte) []byte { b[24] = 200; return b })},
	}
	for _, c := range accepted {
		var p Packet
		if err := Decode(c.b, &p); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestDecodeReservedAuthTypeIsATypeMismatch(t *testing.T) {
	p := Packet{State: Down, DetectMult: 3, MyDiscr: 1, Auth: Auth{Type: AuthKeyedMD5, Data: []byte("k")}}
	b, _ := AppendPacket(nil, &p)
	b[24] = 9
	var got Packet
	if err := Decode(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Auth.Type != 9 || len(got.Auth.Data) != 22 {
		t.Fatalf("reserved type decoded as %d with %d bytes", got.Auth.Type, len(got.Auth.Data))
	}
	if err := CheckAuth(b, &got, []byte("k")); !errors.Is(err, ErrAuthType) {
		t.Errorf("CheckAuth = %v, want ErrAuthType", err)
	}
	cfg := baseConfig()
	cfg.Auth = AuthConfig{Type: AuthKeyedMD5, Secret: []byte("k")}
	m, _ := New(cfg)
	m.Step(Event{Kind: Enable})
	m.Step(Event{Kind: Received, Packet: &got, Raw: b})
	if c := m.Counters(); c.Drops.Of(DropAuthType) != 1 || c.AuthFailures != 1 {
		t.Errorf("drops %v, auth failures %d", c.Drops, c.AuthFailures)
	}
}

func TestAppendRejects(t *testing.T) {
	cases := []struct {
		name string
		p    Packet
		want error
	}{
		{"state", Packet{State: 4}, errOutOfRange},
		{"diag", Packet{Diag: 32}, errOutOfRange},
		{"password-empty", Packet{Auth: Auth{Type: AuthSimplePassword}}, ErrAuthLength},
		{"password-17", Packet{Auth: Auth{Type: AuthSimplePassword, Data: make([]byte, 17)}}, ErrAuthLength},
		{"md5-key-17", Packet{Auth: Auth{Type: AuthKeyedMD5, Data: make([]byte, 17)}}, ErrAuthLength},
		{"sha1-key-21", Packet{Auth: Auth{Type: AuthMeticulousKeyedSHA1, Data: make([]byte, 21)}}, ErrAuthLength},
		{"reserved-type", Packet{Auth: Auth{Type: 6, Data: []byte("k")}}, ErrAuthType},
	}
	for _, c := range cases {
		dst := []byte("keep")
		got, err := AppendPacket(dst, &c.p)
		if !errors.Is(err, c.want) || string(got) != "keep" {
			t.Errorf("%s: %q, %v; want dst unchanged and %v", c.name, got, err, c.want)
		}
	}
}

func TestCodecDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, MaxPacketLen)
	var p Packet
	for _, rt := range roundTrips() {
		b, _ := AppendPacket(nil, &rt.p)
		allocs := testing.AllocsPerRun(100, func() {
			buf, _ = AppendPacket(buf[:0], &rt.p)
			if err := Decode(buf, &p); err != nil {
				t.Fatal(err)
			}
			if rt.p.Auth.Type != AuthNone {
				if err := CheckAuth(b, &p, rt.p.Auth.Data); err != nil {
					t.Fatal(err)
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per encode, decode and check", rt.name, allocs)
		}
	}
}

func TestCheckAuthNeedsTheDecodedBytes(t *testing.T) {
	p := Packet{State: Down, DetectMult: 3, MyDiscr: 1, Auth: Auth{Type: AuthKeyedSHA1, Data: []byte("k")}}
	b, _ := AppendPacket(nil, &p)
	var got Packet
	if err := Decode(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := CheckAuth(b[:30], &got, []byte("k")); !errors.Is(err, ErrAuthLength) {
		t.Errorf("truncated raw: %v, want ErrAuthLength", err)
	}
	if err := CheckAuth(b, &got, make([]byte, 21)); !errors.Is(err, ErrAuthLength) {
		t.Errorf("over-long secret: %v, want ErrAuthLength", err)
	}
}

func BenchmarkDecode(b *testing.B) {
	p := Packet{State: Up, DetectMult: 3, MyDiscr: 1, YourDiscr: 2, DesiredMinTx: 100_000, RequiredMinRx: 100_000}
	raw, _ := AppendPacket(nil, &p)
	var got Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(raw, &got); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendMeticulousSHA1(b *testing.B) {
	p := Packet{State: Up, DetectMult: 3, MyDiscr: 1, YourDiscr: 2, DesiredMinTx: 100_000, RequiredMinRx: 100_000,
		Auth: Auth{Type: AuthMeticulousKeyedSHA1, KeyID: 1, Data: []byte("secret")}}
	buf := make([]byte, 0, MaxPacketLen)
	b.ReportAllocs()
	for b.Loop() {
		p.Auth.Seq++
		buf, _ = AppendPacket(buf[:0], &p)
	}
}
