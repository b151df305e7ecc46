package boot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"postroom/appliance/config"
)

// TestNetworkStatic: the fixed address of config.json replaces the
// link-local address eth0 took without a DHCP server (none runs here):
// eth0 has the fixed address only, the default route goes via the
// configured router, resolv.conf names the configured DNS servers, and the
// other host on the cable reaches the box at the fixed address.
func TestNetworkStatic(t *testing.T) {
	box, lan := twoHosts(t)
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	c := config.Default()
	c.Network = config.NetworkConfig{Mode: "static", Address: "10.9.0.77/24", Gateway: "10.9.0.1", DNS: []string{"10.9.0.53", "10.9.0.54"}}
	cfgPath := filepath.Join(dir, config.ConfigFile)
	if err := c.Save(cfgPath); err != nil {
		t.Fatal(err)
	}
	l, ok, err := StaticLease(cfgPath)
	if err != nil || !ok {
		t.Fatalf("StaticLease: %v, %v", ok, err)
	}
	var said []string
	var ln net.Listener
	inNetns(t, box, func() {
		n := &Network{Iface: "eth0", ResolvConf: resolv, Timeout: time.Second,
			Say: func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) }}
		if first, err := n.Up(context.Background()); err != nil || !first.LinkLocal {
			t.Fatalf("Up without DHCP: %v, %v", first, err)
		}
		if err := n.Static(l); err != nil {
			t.Fatal(err)
		}
		checkIPv4(t, "eth0", "10.9.0.77/24", net.IPv4(10, 9, 0, 1))
		ln, err = net.Listen("tcp", "10.9.0.77:0") // only an address the box has can be bound
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	data, _ := os.ReadFile(resolv)
	if string(data) != "# written by postroom-init from the network settings (config.json)\nnameserver 10.9.0.53\nnameserver 10.9.0.54\n" {
		t.Errorf("resolv.conf: %q", data)
	}
	if len(said) != 2 || !strings.Contains(said[1], "network eth0: 10.9.0.77/24 via 10.9.0.1, DNS 10.9.0.53 10.9.0.54 (the fixed address of the settings)") {
		t.Errorf("console: %q", said)
	}
	accepted := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			conn.Close()
		}
		accepted <- err
	}()
	inNetns(t, lan, func() {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), 30*time.Second)
		if err != nil {
			t.Fatalf("the other host cannot reach the fixed address: %v", err)
		}
		conn.Close()
	})
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
}

// TestUseConfigRefusals: a wrong fixed address, or no interface to put it
// on, leaves the network as it is and says why on the console.
func TestUseConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"network": {"mode": "static", "address": "10.9.0.77/24", "gateway": "10.8.0.1", "dns": ["10.9.0.53"]}}`), 0o600)
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"network": {"mode": "static", "address": "10.9.0.77/24", "gateway": "10.9.0.1", "dns": ["10.9.0.53"]}}`), 0o600)
	dhcp := filepath.Join(dir, "dhcp.json")
	os.WriteFile(dhcp, []byte(`{"network": {"mode": "dhcp"}}`), 0o600)
	for _, tt := range []struct {
		path string
		rs   *netRuns
		want string
	}{
		{bad, &netRuns{}, "outside the box's network 10.9.0.0/24: it must be one of the addresses there; keeping DHCP"},
		{good, nil, "no wired interface for the fixed address 10.9.0.77/24"},
		{good, &netRuns{}, "no wired interface for the fixed address 10.9.0.77/24"},
		{dhcp, nil, ""},
	} {
		var said []string
		tt.rs.useConfig(context.Background(), tt.path, func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) })
		if got := strings.Join(said, "\n"); tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%s: console %q, want %q", filepath.Base(tt.path), got, tt.want)
		}
	}
}

// checkIPv4 checks, inside the box's namespace, that iface has addr as its
// only IPv4 address and a default route via gw.
func checkIPv4(t *testing.T, iface, addr string, gw net.IP) {
	t.Helper()
	link, err := netlink.LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != addr {
		t.Errorf("%s's addresses: %v, want %s only", iface, addrs, addr)
	}
	routes, _ := netlink.RouteList(link, netlink.FAMILY_V4)
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.Equal(gw) {
			return
		}
	}
	t.Errorf("no default route via %s: %v", gw, routes)
}

// TestUseConfigSwitch: the init's order on a box with a fixed address.
// DHCP starts on eth0 at once (nobody answers: it is still asking), the
// data disk's config.json asks for a fixed address, and useConfig stops
// the DHCP client before it falls back to link-local and puts the fixed
// address on eth0. The DHCP client runs in its own goroutines, which a
// locked thread's namespace does not reach, so the test runs again in a
// child process that unshare(1) puts in a network namespace of its own.
func TestUseConfigSwitch(t *testing.T) {
	if os.Getenv("POSTROOM_NETNS_CHILD") == "" {
		if os.Geteuid() != 0 {
			t.Skip("network namespaces need root")
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("no unshare(1)")
		}
		cmd := exec.Command(unshare, "--net", os.Args[0], "-test.run=^TestUseConfigSwitch$", "-test.v")
		cmd.Env = append(os.Environ(), "POSTROOM_NETNS_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in a network namespace: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestUseConfigSwitch") {
			t.Fatalf("the child did not run the test:\n%s", out)
		}
		return
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "lan0"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	lan0, _ := netlink.LinkByName("lan0")
	netlink.LinkSetUp(lan0)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, config.ConfigFile)
	c := config.Default()
	c.Network = config.NetworkConfig{Mode: "static", Address: "10.9.0.77/24", Gateway: "10.9.0.1", DNS: []string{"10.9.0.53"}}
	if err := c.Save(cfgPath); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var said []string
	say := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		said = append(said, fmt.Sprintf(f, a...))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rs := &netRuns{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// A minute to ask: the switch, not the timeout, must end the asking.
	rs.start(ctx, &Network{Iface: "eth0", Say: say, ResolvConf: filepath.Join(dir, "resolv.conf"), Timeout: time.Minute})
	rs.useConfig(ctx, cfgPath, say)
	checkIPv4(t, "eth0", "10.9.0.77/24", net.IPv4(10, 9, 0, 1))
	mu.Lock()
	defer mu.Unlock()
	if len(said) != 1 || !strings.Contains(said[0], "network eth0: 10.9.0.77/24 via 10.9.0.1") {
		t.Errorf("console: %q (no link-local address, no error on the way)", said)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "resolv.conf")); !strings.Contains(string(data), "nameserver 10.9.0.53\n") {
		t.Errorf("resolv.conf: %q", data)
	}
}
