package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Backend is an HTTP server inside a node namespace that answers every
// request with the node's name and a newline.
type Backend struct {
	Node string
	Addr netip.AddrPort
	srv  *http.Server
	done chan struct{}
}

// Close stops the server.
func (b *Backend) Close() error {
	err := b.srv.Close()
	<-b.done
	return err
}

// BackendHandler answers every request with name and a newline; it is what
// StartBackend serves, exported for a re-exec'd helper process.
func BackendHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, name+"\n")
	})
}

// BindServiceIP adds ip as a host address (/32 or /128) on the node's lo,
// as kube-proxy would. Binding an address twice is not an error.
func (l *Lab) BindServiceIP(ctx context.Context, node string, ip netip.Addr) error {
	h, err := l.Host(node)
	if err != nil {
		return err
	}
	argv := []string{"ip", "-n", h.NS, "addr", "replace", netip.PrefixFrom(ip, ip.BitLen()).String(), "dev", "lo"}
	if ip.Is6() {
		// lo predates the namespace's accept_dad=0: without nodad the
		// address is briefly tentative and bind fails.
		argv = append(argv, "nodad")
	}
	_, err = runCmd(ctx, argv...)
	return err
}

// UnbindServiceIP removes ip from the node's lo.
func (l *Lab) UnbindServiceIP(ctx context.Context, node string, ip netip.Addr) error {
	h, err := l.Host(node)
	if err != nil {
		return err
	}
	_, err = runCmd(ctx, "ip", "-n", h.NS, "addr", "del", netip.PrefixFrom(ip, ip.BitLen()).String(), "dev", "lo")
	return err
}

// StartBackend binds addr's IP on node's lo (unless it is already one of
// the node's addresses) and serves BackendHandler(node name) on addr from
// inside the node's namespace. The backend stops on Close or with the lab.
func (l *Lab) StartBackend(ctx context.Context, node string, addr netip.AddrPort) (*Backend, error) {
	h, err := l.Host(node)
	if err != nil {
		return nil, err
	}
	if ip := addr.Addr(); ip != h.LAN4 && ip != h.LAN6 && !ip.IsUnspecified() {
		if err := l.BindServiceIP(ctx, node, ip); err != nil {
			return nil, fmt.Errorf("netlab: backend on %s: %w", node, err)
		}
	}
	var ln net.Listener
	err = RunInNamespace(h.NS, func() error {
		var lerr error
		ln, lerr = (&net.ListenConfig{}).Listen(ctx, "tcp", addr.String())
		return lerr
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: backend listen on %s in %s: %w", addr, h.NS, err)
	}
	b := &Backend{Node: h.Name, Addr: addr, done: make(chan struct{}),
		srv: &http.Server{Handler: BackendHandler(h.Name), ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		defer close(b.done)
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.log.Warn("backend stopped", "node", h.Name, "addr", addr, "err", err)
		}
	}()
	l.onClose(func() error {
		if err := b.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	return b, nil
}

// DialContext dials from inside namespace ns: the socket is created there,
// so routing, source address and neighbour resolution are the namespace's.
func DialContext(ctx context.Context, ns, network, address string) (net.Conn, error) {
	var c net.Conn
	err := RunInNamespace(ns, func() error {
		var derr error
		c, derr = (&net.Dialer{}).DialContext(ctx, network, address)
		return derr
	})
	return c, err
}

// HTTPClient returns a client whose connections are made from inside
// namespace ns (no keep-alive, no proxy).
func HTTPClient(ns string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return DialContext(ctx, ns, network, addr)
			},
		},
	}
}

// HTTPGetFromClient performs GET url from the client namespace and returns
// the body with surrounding space trimmed (a backend's node name). A non-200
// status is an error.
func (l *Lab) HTTPGetFromClient(ctx context.Context, url string) (string, error) {
	return l.HTTPGet(ctx, l.Client.NS, url)
}

// HTTPGet performs GET url from inside namespace ns.
func (l *Lab) HTTPGet(ctx context.Context, ns, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := HTTPClient(ns, 5*time.Second).Do(req)
	if err != nil {
		return "", fmt.Errorf("netlab: GET %s from %s: %w", url, ns, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("netlab: GET %s from %s: read body: %w", url, ns, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("netlab: GET %s from %s: %s: %s", url, ns, resp.Status, strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(string(body)), nil
}

// ServiceURL formats http://ip:port/ with brackets for IPv6.
func ServiceURL(addr netip.AddrPort) string {
	return "http://" + addr.String() + "/"
}

// ServeBackend serves BackendHandler(name) on addr until ctx ends. It is
// the body of a backend helper process started with StartProcess inside a
// node namespace (after BindServiceIP), for labs that outlive the command
// that built them.
func ServeBackend(ctx context.Context, name string, addr netip.AddrPort) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr.String())
	if err != nil {
		return fmt.Errorf("netlab: backend %s listen on %s: %w", name, addr, err)
	}
	srv := &http.Server{Handler: BackendHandler(name), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
