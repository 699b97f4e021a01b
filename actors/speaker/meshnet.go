package speaker

import (
	"errors"
	"net"
	"net/netip"
)

// UDPMeshNet is the mesh's transport on the kernel's UDP sockets: one
// socket on port (every address, or only bind when it is valid) and a
// reader goroutine that hands each datagram to deliver.
func UDPMeshNet(bind netip.Addr) MeshNet {
	return func(port uint16, deliver func(from netip.AddrPort, b []byte)) (meshTransport, error) {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, port)))
		if err != nil {
			return nil, err
		}
		t := &udpMesh{conn: conn, done: make(chan struct{})}
		go t.read(deliver)
		return t, nil
	}
}

type udpMesh struct {
	conn *net.UDPConn
	done chan struct{}
}

func (t *udpMesh) read(deliver func(netip.AddrPort, []byte)) {
	defer close(t.done)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := t.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		// deliver decodes before it returns: buf is reused.
		deliver(from, buf[:n])
	}
}

func (t *udpMesh) Send(to netip.AddrPort, b []byte) error {
	_, err := t.conn.WriteToUDPAddrPort(b, to)
	return err
}

func (t *udpMesh) Close() error {
	err := t.conn.Close()
	<-t.done
	return err
}
