package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// trustGrace is how long a new CA sits in the injected bundle before a
// certificate it signed is stored and served.
const trustGrace = time.Second

// rotator keeps the serving certificate in the Secret current and the CA
// bundle injected, and holds the pair the TLS listener serves. Both
// replicas run one; they agree through the Secret's resourceVersion: a
// replica that loses a write race re-reads and adopts the winner's
// material instead of fighting over it.
type rotator struct {
	kube       kubernetes.Interface
	namespace  string
	secretName string
	vwcName    string
	spec       CertSpec
	clock      clock.Clock
	log        *slog.Logger

	current atomic.Pointer[tls.Certificate]
	// serving is the PEM of the pair in current, so an unchanged Secret
	// is not parsed again. Only sync touches it.
	serving []byte
}

// getCertificate is tls.Config.GetCertificate: each handshake takes the
// latest pair, so a renewed certificate is served without a restart.
func (r *rotator) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := r.current.Load()
	if c == nil {
		return nil, errors.New("webhook: no serving certificate yet")
	}
	return c, nil
}

// sync makes one pass: read the Secret, renew if Decide says so, inject
// the bundle, load the pair. A lost write race is retried once at once
// with the winner's Secret.
func (r *rotator) sync(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := r.syncOnce(ctx)
		if attempt == 0 && (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) {
			r.log.Info("another replica renewed the webhook certificate first; adopting it")
			continue
		}
		return err
	}
}

func (r *rotator) syncOnce(ctx context.Context) error {
	secrets := r.kube.CoreV1().Secrets(r.namespace)
	sec, err := secrets.Get(ctx, r.secretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sec = nil
	case err != nil:
		return fmt.Errorf("reading Secret %s/%s: %w", r.namespace, r.secretName, err)
	}
	var b *Bundle
	if sec != nil {
		if b, err = ParseBundle(sec.Data); err != nil {
			r.log.Warn("webhook certificate Secret unreadable; replacing it", "secret", r.secretName, "err", err)
			b = nil
		}
	}
	now := r.clock.Now()
	if d := Decide(now, b, r.spec); d.Action != Keep {
		nb, err := Renew(now, b, d.Action, r.spec)
		if err != nil {
			return err
		}
		// Trust before use: the API server must trust the new CA before
		// any replica serves a certificate it signed. The old CAs stay in
		// the bundle, so replicas still serving the old pair keep working.
		if err := r.inject(ctx, nb.Trust); err != nil {
			return err
		}
		if d.Action == RenewCA && b != nil {
			// The API server learns the new bundle through its own watch;
			// give it a moment before anything signed by the new CA is
			// served. Only this goroutine waits; reviews keep being served
			// with the old pair meanwhile.
			r.clock.Sleep(trustGrace)
		}
		if err := r.store(ctx, sec, nb); err != nil {
			return err
		}
		r.log.Info("renewed webhook certificate", "action", d.Action.String(), "reason", d.Reason,
			"notAfter", nb.Cert.NotAfter)
		b = nb
	} else if err := r.inject(ctx, b.Trust); err != nil {
		// Re-injecting every pass repairs a configuration that was
		// re-created (helm upgrade) with an empty caBundle.
		return err
	}
	return r.load(b)
}

func (r *rotator) store(ctx context.Context, old *corev1.Secret, b *Bundle) error {
	data, err := b.SecretData()
	if err != nil {
		return err
	}
	secrets := r.kube.CoreV1().Secrets(r.namespace)
	if old == nil {
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: r.secretName, Namespace: r.namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "herald"}},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}, metav1.CreateOptions{})
		return err
	}
	upd := old.DeepCopy()
	upd.Data = data
	if upd.Type != corev1.SecretTypeTLS {
		// The type is immutable; a Secret of another type is replaced.
		if err := secrets.Delete(ctx, old.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{ResourceVersion: &old.ResourceVersion}}); err != nil {
			return err
		}
		return r.store(ctx, nil, b)
	}
	_, err = secrets.Update(ctx, upd, metav1.UpdateOptions{})
	return err
}

func (r *rotator) inject(ctx context.Context, trust []byte) error {
	if r.vwcName == "" {
		return nil
	}
	changed, err := InjectCABundle(ctx, r.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations(), r.vwcName, trust)
	if apierrors.IsNotFound(err) {
		// Not installed yet (or being reinstalled): serving still works
		// for whoever trusts the Secret's CA; the next pass injects.
		r.log.Warn("ValidatingWebhookConfiguration not found; caBundle not injected", "name", r.vwcName)
		return nil
	}
	if err != nil {
		return err
	}
	if changed {
		r.log.Info("injected caBundle", "configuration", r.vwcName)
	}
	return nil
}

func (r *rotator) load(b *Bundle) error {
	if bytes.Equal(b.CertPEM, r.serving) && r.current.Load() != nil {
		return nil
	}
	pair, err := b.TLSCertificate()
	if err != nil {
		return fmt.Errorf("loading serving certificate: %w", err)
	}
	r.current.Store(pair)
	r.serving = bytes.Clone(b.CertPEM)
	r.log.Info("serving webhook certificate", "notAfter", pair.Leaf.NotAfter, "dnsNames", pair.Leaf.DNSNames)
	return nil
}
