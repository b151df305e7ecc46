package main

import (
	"path/filepath"
	"testing"

	"postroom/appliance/config"
)

// TestSettingsNetwork: settings network on a stopped box: a fixed address,
// bad ones refused with the field's words, and back to DHCP.
func TestSettingsNetwork(t *testing.T) {
	data := newData(t)
	if err := config.DevDefault(data).Save(filepath.Join(data, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	runSteps(t, data, []ctlStep{
		{[]string{"settings"}, "", 0, []string{"automatic (DHCP) (from the next start)"}, nil},
		{[]string{"settings", "network", "192.168.1.20/24", "192.168.1.1", "192.168.1.1", "9.9.9.9"}, "", 0,
			[]string{"network: fixed address 192.168.1.20/24 via 192.168.1.1, DNS 192.168.1.1 9.9.9.9 (saved; the box uses it from its next start"}, nil},
		{[]string{"settings"}, "", 0, []string{"fixed address 192.168.1.20/24 via 192.168.1.1"}, nil},
		{[]string{"settings", "network", "192.168.1.20"}, "", 2, nil, []string{"give dhcp, or ADDRESS/PREFIX"}},
		{[]string{"settings", "network", "dhcp", "now"}, "", 2, nil, []string{"dhcp takes nothing"}},
		{[]string{"settings", "network", "192.168.1.20/24", "10.0.0.1", "192.168.1.1"}, "", 1, nil, []string{"outside the box's network"}},
		{[]string{"settings", "network", "DHCP"}, "", 0, []string{"network: automatic (DHCP)"}, nil},
	})
}
