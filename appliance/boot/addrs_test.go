package boot

import (
	"errors"
	"net"
	"slices"
	"testing"
)

func TestAddresses(t *testing.T) {
	ipnet := func(s string) *net.IPNet {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	ifaces := []net.Interface{
		{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback},
		{Index: 2, Name: "eth0", Flags: net.FlagUp},
		{Index: 3, Name: "wlan0"}, // down
		{Index: 4, Name: "usb0", Flags: net.FlagUp},
	}
	byIndex := map[int][]net.Addr{
		1: {ipnet("127.0.0.1/8"), ipnet("::1/128")},
		2: {ipnet("192.168.1.20/24"), ipnet("fe80::1/64"), ipnet("2001:db8::20/64")},
		3: {ipnet("10.0.0.5/24")},
	}
	addrs := func(i net.Interface) ([]net.Addr, error) {
		if i.Name == "usb0" {
			return nil, errors.New("gone")
		}
		return byIndex[i.Index], nil
	}
	var got []string
	for _, a := range Addresses(ifaces, addrs) {
		got = append(got, a.String())
	}
	want := []string{
		"eth0 192.168.1.20",
		"eth0 2001:db8::20",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
