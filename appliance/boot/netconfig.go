package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"postroom/appliance/config"
)

// A fixed address set on the web page (issue #14 part 3). It lives in
// config.json on the data disk, the network section (config.Network), and
// the init learns it only once that disk is mounted: the network is
// brought up before (the web page must answer while a data disk waits to
// be formatted), so every wired interface starts on DHCP, and when the
// config asks for a fixed address the first wired interface (the board's
// own port) is switched to it: its DHCP client stops, its other IPv4
// addresses go, the fixed one, the default route and the DNS servers are
// applied the way a lease is (Network.apply), and no DHCP is asked again
// on it. Other interfaces keep DHCP. A change on the page takes effect at
// the next start; a wrong address makes the box unreachable, which the
// factory reset or the file on the SD card undoes.

// StaticLease reads the network section of the config file at path. It
// answers ok=false when the box is on DHCP, which includes a data disk
// with no config.json yet. It reads only that section, so a mistake
// elsewhere in the file (which the appliance reports) does not cost the
// box its address; a fixed address that is wrong is an error, and the
// caller keeps DHCP.
func StaticLease(path string) (l Lease, ok bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("read the network settings: %w", err)
	}
	var file struct {
		Network config.NetworkConfig `json:"network"`
	}
	if err := json.Unmarshal(config.StripComments(raw), &file); err != nil {
		return Lease{}, false, fmt.Errorf("the network settings in %s: %w", path, err)
	}
	n := file.Network
	switch n.Mode {
	case config.NetworkDHCP, "":
		return Lease{}, false, nil
	case config.NetworkStatic:
	default:
		return Lease{}, false, fmt.Errorf("network.mode in %s: %q is not \"dhcp\" or \"static\"", path, n.Mode)
	}
	s, errs := n.Static()
	if len(errs) > 0 {
		return Lease{}, false, fmt.Errorf("the fixed address in %s: %w", path, errors.Join(errs...))
	}
	return Lease{Addr: s.Address, Router: s.Gateway, DNS: s.DNS, Static: true}, true, nil
}

// appConfigPath is the appliance's config.json for the arguments the init
// starts it with: in its -data folder.
func appConfigPath(cfg Config) string {
	dir := filepath.Join(cfg.DataDir, "postroom")
	for i, a := range cfg.Args {
		switch {
		case (a == "-data" || a == "--data") && i+1 < len(cfg.Args):
			dir = cfg.Args[i+1]
		case strings.HasPrefix(a, "-data="), strings.HasPrefix(a, "--data="):
			_, dir, _ = strings.Cut(a, "=")
		}
	}
	return filepath.Join(dir, config.ConfigFile)
}
