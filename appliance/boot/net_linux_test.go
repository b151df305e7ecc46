package boot

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNetns runs fn on a locked thread inside a new network namespace and
// returns to the original one. It skips the test where namespaces cannot
// be made (not root, or no CAP_NET_ADMIN).
func inNetns(t *testing.T, ns netns.NsHandle, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	fn()
}

// twoHosts makes two network namespaces, "box" and "lan", joined by a
// veth pair: eth0 in box, lan0 (10.9.0.1/24) in lan.
func twoHosts(t *testing.T) (box, lan netns.NsHandle) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { netns.Set(orig); orig.Close() }()
	box, err = netns.New()
	if err != nil {
		t.Skipf("cannot make a network namespace: %v", err)
	}
	lan, err = netns.New()
	if err != nil {
		t.Skipf("cannot make a network namespace: %v", err)
	}
	t.Cleanup(func() { box.Close(); lan.Close() })
	// Now in lan: make the pair here and move eth0 to box.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "lan0"}, PeerName: "eth0"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Skipf("cannot make a veth pair: %v", err)
	}
	peer, err := netlink.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(box)); err != nil {
		t.Fatal(err)
	}
	lan0, _ := netlink.LinkByName("lan0")
	addr, _ := netlink.ParseAddr("10.9.0.1/24")
	if err := netlink.AddrAdd(lan0, addr); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lan0); err != nil {
		t.Fatal(err)
	}
	return box, lan
}

// dhcpServer answers on lan0 in lan: 10.9.0.50/24, router 10.9.0.1, DNS
// 10.9.0.53, time server 10.9.0.1 (option 42, to a client that asks for
// it), an hour. It counts the requests it acknowledged.
func dhcpServer(t *testing.T, lan netns.NsHandle) *atomic.Int32 {
	t.Helper()
	acks := new(atomic.Int32)
	handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		var typ dhcpv4.MessageType
		switch m.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			typ = dhcpv4.MessageTypeOffer
		case dhcpv4.MessageTypeRequest:
			typ = dhcpv4.MessageTypeAck
			acks.Add(1)
		default:
			return
		}
		mods := []dhcpv4.Modifier{
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(net.IPv4(10, 9, 0, 50)),
			dhcpv4.WithServerIP(net.IPv4(10, 9, 0, 1)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 9, 0, 1))),
			dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
			dhcpv4.WithRouter(net.IPv4(10, 9, 0, 1)),
			dhcpv4.WithDNS(net.IPv4(10, 9, 0, 53)),
			dhcpv4.WithLeaseTime(3600),
		}
		if m.IsOptionRequested(dhcpv4.OptionNTPServers) {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptNTPServers(net.IPv4(10, 9, 0, 1))))
		}
		reply, err := dhcpv4.NewReplyFromRequest(m, mods...)
		if err != nil {
			return
		}
		conn.WriteTo(reply.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
	}
	var srv *server4.Server
	inNetns(t, lan, func() {
		var err error
		srv, err = server4.NewServer("lan0", &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, handler)
		if err != nil {
			t.Fatal(err)
		}
	})
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return acks
}

// TestNetworkDHCP: the box's eth0 gets its address, route and DNS servers
// from a DHCP server on the other end of the cable (a real one, in a
// second network namespace).
func TestNetworkDHCP(t *testing.T) {
	box, lan := twoHosts(t)
	acks := dhcpServer(t, lan)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	var lease Lease
	var lines []string
	inNetns(t, box, func() {
		n := &Network{Iface: "eth0", ResolvConf: resolv, Timeout: 10 * time.Second,
			Say: func(f string, a ...any) { lines = append(lines, f) }}
		var err error
		lease, err = n.Up(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkIPv4(t, "eth0", "10.9.0.50/24", net.IPv4(10, 9, 0, 1)) // netconfig_linux_test.go
	})
	want := Lease{Addr: netip.MustParsePrefix("10.9.0.50/24"), Router: netip.MustParseAddr("10.9.0.1"),
		DNS: []netip.Addr{netip.MustParseAddr("10.9.0.53")}, NTP: []netip.Addr{netip.MustParseAddr("10.9.0.1")},
		Duration: time.Hour, Server: netip.MustParseAddr("10.9.0.1")}
	if lease.String() != want.String() || acks.Load() != 1 {
		t.Errorf("lease %v (%d acks), want %v", lease, acks.Load(), want)
	}
	if data, _ := os.ReadFile(resolv); !strings.Contains(string(data), "nameserver 10.9.0.53\n") {
		t.Errorf("resolv.conf: %q", data)
	}
}

// TestClockFromDHCPTimeServer: the lease's time server (option 42) is
// asked before the public ones: both answer here, with different times,
// and the box takes the time of the one the DHCP server named.
func TestClockFromDHCPTimeServer(t *testing.T) {
	box, lan := twoHosts(t)
	dhcpServer(t, lan)
	real := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	inNetns(t, lan, func() {
		ntpServerOn(t, "10.9.0.1:123", real, nil)                // the office's, named by DHCP
		ntpServerOn(t, "10.9.0.1:124", real.Add(time.Hour), nil) // stands for the public pool
	})
	ts := NewTimeServers()
	inNetns(t, box, func() {
		n := &Network{Iface: "eth0", Timeout: 10 * time.Second, TimeServers: ts}
		if _, err := n.Up(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ts.Changed():
		default:
			t.Error("the lease's time server was not announced")
		}
		servers := ts.Servers([]string{"10.9.0.1:124"})
		if !slices.Equal(servers, []string{"10.9.0.1:123", "10.9.0.1:124"}) {
			t.Errorf("servers %v", servers)
		}
		stale := func() time.Time { return real.Add(-24 * time.Hour) }
		a, err := syncClockOnce(context.Background(), servers, stale, func(time.Duration) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if a.Server != "10.9.0.1:123" || a.Offset != 24*time.Hour {
			t.Errorf("answer %+v: want the DHCP server's, a day ahead", a)
		}
	})
}

// TestNetworkNoDHCP: with nobody answering, eth0 gets its link-local
// address, and the console says why.
func TestNetworkNoDHCP(t *testing.T) {
	box, _ := twoHosts(t)
	var said string
	inNetns(t, box, func() {
		n := &Network{Iface: "eth0", Timeout: time.Second, Say: func(f string, a ...any) { said = f + " " + a[1].(Lease).String() }}
		lease, err := n.Up(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		link, _ := netlink.LinkByName("eth0")
		if !lease.LinkLocal || !netip.MustParsePrefix("169.254.0.0/16").Contains(lease.Addr.Addr()) {
			t.Errorf("lease %v", lease)
		}
		if want := linkLocal(link.Attrs().HardwareAddr, 0); lease.Addr != want {
			t.Errorf("address %v, want %v (the board's own)", lease.Addr, want)
		}
	})
	if !strings.Contains(said, "no DHCP server answered") {
		t.Errorf("console: %q", said)
	}
}
