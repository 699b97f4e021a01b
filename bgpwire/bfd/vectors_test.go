package bfd

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/heraldlb/herald/config"
)

// Interop vectors: packets laid out the way BIRD (proto/bfd/packets.c,
// bfd_send_ctl and bfd_fill_authentication) and FRR (bfdd/bfd_packet.c,
// ptm_bfd_snd) build them, read from their sources as of 2026. The bytes
// were assembled field by field and their digests computed with Python's
// hashlib and hmac, not with this package.
var interopVectors = []struct {
	name   string
	hex    string
	want   Packet
	secret string
	// hmacSHA1 marks FRR's keyed SHA1, which is HMAC-SHA1 over the packet
	// with a zeroed hash field: not RFC 5880 §6.7.4.
	hmacSHA1 bool
}{
	{
		// BIRD: Up, Meticulous Keyed SHA1 (type 5), its default multiplier 5,
		// min TX 100 ms, min RX 10 ms, no Echo; CSN 7; the key is copied
		// zero-padded into the hash field and SHA1 taken over the packet.
		name: "bird-up-meticulous-sha1",
		hex:  "20c405341122334455667788000186a00000271000000000051c0100000000070f7c63836d2999ab8289bd4d358f74c71abf79b3",
		want: Packet{State: Up, DetectMult: 5, Length: 52, MyDiscr: 0x11223344, YourDiscr: 0x55667788,
			DesiredMinTx: 100_000, RequiredMinRx: 10_000, Auth: Auth{Type: AuthMeticulousKeyedSHA1, KeyID: 1, Seq: 7}},
		secret: "herald-secret",
	},
	{
		// BIRD: Init at the idle 1 s rate, Keyed MD5 (type 2), key ID 2; the
		// key is longer than 16 bytes and truncated to the field.
		name: "bird-init-keyed-md5",
		hex:  "20840530a1b2c3d401020304000f424000002710000000000218020001020304a426c6c94f77cb98d3e32ca7d2de3aab",
		want: Packet{State: Init, DetectMult: 5, Length: 48, MyDiscr: 0xa1b2c3d4, YourDiscr: 0x01020304,
			DesiredMinTx: 1_000_000, RequiredMinRx: 10_000, Auth: Auth{Type: AuthKeyedMD5, KeyID: 2, Seq: 0x01020304}},
		secret: "herald-secret",
	},
	{
		// FRR: a new session in Down, slow timers (it raises both TX and RX
		// to 1 s while not Up), Echo RX 50 ms advertised, no C bit.
		name: "frr-down-slow",
		hex:  "20400318" + "0000abcd" + "00000000" + "000f4240" + "000f4240" + "0000c350",
		want: Packet{State: Down, DetectMult: 3, Length: 24, MyDiscr: 0xabcd, DesiredMinTx: 1_000_000,
			RequiredMinRx: 1_000_000, RequiredMinEchoRx: 50_000},
	},
	{
		// FRR: Up with P set (ptm_bfd_sess_up polls for its 300 ms timers).
		name: "frr-up-poll",
		hex:  "20e00318" + "0000abcd" + "00001234" + "000493e0" + "000493e0" + "0000c350",
		want: Packet{State: Up, Poll: true, DetectMult: 3, Length: 24, MyDiscr: 0xabcd, YourDiscr: 0x1234,
			DesiredMinTx: 300_000, RequiredMinRx: 300_000, RequiredMinEchoRx: 50_000},
	},
	{
		// FRR: the answer to a Poll, Final set, diag 0.
		name: "frr-up-final",
		hex:  "20d00318" + "0000abcd" + "00001234" + "000493e0" + "000493e0" + "0000c350",
		want: Packet{State: Up, Final: true, DetectMult: 3, Length: 24, MyDiscr: 0xabcd, YourDiscr: 0x1234,
			DesiredMinTx: 300_000, RequiredMinRx: 300_000, RequiredMinEchoRx: 50_000},
	},
	{
		// FRR: Down after a detection timeout (diag 1), remote forgotten.
		name: "frr-down-diag1",
		hex:  "21400318" + "0000abcd" + "00000000" + "000f4240" + "000f4240" + "0000c350",
		want: Packet{Diag: DiagControlDetectionTimeExpired, State: Down, DetectMult: 3, Length: 24, MyDiscr: 0xabcd,
			DesiredMinTx: 1_000_000, RequiredMinRx: 1_000_000, RequiredMinEchoRx: 50_000},
	},
	{
		// FRR's "keyed SHA1" (type 4): HMAC-SHA1 with the key, hash field
		// zeroed. Decodes, but fails RFC 5880's check.
		name: "frr-up-hmac-sha1",
		hex:  "20c403340000abcd00001234000493e0000493e00000c350041c01000000002ae54a452ad7a1c8561136025ab7c0b9f3d5af90a2",
		want: Packet{State: Up, DetectMult: 3, Length: 52, MyDiscr: 0xabcd, YourDiscr: 0x1234, DesiredMinTx: 300_000,
			RequiredMinRx: 300_000, RequiredMinEchoRx: 50_000, Auth: Auth{Type: AuthKeyedSHA1, KeyID: 1, Seq: 42}},
		secret:   "herald-secret",
		hmacSHA1: true,
	},
}

func TestInteropVectors(t *testing.T) {
	for _, v := range interopVectors {
		t.Run(v.name, func(t *testing.T) {
			b, err := hex.DecodeString(v.hex)
			if err != nil {
				t.Fatal(err)
			}
			var got Packet
			if err := Decode(b, &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(v.want, got, cmpopts.IgnoreFields(Auth{}, "Data")); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if v.want.Auth.Type == AuthNone {
				// Without authentication Herald encodes the same bytes.
				again, err := AppendPacket(nil, &got)
				if err != nil || hex.EncodeToString(again) != v.hex {
					t.Errorf("re-encoded %x, %v", again, err)
				}
				return
			}
			// BIRD truncates a key longer than the field; so must the caller.
			_, digest := v.want.Auth.Type.sectionLen()
			secret := []byte(v.secret)[:min(len(v.secret), digest)]
			err = CheckAuth(b, &got, secret)
			if v.hmacSHA1 {
				if !errors.Is(err, ErrAuthMismatch) {
					t.Errorf("CheckAuth of an HMAC packet = %v, want ErrAuthMismatch", err)
				}
				// The vector is a genuine HMAC: the test would not
				// notice a broken vector otherwise.
				zeroed := append([]byte(nil), b...)
				clear(zeroed[32:52])
				mac := hmac.New(sha1.New, []byte(v.secret))
				mac.Write(zeroed)
				if !hmac.Equal(mac.Sum(nil), got.Auth.Data) {
					t.Error("the HMAC vector is not an HMAC-SHA1")
				}
				return
			}
			if err != nil {
				t.Errorf("CheckAuth: %v", err)
			}
			// And Herald encodes the same bytes, digest included.
			enc := got
			enc.Auth.Data = secret
			again, err := AppendPacket(nil, &enc)
			if err != nil || hex.EncodeToString(again) != v.hex {
				t.Errorf("re-encoded\n %x, %v, want\n %s", again, err, v.hex)
			}
		})
	}
}

// Profile mirrors the compiled BFDProfile field for field: this line does
// not compile otherwise.
func TestProfileConvertsFromConfig(t *testing.T) {
	c := config.BFDProfile{Name: "p", ReceiveInterval: 1, TransmitInterval: 2, DetectMultiplier: 3, EchoInterval: 4,
		EchoMode: true, PassiveMode: true, MinimumTTL: 5}
	p := Profile(c)
	if p.Name != "p" || p.ReceiveInterval != 1 || p.TransmitInterval != 2 || p.DetectMultiplier != 3 ||
		p.EchoInterval != 4 || !p.EchoMode || !p.PassiveMode || p.MinimumTTL != 5 {
		t.Errorf("converted %+v", p)
	}
	d := DefaultProfile()
	if d.ReceiveInterval != config.DefaultBFDReceiveInterval || d.TransmitInterval != config.DefaultBFDTransmitInterval ||
		d.DetectMultiplier != config.DefaultBFDDetectMultiplier || d.EchoInterval != config.DefaultBFDEchoInterval ||
		d.MinimumTTL != config.DefaultBFDMinimumTTL {
		t.Errorf("DefaultProfile %+v differs from config's defaults", d)
	}
}
