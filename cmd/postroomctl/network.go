package main

// settings network: the box's address (config.json's network section),
// used by the board's init from the next start.

import (
	"fmt"
	"strings"

	"postroom/appliance/admin"
	"postroom/appliance/config"
)

func init() {
	commands = append(commands, command{"settings network", 1, 5, nil, (*ctl).settingsNetwork})
}

// settingsNetwork: "dhcp", or ADDRESS/PREFIX GATEWAY DNS [DNS [DNS]].
func (c *ctl) settingsNetwork(args []string) error {
	req := admin.SetNetwork{Mode: config.NetworkDHCP}
	if !strings.EqualFold(args[0], "dhcp") {
		if len(args) < 3 {
			return usagef("give dhcp, or ADDRESS/PREFIX GATEWAY DNS... (e.g. 192.168.1.20/24 192.168.1.1 192.168.1.1)")
		}
		req = admin.SetNetwork{Mode: config.NetworkStatic, Address: args[0], Gateway: args[1], DNS: args[2:]}
	} else if len(args) > 1 {
		return usagef("dhcp takes nothing after it")
	}
	s, err := call[admin.Settings](c, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "network: %s (%s)\n", networkWords(s.Network), s.Note)
	return nil
}

// networkWords says how the box gets its address.
func networkWords(n config.NetworkConfig) string {
	if n.Mode != config.NetworkStatic {
		return "automatic (DHCP)"
	}
	return fmt.Sprintf("fixed address %s via %s, DNS %s", n.Address, n.Gateway, strings.Join(n.DNS, " "))
}
