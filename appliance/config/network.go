package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// NetworkConfig is the box's IPv4 address: Config.Network. The board's
// init (appliance/boot) reads it from the data disk when it starts; the
// appliance itself never changes an interface, so a change takes effect at
// the next start of the box.
type NetworkConfig struct {
	Mode string `json:"mode" help:"How the box gets its address: \"dhcp\" (from the office router, the usual) or \"static\" (the fixed address below). A wrong fixed address makes the box unreachable: to undo it, put the SD card (or the USB data disk) in another computer and set \"dhcp\" here, in postroom/config.json on its data partition. The factory reset does not undo it: it is confirmed on the web page and keeps this file."`
	// The fixed settings stay in the file in dhcp mode, so that switching
	// back and forth on the page does not make a person type them again.
	Address string   `json:"address" help:"For mode \"static\": the box's address with the size of its network, e.g. \"192.168.1.20/24\"."`
	Gateway string   `json:"gateway" help:"For mode \"static\": the router the box sends to for everything outside its network, inside that network, e.g. \"192.168.1.1\"."`
	DNS     []string `json:"dns" help:"For mode \"static\": one to three DNS servers, e.g. [\"192.168.1.1\"]."`
}

// Network modes.
const (
	NetworkDHCP   = "dhcp"
	NetworkStatic = "static"
)

func defaultNetwork() NetworkConfig {
	return NetworkConfig{Mode: NetworkDHCP, DNS: []string{}}
}

// StaticNetwork is a fixed address, parsed and checked.
type StaticNetwork struct {
	Address netip.Prefix // the box's address and its network
	Gateway netip.Addr
	DNS     []netip.Addr
}

// NetworkError is one problem with the network section; Field is "mode",
// "address", "gateway" or "dns", as spelt in the file (and on the form).
type NetworkError struct {
	Field, Message string
}

func (e *NetworkError) Error() string { return "network." + e.Field + ": " + e.Message }

// Most DNS servers of a fixed address: the resolver reads three (resolv.conf).
const maxDNS = 3

// Static parses the fixed address, whatever the mode, and reports every
// problem as a *NetworkError.
func (n NetworkConfig) Static() (StaticNetwork, []error) {
	var s StaticNetwork
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &NetworkError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	addr := strings.TrimSpace(n.Address)
	p, err := netip.ParsePrefix(addr)
	switch {
	case addr == "":
		bad("address", "give the box's fixed address with the size of its network, such as 192.168.1.20/24")
	case err != nil && isAddr4(addr):
		bad("address", "%q lacks the size of the network: write it as %s/24 (the /24 is the usual office network of 256 addresses)", addr, addr)
	case err != nil || !p.Addr().Is4():
		bad("address", "%q is not an IPv4 address with the size of its network, such as 192.168.1.20/24", addr)
	case p.Bits() < 8 || p.Bits() > 30:
		bad("address", "the network size /%d is unusual: an office network is /8 to /30, mostly /24", p.Bits())
	case !usable(p.Addr()):
		bad("address", "%s cannot be the box's address (%s)", p.Addr(), whyUnusable(p.Addr()))
	case p.Addr() == p.Masked().Addr() || p.Addr() == lastOf(p):
		bad("address", "%s is the first or last address of its network %s, which no device may take", p.Addr(), p.Masked())
	default:
		s.Address = p
	}

	gw := strings.TrimSpace(n.Gateway)
	g, err := netip.ParseAddr(gw)
	switch {
	case gw == "":
		bad("gateway", "give the address of the office router, such as 192.168.1.1")
	case err != nil || !g.Is4():
		bad("gateway", "%q is not an IPv4 address such as 192.168.1.1", gw)
	case !usable(g):
		bad("gateway", "%s cannot be the router (%s)", g, whyUnusable(g))
	case !s.Address.IsValid():
		// The address is wrong already; the gateway cannot be checked against it.
	case !s.Address.Contains(g):
		bad("gateway", "the router %s is outside the box's network %s: it must be one of the addresses there", g, s.Address.Masked())
	case g == s.Address.Addr():
		bad("gateway", "the router cannot have the box's own address %s", g)
	case g == s.Address.Masked().Addr() || g == lastOf(s.Address):
		bad("gateway", "%s is the first or last address of the network %s, which no device may take", g, s.Address.Masked())
	default:
		s.Gateway = g
	}

	switch {
	case len(n.DNS) == 0:
		bad("dns", "give at least one DNS server, such as the router's address")
	case len(n.DNS) > maxDNS:
		bad("dns", "give at most %d DNS servers, not %d", maxDNS, len(n.DNS))
	}
	for _, d := range n.DNS {
		d = strings.TrimSpace(d)
		a, err := netip.ParseAddr(d)
		switch {
		case err != nil || a.Zone() != "":
			bad("dns", "%q is not an IP address of a DNS server, such as 192.168.1.1", d)
		case !usable(a):
			bad("dns", "%s cannot be a DNS server of the box (%s)", a, whyUnusable(a))
		default:
			s.DNS = append(s.DNS, a)
		}
	}
	return s, errs
}

// validate checks the section: the mode always, the fixed address only in
// static mode.
func (n NetworkConfig) validate() []error {
	switch n.Mode {
	case NetworkDHCP, "": // "": a Config made in code, not read from a file
		return nil
	case NetworkStatic:
		_, errs := n.Static()
		return errs
	}
	return []error{&NetworkError{Field: "mode", Message: fmt.Sprintf("%q is not \"dhcp\" or \"static\"", n.Mode)}}
}

func isAddr4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// usable says whether a can be a device's address on an office network.
func usable(a netip.Addr) bool { return whyUnusable(a) == "" }

func whyUnusable(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return "it means \"no address\""
	case a.IsLoopback():
		return "it is the loopback address, which every device has for itself"
	case a.IsMulticast():
		return "it is a multicast address, for groups of devices"
	case a.IsLinkLocalUnicast():
		return "it is a link-local address, which devices take by themselves when there is no DHCP server"
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "it is the broadcast address"
	case a.Is4() && a.As4()[0] >= 240:
		return "it is in the reserved range 240.0.0.0/4"
	case a.Is4() && a.As4()[0] == 0:
		return "it is in the range 0.0.0.0/8, which means \"this network\""
	}
	return ""
}

// lastOf is the last (broadcast) address of p's network.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
