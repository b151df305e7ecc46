package boot

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
)

// TestMDNS: a computer on the office's network (the lan namespace) asks
// for postroom.local over mDNS and gets the box's address.
func TestMDNS(t *testing.T) {
	box, lan := twoHosts(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inNetns(t, box, func() {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := netlink.ParseAddr("10.9.0.50/24")
		if err := netlink.AddrAdd(eth0, addr); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(eth0); err != nil {
			t.Fatal(err)
		}
		// The server's goroutines run on threads outside this namespace,
		// where eth0's addresses cannot be read: they are given here.
		// interfaceAddrs is tested on its own below.
		box := func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("10.9.0.50")} }
		if err := startMDNS(ctx, "eth0", box, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	})
	var answer *dns.Msg
	inNetns(t, lan, func() {
		lan0, _ := netlink.LinkByName("lan0")
		_, mcast, _ := net.ParseCIDR("224.0.0.0/4")
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: lan0.Attrs().Index, Dst: mcast}); err != nil {
			t.Fatal(err)
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 9, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		q := new(dns.Msg)
		q.SetQuestion(MDNSName, dns.TypeA)
		q.RecursionDesired = false
		pkt, _ := q.Pack()
		buf := make([]byte, 1500)
		// The box may still be joining the group: ask again each second.
		for try := 0; try < 10 && answer == nil; try++ {
			if _, err := c.WriteTo(pkt, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				continue
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil && len(m.Answer) > 0 {
				answer = m
			}
		}
	})
	if answer == nil {
		t.Fatal("no mDNS answer for postroom.local")
	}
	a, ok := answer.Answer[0].(*dns.A)
	if !ok || !a.A.Equal(net.IPv4(10, 9, 0, 50)) || a.Hdr.Name != MDNSName {
		t.Errorf("answer %v", answer.Answer)
	}
}

func TestHostZone(t *testing.T) {
	z := hostZone{name: MDNSName, addrs: func() []netip.Addr {
		return []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("2001:db8::20")}
	}}
	if rr := z.Records(dns.Question{Name: "POSTROOM.local.", Qtype: dns.TypeA, Qclass: dns.ClassINET}); len(rr) != 1 || rr[0].(*dns.A).A.String() != "192.168.1.20" {
		t.Errorf("A: %v", rr)
	}
	if rr := z.Records(dns.Question{Name: MDNSName, Qtype: dns.TypeAAAA}); len(rr) != 1 || rr[0].(*dns.AAAA).AAAA.String() != "2001:db8::20" {
		t.Errorf("AAAA: %v", rr)
	}
	if rr := z.Records(dns.Question{Name: "other.local.", Qtype: dns.TypeA}); rr != nil {
		t.Errorf("another name answered: %v", rr)
	}
}

func TestInterfaceAddrs(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip(err)
	}
	if got := interfaceAddrs(lo); !slices.Contains(got, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("lo's addresses: %v", got)
	}
}
