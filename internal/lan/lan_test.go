package lan

import (
	"net"
	"net/netip"
	"testing"
)

func TestContains(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"::1", true},
		{"192.168.0.20", true}, {"10.1.2.3", true}, {"172.16.5.5", true}, {"172.31.255.255", true},
		{"172.32.5.5", false}, {"100.64.1.1", false}, {"203.0.113.1", false}, {"8.8.8.8", false},
		{"fd00::1", true}, {"fe80::1", true}, {"169.254.1.1", true},
		{"::ffff:192.168.1.1", true}, {"::ffff:8.8.8.8", false}, {"2001:db8::1", false},
	} {
		if got := Contains(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("Contains(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
	if Contains(netip.Addr{}) {
		t.Error("the zero Addr is on the LAN")
	}
}

func TestAddr(t *testing.T) {
	for _, c := range []struct {
		remote net.Addr
		want   string
	}{
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 1}, "10.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("fd00::5"), Port: 1}, "fd00::5"},
		{&net.UDPAddr{IP: net.ParseIP("192.168.1.1"), Port: 53}, "192.168.1.1"},
		{nil, "invalid IP"},
	} {
		if got := Addr(c.remote).String(); got != c.want {
			t.Errorf("Addr(%v) = %s, want %s", c.remote, got, c.want)
		}
	}
}
