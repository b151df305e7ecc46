package webui

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"postroom/appliance/admin"
	"postroom/appliance/config"
)

// TestNetworkForm: the "Network address" form of /settings: the warning
// is on the page, each bad input is refused next to its field with what
// was typed kept and nothing saved, a fixed address and DHCP are saved
// with the note that they apply from the next start.
func TestNetworkForm(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/settings")
	wantStatus(t, resp, body, 200, "settings")
	for _, want := range []string{`id="network-warning"`, "makes the box unreachable", "postroom/config.json", `id="network-mode-dhcp" checked`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	network := func(t *testing.T) config.NetworkConfig {
		t.Helper()
		v, err := s.adm.GetSettings(context.Background(), "test", admin.GetSettings{})
		if err != nil {
			t.Fatal(err)
		}
		return v.Network
	}
	unchanged := func(t *testing.T, s *site) {
		t.Helper()
		if n := network(t); n.Mode != "dhcp" || n.Address != "" {
			t.Errorf("saved after a refusal: %+v", n)
		}
	}
	form := func(mode, addr, gw, dns string) url.Values {
		return url.Values{"mode": {mode}, "address": {addr}, "gateway": {gw}, "dns": {dns}}
	}
	runForms(t, s, b, []formCase{
		{name: "mode", path: "/settings/network", form: form("manual", "", "", ""), code: 400, errID: "err-network-mode", check: unchanged},
		{name: "no address", path: "/settings/network", form: form("static", "", "192.168.1.1", "192.168.1.1"), code: 400, errID: "err-network-address",
			want: `value="192.168.1.1"`, check: unchanged},
		{name: "no prefix", path: "/settings/network", form: form("static", "192.168.1.20", "192.168.1.1", "192.168.1.1"), code: 400, errID: "err-network-address",
			want: "192.168.1.20/24", check: unchanged},
		{name: "script", path: "/settings/network", form: form("static", "<script>alert(1)</script>", "192.168.1.1", "192.168.1.1"), code: 400, errID: "err-network-address", check: unchanged},
		{name: "gateway outside", path: "/settings/network", form: form("static", "192.168.1.20/24", "192.168.2.1", "192.168.1.1"), code: 400, errID: "err-network-gateway",
			want: "outside the box", check: unchanged},
		{name: "dns none", path: "/settings/network", form: form("static", "192.168.1.20/24", "192.168.1.1", " , "), code: 400, errID: "err-network-dns", check: unchanged},
		{name: "dns four", path: "/settings/network", form: form("static", "192.168.1.20/24", "192.168.1.1", "1.1.1.1, 1.0.0.1 8.8.8.8 8.8.4.4"), code: 400, errID: "err-network-dns",
			want: "at most 3", check: unchanged},
		{name: "dns loopback", path: "/settings/network", form: form("static", "192.168.1.20/24", "192.168.1.1", "127.0.0.53"), code: 400, errID: "err-network-dns",
			want: "loopback", check: unchanged},
		{name: "static", path: "/settings/network", form: form("static", "192.168.1.20/24", "192.168.1.1", "192.168.1.1, 9.9.9.9"), code: 200,
			want: "from its next start", check: func(t *testing.T, s *site) {
				if n := network(t); n.Mode != "static" || n.Address != "192.168.1.20/24" || n.Gateway != "192.168.1.1" || !slices.Equal(n.DNS, []string{"192.168.1.1", "9.9.9.9"}) {
					t.Errorf("saved %+v", n)
				}
			}},
		{name: "same again", path: "/settings/network", form: form("static", "192.168.1.20/24", "192.168.1.1", "192.168.1.1 9.9.9.9"), code: 400, errID: "err-network-mode", want: "already"},
		{name: "dhcp", path: "/settings/network", form: form("dhcp", "", "", ""), code: 200, want: `id="network-mode-dhcp" checked`, check: func(t *testing.T, s *site) {
			if n := network(t); n.Mode != "dhcp" || n.Address != "192.168.1.20/24" {
				t.Errorf("saved %+v (the fixed settings are kept for later)", n)
			}
		}},
	})
	resp, body = b.get("/settings")
	wantStatus(t, resp, body, 200, "settings")
	if !strings.Contains(body, `value="192.168.1.20/24"`) || !strings.Contains(body, `value="192.168.1.1 9.9.9.9"`) {
		t.Errorf("the kept fixed settings are not shown:\n%s", body)
	}
}
