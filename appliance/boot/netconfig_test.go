package boot

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postroom/appliance/config"
)

// TestStaticLease: what the init makes of the network section of the
// data disk's config.json, as the admin layer writes it or as a person
// edits it on the SD card.
func TestStaticLease(t *testing.T) {
	dir := t.TempDir()
	saved := config.Default()
	saved.Network = config.NetworkConfig{Mode: "static", Address: "10.9.0.77/24", Gateway: "10.9.0.1", DNS: []string{"10.9.0.53", "10.9.0.54"}}
	if err := saved.Save(filepath.Join(dir, "saved.json")); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"dhcp.json":      `{"network": {"mode": "dhcp", "address": "10.9.0.77/24"}}`,
		"none.json":      `{"hostname": "mail.example.org"}`,
		"edited.json":    "{\n// by hand\n\"network\": {\"mode\": \"static\", \"address\": \"192.168.5.9/24\", \"gateway\": \"192.168.5.1\", \"dns\": [\"192.168.5.1\"]}}",
		"badaddr.json":   `{"network": {"mode": "static", "address": "192.168.5.9", "gateway": "192.168.5.1", "dns": ["192.168.5.1"]}}`,
		"badmode.json":   `{"network": {"mode": "fixed"}}`,
		"broken.json":    `{"network": `,
		"elsewhere.json": `{"max_recipients": 0, "unknown_field": 1, "network": {"mode": "static", "address": "192.168.5.9/24", "gateway": "192.168.5.1", "dns": ["192.168.5.1"]}}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edited := Lease{Addr: netip.MustParsePrefix("192.168.5.9/24"), Router: netip.MustParseAddr("192.168.5.1"), DNS: []netip.Addr{netip.MustParseAddr("192.168.5.1")}, Static: true}
	tests := []struct {
		file string
		ok   bool
		want Lease
		err  string
	}{
		{file: "saved.json", ok: true, want: Lease{Addr: netip.MustParsePrefix("10.9.0.77/24"), Router: netip.MustParseAddr("10.9.0.1"),
			DNS: []netip.Addr{netip.MustParseAddr("10.9.0.53"), netip.MustParseAddr("10.9.0.54")}, Static: true}},
		{file: "edited.json", ok: true, want: edited},
		{file: "elsewhere.json", ok: true, want: edited}, // the appliance reports the rest
		{file: "dhcp.json"},
		{file: "none.json"},
		{file: "missing.json"}, // a new data disk
		{file: "badaddr.json", err: "192.168.5.9/24"},
		{file: "badmode.json", err: `"fixed" is not "dhcp" or "static"`},
		{file: "broken.json", err: "the network settings in"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			l, ok, err := StaticLease(filepath.Join(dir, tt.file))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || ok {
					t.Fatalf("StaticLease = %v, %v, %v; want an error with %q", l, ok, err, tt.err)
				}
				return
			}
			if err != nil || ok != tt.ok || l.String() != tt.want.String() || l.Static != tt.want.Static {
				t.Fatalf("StaticLease = %v, %v, %v; want %v, %v", l, ok, err, tt.want, tt.ok)
			}
		})
	}
	if got := string(resolvConf(edited)); got != "# written by postroom-init from the network settings (config.json)\nnameserver 192.168.5.1\n" {
		t.Errorf("resolv.conf %q", got)
	}
}

func TestAppConfigPath(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{DataDir: "/data"}, "/data/postroom/config.json"},
		{Config{DataDir: "/data", Args: []string{"-data", "/data/other"}}, "/data/other/config.json"},
		{Config{DataDir: "/data", Args: []string{"-v", "--data=/mnt/p"}}, "/mnt/p/config.json"},
	} {
		if got := appConfigPath(tt.cfg); got != tt.want {
			t.Errorf("appConfigPath(%v) = %s, want %s", tt.cfg.Args, got, tt.want)
		}
	}
}
