package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ServiceAccountTokenTTL is the lifetime of tokens minted by KubeconfigFor.
const ServiceAccountTokenTTL = 24 * 3600

// KubeconfigFor makes sure the namespace and the ServiceAccount exist, mints
// a token for it with the TokenRequest API and writes a kubeconfig that uses
// it (default namespace: the ServiceAccount's). It returns the kubeconfig's
// path. The account has only the rights RBAC gives it, e.g. the Helm chart's
// Roles and ClusterRoles once applied. Calling it again mints a new token
// into a new file of the same name.
func (c *ControlPlane) KubeconfigFor(ctx context.Context, namespace, name string) (string, error) {
	token, err := c.ServiceAccountToken(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.dir, "kubeconfigs", fmt.Sprintf("sa-%s-%s.kubeconfig", namespace, name))
	user := fmt.Sprintf("system:serviceaccount:%s:%s", namespace, name)
	if err := c.writeKubeconfig(path, user, token, namespace); err != nil {
		return "", err
	}
	return path, nil
}

// RESTConfigFor is KubeconfigFor as an in-process client configuration.
func (c *ControlPlane) RESTConfigFor(ctx context.Context, namespace, name string) (*rest.Config, error) {
	token, err := c.ServiceAccountToken(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return c.restConfig(token), nil
}

// ServiceAccountToken creates the namespace and ServiceAccount if missing
// and returns a freshly minted token (TokenRequest API) for it.
func (c *ControlPlane) ServiceAccountToken(ctx context.Context, namespace, name string) (string, error) {
	cs, err := c.AdminClient()
	if err != nil {
		return "", err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("kube: create namespace %s: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("kube: create ServiceAccount %s/%s: %w", namespace, name, err)
	}
	ttl := int64(ServiceAccountTokenTTL)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}
	tr, err = cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("kube: TokenRequest for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

func (c *ControlPlane) writeKubeconfig(path, user, token, namespace string) error {
	return c.writeKubeconfigServer(path, c.Host(), user, token, namespace)
}

func (c *ControlPlane) writeKubeconfigServer(path, server, user, token, namespace string) error {
	const cluster = "herald-testbed"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: user, Namespace: namespace}
	cfg.CurrentContext = cluster
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("kube: kubeconfig dir: %w", err)
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kube: encode kubeconfig %s: %w", path, err)
	}
	if err := replaceFile(path, data, 0o600); err != nil {
		return fmt.Errorf("kube: write kubeconfig %s: %w", path, err)
	}
	return nil
}

// replaceFile gives path its new content in one step: a process that
// opens path meanwhile reads the old file or the new one, never a
// truncated one. A kubeconfig is rewritten at the same path for every
// process that runs as its ServiceAccount, and those processes start
// while the next one's kubeconfig is written: written in place, a
// speaker once read it empty and exited ("no configuration has been
// provided").
func replaceFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func applyOptions() metav1.PatchOptions {
	force := true
	return metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
}
