package boot

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"

	"github.com/hashicorp/mdns"
)

// startMDNS answers as MDNSName on iface until ctx ends, with the
// addresses addrs gives at each question (nil: iface's own, interfaceAddrs).
func startMDNS(ctx context.Context, iface string, addrs func() []netip.Addr, logger *slog.Logger) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	if addrs == nil {
		addrs = func() []netip.Addr { return interfaceAddrs(ifi) }
	}
	srv, err := mdns.NewServer(&mdns.Config{
		Zone:   hostZone{name: MDNSName, addrs: addrs},
		Iface:  ifi,
		Logger: log.New(io.Discard, "", 0), // it logs every packet it cannot read
	})
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		srv.Shutdown()
	}()
	logger.Info("answering as "+MDNSName, "iface", iface)
	return nil
}

// interfaceAddrs are ifi's addresses now, without IPv6 link-local ones
// (a browser cannot use them without the zone).
func interfaceAddrs(ifi *net.Interface) []netip.Addr {
	as, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is6() && ip.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, ip)
	}
	return out
}
