package webhook

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

var spec = CertSpec{
	DNSNames:     []string{"herald-webhook.metallb-system.svc"},
	IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	CAValidity:   300 * 24 * time.Hour,
	CertValidity: 30 * 24 * time.Hour,
}

func mustRenew(t *testing.T, now time.Time, old *Bundle, a Action, s CertSpec) *Bundle {
	t.Helper()
	b, err := Renew(now, old, a, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecide(t *testing.T) {
	fresh := mustRenew(t, t0, nil, RenewCA, spec)
	otherCA := mustRenew(t, t0, nil, RenewCA, spec)
	foreign := *fresh
	foreign.Cert = otherCA.Cert // signed by another CA
	noCert := *fresh
	noCert.Cert = nil
	short := mustRenew(t, t0, fresh, RenewCert, CertSpec{DNSNames: spec.DNSNames, IPAddresses: spec.IPAddresses,
		CertValidity: 10 * time.Second})
	narrow := mustRenew(t, t0, fresh, RenewCert, CertSpec{DNSNames: []string{"other"}, CertValidity: spec.CertValidity})

	// The cert lives 30 days from t0 with NotBefore backdated by
	// clockSkew; renewal is due at two thirds of NotBefore..NotAfter.
	certLife := 30*24*time.Hour + clockSkew
	certDue := t0.Add(-clockSkew).Add(time.Duration(float64(certLife) * renewAt))
	caLife := 300*24*time.Hour + clockSkew
	caDue := t0.Add(-clockSkew).Add(time.Duration(float64(caLife) * renewAt))

	tests := []struct {
		name string
		now  time.Time
		b    *Bundle
		want Action
	}{
		{"nothing stored", t0, nil, RenewCA},
		{"fresh", t0, fresh, Keep},
		{"just before the serving cert is due", certDue.Add(-time.Second), fresh, Keep},
		{"serving cert due", certDue, fresh, RenewCert},
		{"serving cert expired", t0.Add(31 * 24 * time.Hour), fresh, RenewCert},
		{"clock before NotBefore", t0.Add(-2 * clockSkew), fresh, RenewCA},
		{"short-lived: fresh", t0, short, Keep},
		{"short-lived: due", t0.Add(7 * time.Second), short, RenewCert},
		{"CA due", caDue, fresh, RenewCA},
		{"just before the CA is due", caDue.Add(-time.Second), &Bundle{CA: fresh.CA, CAKey: fresh.CAKey,
			Cert: mustRenew(t, caDue.Add(-time.Hour), fresh, RenewCert, spec).Cert}, Keep},
		{"serving cert from another CA", t0, &foreign, RenewCert},
		{"no serving cert", t0, &noCert, RenewCert},
		{"serving cert lacks a name", t0, narrow, RenewCert},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.now, tc.b, spec); got.Action != tc.want {
				t.Errorf("Decide = %v (%s), want %v", got.Action, got.Reason, tc.want)
			}
		})
	}
}

func TestRenewCAKeepsOldCATrusted(t *testing.T) {
	first := mustRenew(t, t0, nil, RenewCA, spec)
	later := t0.Add(250 * 24 * time.Hour)
	// The replica still serves a certificate from the first CA, renewed
	// shortly before the CA rotation.
	oldServing := mustRenew(t, later.Add(-time.Hour), first, RenewCert, spec)
	second := mustRenew(t, later, oldServing, RenewCA, spec)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(second.Trust) {
		t.Fatal("trust bundle unreadable")
	}
	for name, c := range map[string]*x509.Certificate{"old": oldServing.Cert, "new": second.Cert} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: later, DNSName: spec.DNSNames[0]}); err != nil {
			t.Errorf("%s serving cert not trusted by the new bundle: %v", name, err)
		}
	}
	// Once the first CA has expired it leaves the bundle.
	third := mustRenew(t, t0.Add(400*24*time.Hour), second, RenewCert, spec)
	if got := len(certsIn(third.Trust)); got != 1 {
		t.Errorf("bundle after the first CA expired has %d certificates, want 1", got)
	}
	if second.Cert.NotAfter.After(second.CA.NotAfter) {
		t.Error("serving certificate outlives its CA")
	}
}

func TestBundleSecretRoundTrip(t *testing.T) {
	b := mustRenew(t, t0, nil, RenewCA, spec)
	data, err := b.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CA.Equal(b.CA) || !got.Cert.Equal(b.Cert) {
		t.Fatal("round trip changed the certificates")
	}
	if d := Decide(t0, got, spec); d.Action != Keep {
		t.Errorf("Decide after round trip = %v (%s)", d.Action, d.Reason)
	}
	if _, err := got.TLSCertificate(); err != nil {
		t.Error(err)
	}

	other := mustRenew(t, t0, nil, RenewCA, spec)
	mixed := map[string][]byte{SecretCACert: data[SecretCACert], SecretCAKey: mustData(t, other)[SecretCAKey]}
	if _, err := ParseBundle(mixed); err == nil {
		t.Error("CA key of another CA accepted")
	}
	if _, err := ParseBundle(map[string][]byte{}); err == nil {
		t.Error("empty Secret accepted")
	}
}

func mustData(t *testing.T, b *Bundle) map[string][]byte {
	t.Helper()
	d, err := b.SecretData()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func certsIn(bundle []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for rest := bundle; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}
