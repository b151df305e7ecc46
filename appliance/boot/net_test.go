package boot

import (
	"net"
	"net/netip"
	"testing"
)

func TestLinkLocal(t *testing.T) {
	mac, _ := net.ParseMAC("b8:27:eb:12:34:56")
	seen := map[netip.Prefix]bool{}
	for try := range 200 {
		p := linkLocal(mac, try)
		a := p.Addr().As4()
		if p.Bits() != 16 || a[0] != 169 || a[1] != 254 || a[2] == 0 || a[2] == 255 {
			t.Fatalf("try %d: %v is outside 169.254.1.0-169.254.254.255", try, p)
		}
		seen[p] = true
	}
	if len(seen) < 190 {
		t.Errorf("only %d different addresses in 200 tries", len(seen))
	}
	if linkLocal(mac, 0) != linkLocal(mac, 0) {
		t.Error("the first address differs between boots")
	}
}

func TestWired(t *testing.T) {
	for name, want := range map[string]bool{"eth0": true, "end0": true, "enxb827eb123456": true, "lo": false, "wlan0": false, "docker0": false} {
		if wired(name) != want {
			t.Errorf("wired(%q) = %v", name, !want)
		}
	}
}
