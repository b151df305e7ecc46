package boot

import (
	"context"
	"net"
	"slices"
	"strings"
	"time"
)

// Addr is one address of the box on one interface.
type Addr struct {
	Iface string
	IP    net.IP
}

func (a Addr) String() string { return a.Iface + " " + a.IP.String() }

// Addresses lists the addresses a person could type into a browser,
// sorted: IPv4 and global IPv6 on interfaces that are up, never loopback
// or link-local. addrs is (*net.Interface).Addrs (tests pass their own).
func Addresses(ifaces []net.Interface, addrs func(net.Interface) ([]net.Addr, error)) []Addr {
	var out []Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, err := addrs(ifc)
		if err != nil {
			continue
		}
		for _, a := range as {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			out = append(out, Addr{Iface: ifc.Name, IP: ipn.IP})
		}
	}
	slices.SortFunc(out, func(a, b Addr) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// SayAddresses prints the box's addresses on the console whenever they
// change (checked every interval) until ctx ends: the serial console is
// how a person finds the box before mDNS or the display do.
func SayAddresses(ctx context.Context, cfg Config, interval time.Duration) {
	var last string
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ifaces, err := net.Interfaces(); err == nil {
			cur := Addresses(ifaces, func(i net.Interface) ([]net.Addr, error) { return i.Addrs() })
			var key strings.Builder
			for _, a := range cur {
				key.WriteString(a.String() + "\n")
			}
			if key.String() != last {
				if len(cur) == 0 {
					cfg.Say("no network address yet")
				}
				for _, a := range cur {
					// The web page's port is the appliance's to say.
					cfg.Say("address %s on %s", a.IP, a.Iface)
				}
				last = key.String()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
