package webhook

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Keys of the certificate Secret. tls.crt and tls.key make it a valid
// kubernetes.io/tls Secret; ca.crt is the trust bundle injected as caBundle;
// ca.key lets whichever replica renews the serving certificate sign it.
const (
	SecretCACert  = "ca.crt"
	SecretCAKey   = "ca.key"
	SecretTLSCert = "tls.crt"
	SecretTLSKey  = "tls.key"
)

// Default lifetimes. A long-lived CA keeps caBundle stable; the serving
// certificate is short enough that a leaked key is useful for a while only.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// renewAt is the fraction of a certificate's lifetime after which it is
// replaced: a third of its life is left, enough for a controller that was
// down for a while to still renew it in time.
const renewAt = 2.0 / 3.0

// clockSkew backdates NotBefore so an API server whose clock is a little
// behind still accepts a certificate minted just now.
const clockSkew = time.Hour

// backdate is clockSkew, or a tenth of a short validity: Decide measures a
// certificate's life from NotBefore, and a full hour on a lifetime of
// seconds (tests, labs) would make it due the moment it is made.
func backdate(validity time.Duration) time.Duration {
	return min(clockSkew, validity/10)
}

// CertSpec is what the serving certificate must be valid for.
type CertSpec struct {
	DNSNames     []string
	IPAddresses  []net.IP
	CAValidity   time.Duration
	CertValidity time.Duration
}

// Bundle is the key material kept in the Secret.
type Bundle struct {
	CA    *x509.Certificate
	CAKey crypto.Signer
	// Trust is the PEM bundle the API server must trust: the current CA
	// first, then earlier CAs that have not expired, so a replica still
	// serving a certificate from the previous CA is trusted until it
	// reloads.
	Trust   []byte
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// Action is what Decide asks for.
type Action int

const (
	// Keep the current material.
	Keep Action = iota
	// RenewCert issues a new serving certificate from the current CA.
	RenewCert
	// RenewCA creates a new CA (the old one stays in Trust until it
	// expires) and a serving certificate from it.
	RenewCA
)

func (a Action) String() string {
	switch a {
	case Keep:
		return "keep"
	case RenewCert:
		return "renew-cert"
	case RenewCA:
		return "renew-ca"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Decision is Decide's answer and why.
type Decision struct {
	Action Action
	Reason string
}

// Decide says whether the material in b (nil when there is none or it is
// unreadable) must be renewed at now. It is pure: the caller passes the
// clock's time.
func Decide(now time.Time, b *Bundle, spec CertSpec) Decision {
	if b == nil || b.CA == nil || b.CAKey == nil {
		return Decision{RenewCA, "no CA"}
	}
	if due(now, b.CA) {
		return Decision{RenewCA, fmt.Sprintf("CA %s expires %s", b.CA.Subject.CommonName, b.CA.NotAfter.UTC().Format(time.RFC3339))}
	}
	if b.Cert == nil {
		return Decision{RenewCert, "no serving certificate"}
	}
	if err := b.Cert.CheckSignatureFrom(b.CA); err != nil {
		return Decision{RenewCert, "serving certificate not signed by the current CA"}
	}
	if missing := uncovered(b.Cert, spec); missing != "" {
		return Decision{RenewCert, "serving certificate does not cover " + missing}
	}
	if due(now, b.Cert) {
		return Decision{RenewCert, "serving certificate expires " + b.Cert.NotAfter.UTC().Format(time.RFC3339)}
	}
	return Decision{Keep, ""}
}

// due is true once c has lived renewAt of its life, or is not valid at now.
func due(now time.Time, c *x509.Certificate) bool {
	if now.Before(c.NotBefore) || !now.Before(c.NotAfter) {
		return true
	}
	life := c.NotAfter.Sub(c.NotBefore)
	return !now.Before(c.NotBefore.Add(time.Duration(float64(life) * renewAt)))
}

// uncovered names the first DNS name or IP of spec that c lacks.
func uncovered(c *x509.Certificate, spec CertSpec) string {
	for _, n := range spec.DNSNames {
		if !slices.Contains(c.DNSNames, n) {
			return n
		}
	}
	for _, ip := range spec.IPAddresses {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return ip.String()
		}
	}
	return ""
}

// Renew carries out d on old (which may be nil for RenewCA) and returns new
// material; old is not modified.
func Renew(now time.Time, old *Bundle, d Action, spec CertSpec) (*Bundle, error) {
	var nb Bundle
	switch d {
	case RenewCA:
		ca, key, caPEM, err := newCA(now, spec.CAValidity)
		if err != nil {
			return nil, err
		}
		nb.CA, nb.CAKey = ca, key
		nb.Trust = caPEM
		if old != nil {
			nb.Trust = append(nb.Trust, unexpired(now, old.Trust)...)
		}
	case RenewCert:
		if old == nil {
			return nil, errors.New("renewing the serving certificate needs a CA")
		}
		nb.CA, nb.CAKey, nb.Trust = old.CA, old.CAKey, unexpired(now, old.Trust)
	default:
		return old, nil
	}
	cert, certPEM, keyPEM, err := newServing(now, nb.CA, nb.CAKey, spec)
	if err != nil {
		return nil, err
	}
	nb.Cert, nb.CertPEM, nb.KeyPEM = cert, certPEM, keyPEM
	return &nb, nil
}

func newCA(now time.Time, validity time.Duration) (*x509.Certificate, crypto.Signer, []byte, error) {
	if validity <= 0 {
		validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("herald-webhook-ca@%d", now.Unix())},
		NotBefore:             now.Add(-backdate(validity)),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signing CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return ca, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func newServing(now time.Time, ca *x509.Certificate, caKey crypto.Signer, spec CertSpec) (*x509.Certificate, []byte, []byte, error) {
	validity := spec.CertValidity
	if validity <= 0 {
		validity = DefaultCertValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating serving key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, nil, err
	}
	notAfter := now.Add(validity)
	// A certificate outliving its CA would be rejected after the CA
	// expires anyway; capping it makes Decide see the real end.
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	cn := "herald-webhook"
	if len(spec.DNSNames) > 0 {
		cn = spec.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-backdate(validity)),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     slices.Clone(spec.DNSNames),
		IPAddresses:  slices.Clone(spec.IPAddresses),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signing serving certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n, nil
}

// unexpired keeps the certificates of a PEM bundle still valid at now.
func unexpired(now time.Time, bundle []byte) []byte {
	var out bytes.Buffer
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil || !now.Before(c.NotAfter) {
			continue
		}
		_ = pem.Encode(&out, b)
	}
	return out.Bytes()
}

// SecretData encodes b for the Secret.
func (b *Bundle) SecretData() (map[string][]byte, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(b.CAKey)
	if err != nil {
		return nil, fmt.Errorf("encoding CA key: %w", err)
	}
	return map[string][]byte{
		SecretCACert:  b.Trust,
		SecretCAKey:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		SecretTLSCert: b.CertPEM,
		SecretTLSKey:  b.KeyPEM,
	}, nil
}

// ParseBundle reads a Secret's data. The CA is the first certificate of
// ca.crt. A missing or unreadable serving certificate leaves Cert nil (Decide
// then renews it); an unreadable CA is an error (Decide is given nil and
// starts over).
func ParseBundle(data map[string][]byte) (*Bundle, error) {
	b := &Bundle{Trust: data[SecretCACert]}
	block, _ := pem.Decode(b.Trust)
	if block == nil {
		return nil, errors.New("no CA certificate in " + SecretCACert)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CA: %w", err)
	}
	kb, _ := pem.Decode(data[SecretCAKey])
	if kb == nil {
		return nil, errors.New("no CA key in " + SecretCAKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key cannot sign")
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(ca.PublicKey) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	b.CA, b.CAKey = ca, signer
	if pair, err := tls.X509KeyPair(data[SecretTLSCert], data[SecretTLSKey]); err == nil {
		b.Cert = pair.Leaf
		b.CertPEM, b.KeyPEM = data[SecretTLSCert], data[SecretTLSKey]
	}
	return b, nil
}

// TLSCertificate is the serving pair for tls.Config.
func (b *Bundle) TLSCertificate() (*tls.Certificate, error) {
	pair, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
	if err != nil {
		return nil, err
	}
	return &pair, nil
}
