package boot

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The box's network (issue #14 part 3): on every wired interface the init
// sets the link up, which also starts IPv6 autoconfiguration (the kernel
// does SLAAC from router advertisements on its own), and asks for an IPv4
// address over DHCP (net_linux.go). Without an answer the interface gets
// a link-local address (RFC 3927), so the box is still reachable from a
// laptop plugged straight into it, the console says so, and DHCP is asked
// again in the background. The DNS servers of the lease are written to
// /tmp/resolv.conf, which the init mounts over the root's empty
// /etc/resolv.conf: Go's resolver in the appliance reads it there.

// Lease is what the network set-up applies to an interface.
type Lease struct {
	Addr      netip.Prefix // the address and its subnet
	Router    netip.Addr   // the default gateway; invalid: none
	DNS       []netip.Addr
	NTP       []netip.Addr  // time servers (DHCP option 42, RFC 2132 8.3), asked before the public ones
	Duration  time.Duration // how long the lease holds; 0: forever (link-local)
	Server    netip.Addr    // the DHCP server
	LinkLocal bool          // no DHCP answer: 169.254.0.0/16
	Static    bool          // the fixed address of config.json (netconfig.go): no DHCP
}

// String says what the lease is, for the console.
func (l Lease) String() string {
	if l.LinkLocal {
		return fmt.Sprintf("%s (link-local: no DHCP server answered)", l.Addr)
	}
	var dns []string
	for _, d := range l.DNS {
		dns = append(dns, d.String())
	}
	if l.Static {
		return fmt.Sprintf("%s via %s, DNS %s (the fixed address of the settings)", l.Addr, l.Router, strings.Join(dns, " "))
	}
	ntp := ""
	if len(l.NTP) > 0 {
		var s []string
		for _, a := range l.NTP {
			s = append(s, a.String())
		}
		ntp = ", time servers " + strings.Join(s, " ")
	}
	return fmt.Sprintf("%s via %s, DNS %s%s, from DHCP server %s for %s", l.Addr, l.Router, strings.Join(dns, " "), ntp, l.Server, l.Duration)
}

// leaseFrom reads a DHCP ACK.
func leaseFrom(ack *dhcpv4.DHCPv4) (Lease, error) {
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !ip.IsValid() || ip.IsUnspecified() {
		return Lease{}, fmt.Errorf("the DHCP answer has no address")
	}
	bits := 24
	if m := ack.SubnetMask(); m != nil {
		if ones, total := m.Size(); total == 32 && ones > 0 {
			bits = ones
		}
	}
	l := Lease{Addr: netip.PrefixFrom(ip, bits), Duration: ack.IPAddressLeaseTime(time.Hour)}
	if rs := ack.Router(); len(rs) > 0 {
		if r, ok := netip.AddrFromSlice(rs[0].To4()); ok && l.Addr.Contains(r) {
			l.Router = r
		}
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok && a.IsValid() && !a.IsUnspecified() && len(l.DNS) < 3 {
			l.DNS = append(l.DNS, a)
		}
	}
	for _, d := range ack.NTPServers() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok && a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && len(l.NTP) < 3 {
			l.NTP = append(l.NTP, a)
		}
	}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		l.Server = s
	}
	if l.Duration < time.Minute {
		l.Duration = time.Minute // a lease of seconds would have the box ask all the time
	}
	return l, nil
}

// linkLocal is the RFC 3927 address for mac, try 0, 1, ...: from
// 169.254.1.0 to 169.254.254.255, the same for the same board each boot
// (the first try), so a person who found it once finds it again.
func linkLocal(mac net.HardwareAddr, try int) netip.Prefix {
	h := fnv.New32a()
	h.Write(mac)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(try))
	h.Write(b[:])
	n := h.Sum32() % (254 * 256) // 0 .. 65023
	n += 256                     // skip 169.254.0.x
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(n >> 8), byte(n)}), 16)
}

// resolvConf is /etc/resolv.conf for the lease's DNS servers.
func resolvConf(l Lease) []byte {
	var b strings.Builder
	if l.Static {
		b.WriteString("# written by postroom-init from the network settings (config.json)\n")
	} else {
		b.WriteString("# written by postroom-init from the DHCP lease\n")
	}
	for _, d := range l.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	return []byte(b.String())
}

// wired says whether an interface is one the box takes an address on: an
// Ethernet port (the Pi's built-in one or a USB adapter), not the loopback,
// Wi-Fi or a virtual one.
func wired(name string) bool {
	for _, p := range []string{"eth", "end", "enx", "enp", "ens", "usb"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
