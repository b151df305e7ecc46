// Package lan says whether a client is on the office's own network: the
// one definition behind "passwords without TLS only from the LAN" and "the
// web pages only on the LAN".
package lan

import (
	"net"
	"net/netip"
)

// Addr is the client's IP address, with IPv4-mapped IPv6 unmapped so that
// one client has one form; the zero Addr when remote has none.
func Addr(remote net.Addr) netip.Addr {
	if a, ok := remote.(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	if remote == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(remote.String()); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// Contains reports whether a is on the local network: loopback, RFC 1918
// private IPv4, IPv6 unique local (fc00::/7) or link-local. Carrier-grade
// NAT space (100.64.0.0/10) is not: it is the provider's, shared with
// strangers.
func Contains(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && (a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast())
}
