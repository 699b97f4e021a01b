package l2

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"
)

// WatchOptions configure interface discovery.
type WatchOptions struct {
	// Filter gives every event its Reason.
	Filter Filter
	// Namespace is the network namespace to watch; nil is the caller's.
	Namespace *netns.NsHandle
	// Clock times the pause before resubscribing; nil is the real clock.
	Clock clock.Clock
	// Resubscribe is that pause (default 1 s).
	Resubscribe time.Duration
	// OnError hears subscription errors (the watcher recovers by itself);
	// nil drops them. It must not block.
	OnError func(error)
}

// Watcher reports link and address changes from netlink as they happen.
type Watcher struct {
	opts    WatchOptions
	onEvent func(Event)
	table   *linkTable
	stop    chan struct{}
	wg      sync.WaitGroup
}

// Watch subscribes to netlink link and address notifications, lists the
// current links and addresses, and calls onEvent for each of them and then
// for every change as the kernel reports it: no polling interval stands
// between a carrier loss and its LinkDown. onEvent calls never overlap and
// come in order (the first listing from Watch's caller, the rest from the
// watcher's goroutine); onEvent must not block (an actor shell sends itself a
// message). When a subscription fails (the kernel drops notifications
// when a socket's buffer overflows), the watcher subscribes again after
// Resubscribe and lists again; links that vanished meanwhile are reported
// as LinkRemoved. Watch returns after the first listing has been
// delivered, or with the error that prevented it.
func Watch(opts WatchOptions, onEvent func(Event)) (*Watcher, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Resubscribe <= 0 {
		opts.Resubscribe = time.Second
	}
	w := &Watcher{opts: opts, onEvent: onEvent, table: newLinkTable(opts.Filter), stop: make(chan struct{})}
	sub, err := w.subscribe()
	if err != nil {
		return nil, err
	}
	w.wg.Add(1)
	go w.run(sub)
	return w, nil
}

// Close ends the subscription and waits for the goroutine; no onEvent
// call starts after it returns.
func (w *Watcher) Close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

type subscription struct {
	links chan netlink.LinkUpdate
	addrs chan netlink.AddrUpdate
	done  chan struct{}
}

func (s *subscription) close() {
	close(s.done)
	// The library's goroutines may be blocked sending; drain until they
	// close their channels.
	for s.links != nil || s.addrs != nil {
		select {
		case _, ok := <-s.links:
			if !ok {
				s.links = nil
			}
		case _, ok := <-s.addrs:
			if !ok {
				s.addrs = nil
			}
		}
	}
}

// subscribe subscribes first and lists second, so no change falls between
// the two; a change seen in both is applied twice, which the table turns
// into at most one event.
func (w *Watcher) subscribe() (*subscription, error) {
	s := &subscription{
		links: make(chan netlink.LinkUpdate, 64),
		addrs: make(chan netlink.AddrUpdate, 64),
		done:  make(chan struct{}),
	}
	onErr := func(err error) {
		select {
		case <-s.done:
			// Closing the subscription makes its receive fail; that is
			// not news.
		default:
			w.report(fmt.Errorf("netlink subscription: %w", err))
		}
	}
	if err := netlink.LinkSubscribeWithOptions(s.links, s.done, netlink.LinkSubscribeOptions{
		Namespace: w.opts.Namespace, ErrorCallback: onErr,
	}); err != nil {
		close(s.done)
		return nil, fmt.Errorf("subscribe to link changes: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(s.addrs, s.done, netlink.AddrSubscribeOptions{
		Namespace: w.opts.Namespace, ErrorCallback: onErr,
	}); err != nil {
		s.addrs = nil
		s.close()
		return nil, fmt.Errorf("subscribe to address changes: %w", err)
	}
	links, err := w.list()
	if err != nil {
		s.close()
		return nil, err
	}
	for _, ev := range w.table.replace(links) {
		w.onEvent(ev)
	}
	return s, nil
}

func (w *Watcher) list() ([]Link, error) {
	h, err := w.handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	nls, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	byIndex := map[int][]netip.Prefix{}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			byIndex[a.LinkIndex] = append(byIndex[a.LinkIndex], p)
		}
	}
	links := make([]Link, 0, len(nls))
	for _, nl := range nls {
		l := linkFromNetlink(nl.Attrs(), nl.Type())
		l.Addrs = byIndex[l.Index]
		links = append(links, l)
	}
	return links, nil
}

func (w *Watcher) handle() (*netlink.Handle, error) {
	var h *netlink.Handle
	var err error
	if w.opts.Namespace != nil {
		h, err = netlink.NewHandleAt(*w.opts.Namespace)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	return h, nil
}

func (w *Watcher) report(err error) {
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
}

func (w *Watcher) run(s *subscription) {
	defer w.wg.Done()
	for {
		lost := w.stream(s)
		s.close()
		if !lost {
			return
		}
		for {
			select {
			case <-w.stop:
				return
			case <-w.opts.Clock.After(w.opts.Resubscribe):
			}
			var err error
			if s, err = w.subscribe(); err == nil {
				break
			}
			w.report(err)
		}
	}
}

// stream delivers notifications until the watcher stops (false) or the
// subscription ends (true).
func (w *Watcher) stream(s *subscription) (lost bool) {
	for {
		select {
		case <-w.stop:
			return false
		case u, ok := <-s.links:
			if !ok {
				s.links = nil
				w.report(errors.New("netlink link subscription ended; subscribing again"))
				return true
			}
			if u.Family == unix.AF_BRIDGE {
				// Bridge port notifications: a DELLINK of this family
				// means the port left its bridge, not that it is gone; the
				// AF_UNSPEC notification that follows has the new master.
				continue
			}
			var evs []Event
			if u.Header.Type == unix.RTM_DELLINK {
				evs = w.table.removeLink(u.Attrs().Index)
			} else {
				evs = w.table.setLink(linkFromNetlink(u.Attrs(), u.Type()))
			}
			for _, ev := range evs {
				w.onEvent(ev)
			}
		case u, ok := <-s.addrs:
			if !ok {
				s.addrs = nil
				w.report(errors.New("netlink address subscription ended; subscribing again"))
				return true
			}
			p, ok := prefixOf(&u.LinkAddress)
			if !ok {
				continue
			}
			for _, ev := range w.table.setAddr(u.LinkIndex, p, u.NewAddr) {
				w.onEvent(ev)
			}
		}
	}
}

// linkFromNetlink converts netlink's view of a link.
func linkFromNetlink(a *netlink.LinkAttrs, kind string) Link {
	l := Link{
		Index:       a.Index,
		Name:        a.Name,
		Kind:        kind,
		AdminUp:     a.RawFlags&unix.IFF_UP != 0,
		OperUp:      a.RawFlags&unix.IFF_RUNNING != 0,
		Loopback:    a.RawFlags&unix.IFF_LOOPBACK != 0,
		NoARP:       a.RawFlags&unix.IFF_NOARP != 0,
		MasterIndex: a.MasterIndex,
	}
	if len(a.HardwareAddr) == 6 && (a.EncapType == "" || a.EncapType == "ether") {
		l.MAC, l.Ethernet = MAC(a.HardwareAddr), true
	}
	return l
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}
