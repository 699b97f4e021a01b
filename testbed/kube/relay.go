package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"time"
)

// Relay forwards every connection accepted on ln to the API server, byte
// for byte (TLS stays end to end), dialling anew for each connection so it
// survives RestartAPIServer. It is how processes in another network
// namespace reach the API server that listens on this namespace's
// loopback: create ln inside the node's namespace (netlab.RunInNamespace;
// a socket belongs to the namespace it was created in), relay it from
// here, and point a kubeconfig at ln's address with KubeconfigAt. The
// serving certificate is valid for 127.0.0.1, ::1 and localhost, so
// listen on one of those. The returned stop closes ln and every relayed
// connection and waits for the relay's goroutines.
func (c *ControlPlane) Relay(ln net.Listener) (stop func()) {
	return RelayTo(ln, c.APIAddress(), c.opts.Logf)
}

// APIAddress is the API server's host:port.
func (c *ControlPlane) APIAddress() string {
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(c.apiPort))
}

// RelayTo is Relay to any TCP address, for a long-lived relay process
// (e.g. one serving a control plane started with Options.Detach).
func RelayTo(ln net.Listener, target string, logf Logf) (stop func()) {
	return relay(ln, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target)
	}, logf)
}

func relay(ln net.Listener, dial func(context.Context) (net.Conn, error), logf Logf) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			c.Close()
			return false
		}
		conns[c] = struct{}{}
		return true
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					logf.printf("kube: relay on %s: accept: %v", ln.Addr(), err)
				}
				return
			}
			if !track(in) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
				out, err := dial(dctx)
				dcancel()
				if err != nil {
					logf.printf("kube: relay on %s: dial API server: %v", ln.Addr(), err)
					in.Close()
					return
				}
				if !track(out) {
					in.Close()
					return
				}
				pipe(in, out)
				mu.Lock()
				delete(conns, in)
				delete(conns, out)
				mu.Unlock()
			}()
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			ln.Close()
			mu.Lock()
			for c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
}

// pipe copies both ways until either side ends, then closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
	a.Close()
	b.Close()
}

// KubeconfigAt is KubeconfigFor with another server URL, e.g. a Relay's
// https://127.0.0.1:<port> inside a node's namespace. The file is named
// after the account and the server's port.
func (c *ControlPlane) KubeconfigAt(ctx context.Context, namespace, name, server string) (string, error) {
	token, err := c.ServiceAccountToken(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(trimScheme(server))
	if err != nil {
		return "", fmt.Errorf("kube: server %q: want https://host:port: %w", server, err)
	}
	path := filepath.Join(c.dir, "kubeconfigs", fmt.Sprintf("sa-%s-%s-%s.kubeconfig", namespace, name, port))
	user := fmt.Sprintf("system:serviceaccount:%s:%s", namespace, name)
	if err := c.writeKubeconfigServer(path, server, user, token, namespace); err != nil {
		return "", err
	}
	return path, nil
}

func trimScheme(u string) string {
	for _, p := range []string{"https://", "http://"} {
		if len(u) > len(p) && u[:len(p)] == p {
			return u[len(p):]
		}
	}
	return u
}
