package admin

import (
	"os"
	"slices"
	"strings"
	"testing"

	"postroom/appliance/config"
)

// TestSetNetwork: a fixed address and back to DHCP, each bad input
// refused on its field with config.json untouched, and no restart asked
// for (the box uses it from its next start).
func TestSetNetwork(t *testing.T) {
	e := newEnv(t)
	fixed := SetNetwork{Mode: "static", Address: " 192.168.1.20/24 ", Gateway: "192.168.1.1", DNS: []string{"192.168.1.1", "", "9.9.9.9"}}
	wantFixed := config.NetworkConfig{Mode: "static", Address: "192.168.1.20/24", Gateway: "192.168.1.1", DNS: []string{"192.168.1.1", "9.9.9.9"}}
	sameNet := func(want config.NetworkConfig) func(t *testing.T, e *env, res any) {
		return func(t *testing.T, e *env, res any) {
			t.Helper()
			s := res.(Settings)
			if got := loadConfig(t, e).Network; got.Mode != want.Mode || got.Address != want.Address || got.Gateway != want.Gateway || !slices.Equal(got.DNS, want.DNS) {
				t.Errorf("network in the file: %+v, want %+v", got, want)
			}
			if s.Note != NetworkNote || s.Network.Mode != want.Mode {
				t.Errorf("settings %+v", s)
			}
		}
	}
	bad := func(mod func(*SetNetwork)) SetNetwork {
		r := fixed
		r.DNS = slices.Clone(fixed.DNS)
		mod(&r)
		return r
	}
	refusals := []step{
		{op: SetNetwork{Mode: "manual"}, code: CodeInvalid, field: "mode", want: "automatic (DHCP) or a fixed address"},
		{op: bad(func(r *SetNetwork) { r.Address = "" }), code: CodeInvalid, field: "address", want: "fixed address"},
		{op: bad(func(r *SetNetwork) { r.Address = "192.168.1.20" }), code: CodeInvalid, field: "address", want: "192.168.1.20/24"},
		{op: bad(func(r *SetNetwork) { r.Address = "<b>x</b>" }), code: CodeInvalid, field: "address", want: "not an IPv4 address"},
		{op: bad(func(r *SetNetwork) { r.Address = "127.0.0.2/8" }), code: CodeInvalid, field: "address", want: "loopback"},
		{op: bad(func(r *SetNetwork) { r.Address = "224.1.1.1/24" }), code: CodeInvalid, field: "address", want: "multicast"},
		{op: bad(func(r *SetNetwork) { r.Gateway = "10.0.0.1" }), code: CodeInvalid, field: "gateway", want: "outside the box's network"},
		{op: bad(func(r *SetNetwork) { r.Gateway = "" }), code: CodeInvalid, field: "gateway", want: "router"},
		{op: bad(func(r *SetNetwork) { r.DNS = nil }), code: CodeInvalid, field: "dns", want: "at least one"},
		{op: bad(func(r *SetNetwork) { r.DNS = []string{"1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"} }), code: CodeInvalid, field: "dns", want: "at most 3"},
		{op: bad(func(r *SetNetwork) { r.DNS = []string{"127.0.0.53"} }), code: CodeInvalid, field: "dns", want: "loopback"},
		{op: bad(func(r *SetNetwork) { r.DNS = []string{"dns\r\nnameserver 6.6.6.6"} }), code: CodeInvalid, field: "dns", want: "not an IP address"},
	}
	before, _ := os.ReadFile(e.cfgPath)
	e.run(t, refusals)
	if after, _ := os.ReadFile(e.cfgPath); string(after) != string(before) {
		t.Fatalf("a refused change touched config.json")
	}
	e.run(t, []step{
		{op: fixed, want: "set the fixed network address 192.168.1.20/24 via 192.168.1.1, DNS 192.168.1.1 9.9.9.9", check: sameNet(wantFixed)},
		{op: fixed, code: CodeInvalid, field: "mode", want: "already"},
		// Back to DHCP: the fixed settings stay in the file for next time.
		{op: SetNetwork{Mode: "DHCP"}, want: "automatic (DHCP)", check: sameNet(config.NetworkConfig{Mode: "dhcp", Address: "192.168.1.20/24", Gateway: "192.168.1.1", DNS: wantFixed.DNS})},
	})
	want := []string{
		"save set the fixed network address 192.168.1.20/24 via 192.168.1.1, DNS 192.168.1.1 9.9.9.9, from the next start",
		"save set the network address to automatic (DHCP), from the next start",
	}
	if !slices.Equal(e.applied, want) {
		t.Errorf("Apply calls (never a restart):\n%s", strings.Join(e.applied, "\n"))
	}
}

// A config.json that is wrong elsewhere is not half-saved by a network change.
func TestSetNetworkNothingHalfSaved(t *testing.T) {
	e := newEnv(t)
	c := loadConfig(t, e)
	c.MaxRecipients = 0 // invalid, written by hand
	raw, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	e.run(t, []step{{op: SetNetwork{Mode: "static", Address: "10.0.0.9/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.1"}}, code: CodeInvalid, field: "mode", want: "max_recipients"}})
	if now, _ := os.ReadFile(e.cfgPath); string(now) != string(raw) {
		t.Errorf("the file changed")
	}
	if len(e.applied) != 0 {
		t.Errorf("applied %v", e.applied)
	}
}
