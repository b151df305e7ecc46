package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNetworkConfig: the network section's checks, one bad input per row,
// each reported on its field in words a person can act on.
func TestNetworkConfig(t *testing.T) {
	good := NetworkConfig{Mode: NetworkStatic, Address: "192.168.1.20/24", Gateway: "192.168.1.1", DNS: []string{"192.168.1.1"}}
	tests := []struct {
		name  string
		mod   func(*NetworkConfig)
		field string // "" for no error
		words string
	}{
		{"good", func(n *NetworkConfig) {}, "", ""},
		{"good three dns", func(n *NetworkConfig) { n.DNS = []string{"192.168.1.1", "9.9.9.9", "2620:fe::fe"} }, "", ""},
		{"good small network", func(n *NetworkConfig) { n.Address, n.Gateway = "10.0.0.5/30", "10.0.0.6" }, "", ""},
		{"dhcp ignores fixed fields", func(n *NetworkConfig) { n.Mode, n.Address, n.DNS = NetworkDHCP, "junk", nil }, "", ""},
		{"mode", func(n *NetworkConfig) { n.Mode = "manual" }, "mode", `"manual" is not "dhcp" or "static"`},
		{"mode empty is dhcp", func(n *NetworkConfig) { n.Mode = "" }, "", ""},
		{"address empty", func(n *NetworkConfig) { n.Address = "" }, "address", "give the box's fixed address"},
		{"address without prefix", func(n *NetworkConfig) { n.Address = "192.168.1.20" }, "address", "192.168.1.20/24"},
		{"address words", func(n *NetworkConfig) { n.Address = "my box" }, "address", "not an IPv4 address"},
		{"address ipv6", func(n *NetworkConfig) { n.Address = "fd00::20/64" }, "address", "not an IPv4 address"},
		{"address prefix too small", func(n *NetworkConfig) { n.Address = "192.168.1.20/31" }, "address", "/31 is unusual"},
		{"address prefix too large", func(n *NetworkConfig) { n.Address = "10.1.2.3/4" }, "address", "/4 is unusual"},
		{"address loopback", func(n *NetworkConfig) { n.Address, n.Gateway = "127.0.0.5/8", "127.0.0.1" }, "address", "loopback"},
		{"address multicast", func(n *NetworkConfig) { n.Address = "224.0.0.5/24" }, "address", "multicast"},
		{"address link-local", func(n *NetworkConfig) { n.Address, n.Gateway = "169.254.3.4/16", "169.254.0.1" }, "address", "link-local"},
		{"address network", func(n *NetworkConfig) { n.Address = "192.168.1.0/24" }, "address", "first or last"},
		{"address broadcast", func(n *NetworkConfig) { n.Address = "192.168.1.255/24" }, "address", "first or last"},
		{"gateway empty", func(n *NetworkConfig) { n.Gateway = "" }, "gateway", "office router"},
		{"gateway words", func(n *NetworkConfig) { n.Gateway = "router" }, "gateway", "not an IPv4 address"},
		{"gateway outside", func(n *NetworkConfig) { n.Gateway = "192.168.2.1" }, "gateway", "outside the box's network 192.168.1.0/24"},
		{"gateway is the box", func(n *NetworkConfig) { n.Gateway = "192.168.1.20" }, "gateway", "box's own address"},
		{"gateway broadcast", func(n *NetworkConfig) { n.Gateway = "192.168.1.255" }, "gateway", "first or last"},
		{"gateway multicast", func(n *NetworkConfig) { n.Gateway = "239.1.1.1" }, "gateway", "multicast"},
		{"dns none", func(n *NetworkConfig) { n.DNS = nil }, "dns", "at least one"},
		{"dns four", func(n *NetworkConfig) { n.DNS = []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "192.168.1.1"} }, "dns", "at most 3"},
		{"dns words", func(n *NetworkConfig) { n.DNS = []string{"dns.example"} }, "dns", "not an IP address"},
		{"dns loopback", func(n *NetworkConfig) { n.DNS = []string{"127.0.0.53"} }, "dns", "loopback"},
		{"dns multicast", func(n *NetworkConfig) { n.DNS = []string{"ff02::fb"} }, "dns", "multicast"},
		{"dns unspecified", func(n *NetworkConfig) { n.DNS = []string{"0.0.0.0"} }, "dns", "no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Network = good
			tt.mod(&c.Network)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var ne *NetworkError
			if !errors.As(err, &ne) || ne.Field != tt.field || !strings.Contains(ne.Message, tt.words) {
				t.Fatalf("Validate = %v; want network.%s saying %q", err, tt.field, tt.words)
			}
			if !strings.Contains(err.Error(), "network."+tt.field+": ") {
				t.Errorf("%q does not name the field as in the file", err)
			}
		})
	}
	s, errs := good.Static()
	if len(errs) != 0 || s.Address != netip.MustParsePrefix("192.168.1.20/24") || s.Gateway != netip.MustParseAddr("192.168.1.1") ||
		len(s.DNS) != 1 || s.DNS[0] != netip.MustParseAddr("192.168.1.1") {
		t.Errorf("Static = %+v, %v", s, errs)
	}
}

// TestNetworkConfigFile: a new box is on DHCP; the section survives Save
// and Load, and a misspelt field in it is reported with its line and the
// name it should have.
func TestNetworkConfigFile(t *testing.T) {
	if m := Default().Network.Mode; m != NetworkDHCP {
		t.Fatalf("default mode %q", m)
	}
	path := filepath.Join(t.TempDir(), ConfigFile)
	c := Default()
	c.Network = NetworkConfig{Mode: NetworkStatic, Address: "10.1.0.9/16", Gateway: "10.1.0.1", DNS: []string{"10.1.0.1", "10.1.0.2"}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Network.Address != "10.1.0.9/16" || got.Network.Gateway != "10.1.0.1" || len(got.Network.DNS) != 2 || got.Validate() != nil {
		t.Fatalf("loaded %+v (%v)", got.Network, got.Validate())
	}
	if err := os.WriteFile(path, []byte("{\n\"network\": {\n  \"mode\": \"static\",\n  \"adress\": \"10.1.0.9/16\"\n}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), `line 4: unknown field "network.adress" (did you mean "network.address"?)`) {
		t.Fatalf("Load = %v", err)
	}
}
