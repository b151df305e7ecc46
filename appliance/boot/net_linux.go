package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"postroom/internal/atomicfile"
)

// Network keeps one interface's IPv4 address from DHCP (see net.go).
type Network struct {
	Iface string
	Log   *slog.Logger
	// Say writes a line on the console (the box has no other screen
	// before the appliance runs).
	Say func(format string, args ...any)
	// ResolvConf is where the lease's DNS servers are written; "": none.
	ResolvConf string
	// Timeout bounds one DHCP exchange; 0: 10 s.
	Timeout time.Duration
	// Retry is how long to wait before asking again after no answer; 0: 1 min.
	Retry time.Duration
	// TimeServers, if set, learns the time servers of each lease applied.
	TimeServers *TimeServers
}

// Up sets the link up and gets a first address: from DHCP, or link-local
// when no DHCP server answers within Timeout. It returns that lease; Keep
// then renews it.
func (n *Network) Up(ctx context.Context) (Lease, error) {
	n.defaults()
	link, err := netlink.LinkByName(n.Iface)
	if err != nil {
		return Lease{}, fmt.Errorf("%s: %w", n.Iface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return Lease{}, fmt.Errorf("%s up: %w", n.Iface, err)
	}
	l, err := n.dhcp(ctx)
	if err != nil && ctx.Err() != nil {
		return Lease{}, ctx.Err() // stopped (netconfig_linux.go): no link-local address
	}
	if err != nil {
		n.Log.Warn("no DHCP answer", "iface", n.Iface, "err", err)
		l = Lease{Addr: linkLocal(link.Attrs().HardwareAddr, 0), LinkLocal: true}
	}
	if err := n.apply(link, l, Lease{}); err != nil {
		return l, err
	}
	n.Say("network %s: %s", n.Iface, l)
	return l, nil
}

// Keep renews the lease before it ends and, on a link-local address, asks
// DHCP again every Retry, until ctx ends.
func (n *Network) Keep(ctx context.Context, l Lease) {
	n.defaults()
	for {
		wait := n.Retry
		if !l.LinkLocal {
			wait = l.Duration / 2 // RFC 2131's T1
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		nl, err := n.dhcp(ctx)
		if err != nil {
			n.Log.Warn("DHCP renewal", "iface", n.Iface, "err", err)
			continue // keep the address until the next try
		}
		link, err := netlink.LinkByName(n.Iface)
		if err == nil {
			err = n.apply(link, nl, l)
		}
		if err != nil {
			n.Log.Error("applying the new lease", "iface", n.Iface, "err", err)
			continue
		}
		if nl.Addr != l.Addr {
			n.Say("network %s: %s", n.Iface, nl)
		}
		l = nl
	}
}

func (n *Network) defaults() {
	if n.Log == nil {
		n.Log = slog.Default()
	}
	if n.Say == nil {
		n.Say = func(string, ...any) {}
	}
	if n.Timeout <= 0 {
		n.Timeout = 10 * time.Second
	}
	if n.Retry <= 0 {
		n.Retry = time.Minute
	}
}

// dhcp runs one DISCOVER-OFFER-REQUEST-ACK exchange.
func (n *Network) dhcp(ctx context.Context) (Lease, error) {
	c, err := nclient4.New(n.Iface, nclient4.WithTimeout(n.Timeout/3), nclient4.WithRetry(2))
	if err != nil {
		return Lease{}, fmt.Errorf("DHCP client on %s: %w", n.Iface, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, n.Timeout)
	defer cancel()
	lease, err := c.Request(ctx, dhcpv4.WithRequestedOptions(dhcpv4.OptionNTPServers))
	if err != nil {
		return Lease{}, err
	}
	return leaseFrom(lease.ACK)
}

// apply puts l on link, removing old's address when it differs, and
// writes the DNS servers.
func (n *Network) apply(link netlink.Link, l, old Lease) error {
	addr := &netlink.Addr{IPNet: prefixNet(l.Addr)}
	if !l.LinkLocal {
		addr.ValidLft, addr.PreferedLft = int(l.Duration.Seconds()), int(l.Duration.Seconds())
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", l.Addr, n.Iface, err)
	}
	if old.Addr.IsValid() && old.Addr != l.Addr {
		netlink.AddrDel(link, &netlink.Addr{IPNet: prefixNet(old.Addr)})
	}
	if l.Router.IsValid() {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: nil, Gw: net.IP(l.Router.AsSlice())}
		if err := netlink.RouteReplace(route); err != nil {
			return fmt.Errorf("default route via %s: %w", l.Router, err)
		}
	}
	if n.TimeServers != nil {
		n.TimeServers.Set(n.Iface, l.NTP)
	}
	if n.ResolvConf != "" && len(l.DNS) > 0 {
		if err := atomicfile.WriteFile(n.ResolvConf, resolvConf(l), 0o644); err != nil {
			return fmt.Errorf("DNS servers: %w", err)
		}
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// WiredInterfaces lists the box's wired interfaces (wired), by name.
func WiredInterfaces() ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if wired(l.Attrs().Name) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// mountResolvConf makes /etc/resolv.conf (an empty file in the read-only
// root) show tmp, which the network set-up rewrites.
func mountResolvConf(tmp string) error {
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(tmp); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(tmp, []byte("# no DHCP lease yet\n"), 0o644); err != nil {
			return err
		}
	}
	return unix.Mount(tmp, "/etc/resolv.conf", "", unix.MS_BIND, "")
}

// resolvConfTmp is the file behind /etc/resolv.conf.
const resolvConfTmp = "/tmp/net/resolv.conf"

// startNetwork brings up every wired interface, and keeps the clock from
// NTP, in the background (useConfig may later switch one to a fixed
// address, netconfig_linux.go): the
// appliance starts at once (it serves what it can, and Go's resolver
// reads /etc/resolv.conf again when it changes), and a box without a
// cable or DHCP server boots as fast as one with them.
func startNetwork(ctx context.Context, cfg Config, log *slog.Logger) *netRuns {
	if err := mountResolvConf(resolvConfTmp); err != nil {
		log.Error("no /etc/resolv.conf to write the DNS servers to", "err", err)
	}
	ts := NewTimeServers()
	go keepClock(ctx, cfg, ts, log) // ntp_linux.go
	ifaces, err := WiredInterfaces()
	if err != nil || len(ifaces) == 0 {
		cfg.Say("no wired network interface found (%v): plug in a network cable", err)
		return nil
	}
	runs := &netRuns{log: log}
	for _, name := range ifaces {
		runs.start(ctx, &Network{Iface: name, Log: log, Say: cfg.Say, ResolvConf: resolvConfTmp, TimeServers: ts})
	}
	return runs
}
