package boot

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/vishvananda/netlink"
)

// netRun is one wired interface's DHCP client, running in the background
// until useConfig stops it for a fixed address.
type netRun struct {
	n    *Network
	stop context.CancelFunc
	done chan struct{}
	mdns sync.Once
}

// netRuns are the interfaces startNetwork brought up, in its order.
type netRuns struct {
	log  *slog.Logger
	runs []*netRun
}

// start runs DHCP on n in the background (Up, then Keep), and answers
// mDNS on it once it has an address.
func (rs *netRuns) start(ctx context.Context, n *Network) {
	dctx, stop := context.WithCancel(ctx)
	r := &netRun{n: n, stop: stop, done: make(chan struct{})}
	rs.runs = append(rs.runs, r)
	go func() {
		defer close(r.done)
		l, err := n.Up(dctx)
		if err != nil {
			if dctx.Err() == nil {
				n.Say("network %s: %v", n.Iface, err)
			}
			return
		}
		r.answerMDNS(ctx, rs.log)
		n.Keep(dctx, l)
	}()
}

// answerMDNS starts mDNS on the interface, once, for as long as ctx (the
// box's, not the DHCP client's) lasts.
func (r *netRun) answerMDNS(ctx context.Context, log *slog.Logger) {
	r.mdns.Do(func() {
		if err := startMDNS(ctx, r.n.Iface, nil, log); err != nil { // mdns_linux.go
			log.Warn("no mDNS: postroom.local will not be found", "iface", r.n.Iface, "err", err)
		}
	})
}

// useConfig switches the first wired interface to the fixed address of
// the config file at path when it asks for one, and leaves DHCP alone
// otherwise. A wrong fixed address keeps DHCP and says why.
func (rs *netRuns) useConfig(ctx context.Context, path string, say func(string, ...any)) {
	l, ok, err := StaticLease(path)
	switch {
	case err != nil:
		say("network: %v; keeping DHCP", err)
		return
	case !ok:
		return
	case rs == nil || len(rs.runs) == 0:
		say("network: no wired interface for the fixed address %s", l.Addr)
		return
	}
	r := rs.runs[0]
	r.stop()
	select {
	case <-r.done:
	case <-ctx.Done():
		return
	}
	if err := r.n.Static(l); err != nil {
		say("network %s: the fixed address %s: %v", r.n.Iface, l.Addr, err)
		return
	}
	r.answerMDNS(ctx, rs.log)
}

// Static puts the fixed lease l on the interface instead of whatever it
// has: its other IPv4 addresses (a DHCP or link-local one) go first, so
// the box answers on one address only; then l is applied as a lease is,
// with its route and DNS servers, and no lifetime. Nothing asks DHCP
// afterwards: the caller has stopped this Network's Up and Keep.
func (n *Network) Static(l Lease) error {
	n.defaults()
	l.Static = true
	link, err := netlink.LinkByName(n.Iface)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Iface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", n.Iface, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", n.Iface, err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != l.Addr.String() {
			if err := netlink.AddrDel(link, &a); err != nil {
				n.Log.Warn("removing an old address", "iface", n.Iface, "addr", a.IPNet, "err", err)
			}
		}
	}
	if err := n.apply(link, l, Lease{}); err != nil {
		return err
	}
	n.Say("network %s: %s", n.Iface, l)
	return nil
}
