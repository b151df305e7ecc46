package admin

import (
	"context"
	"errors"
	"slices"
	"strings"

	"postroom/appliance/config"
)

// The box's network address (config.Network). The board's init reads it
// when the box starts (appliance/boot/netconfig.go); the running appliance
// never touches an interface, so a change waits for the next start and
// nothing restarts now: a wrong address would otherwise cut off the very
// page that set it, with no way to say so.

// SetNetwork sets how the box gets its address: Mode "dhcp" (from the
// office router) or "static" with Address ("192.168.1.20/24"), Gateway
// and one to three DNS servers. In dhcp mode the other fields may be
// empty; the fixed ones saved before are kept for the next switch back.
type SetNetwork struct {
	Mode    string   `json:"mode"`
	Address string   `json:"address,omitempty"`
	Gateway string   `json:"gateway,omitempty"`
	DNS     []string `json:"dns,omitempty"`
}

func (SetNetwork) OpName() string { return "settings.network" }

// NetworkNote is the note of a saved network change.
const NetworkNote = "saved; the box uses it from its next start (until then it keeps its address now)"

func (a *Admin) SetNetwork(ctx context.Context, by Actor, req SetNetwork) (Settings, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetNetwork) (Settings, string, error) {
		n := config.NetworkConfig{Mode: strings.ToLower(strings.TrimSpace(req.Mode))}
		var what string
		switch n.Mode {
		case config.NetworkDHCP:
			what = "set the network address to automatic (DHCP), from the next start"
		case config.NetworkStatic:
			n.Address, n.Gateway = strings.TrimSpace(req.Address), strings.TrimSpace(req.Gateway)
			for _, d := range req.DNS {
				if d = strings.TrimSpace(d); d != "" {
					n.DNS = append(n.DNS, d)
				}
			}
			s, errs := n.Static()
			if len(errs) > 0 {
				var ne *config.NetworkError
				if errors.As(errs[0], &ne) {
					return Settings{}, "", errorf(CodeInvalid, ne.Field, "%s", safe(ne.Message))
				}
				return Settings{}, "", errorf(CodeInvalid, "address", "%s", safe(errs[0].Error()))
			}
			// The file gets the parsed forms, so it reads the same
			// whatever spacing or case was typed.
			n.Address, n.Gateway, n.DNS = s.Address.String(), s.Gateway.String(), nil
			dns := make([]string, 0, len(s.DNS))
			for _, d := range s.DNS {
				n.DNS = append(n.DNS, d.String())
				dns = append(dns, d.String())
			}
			what = "set the fixed network address " + n.Address + " via " + n.Gateway + ", DNS " + strings.Join(dns, " ") + ", from the next start"
		default:
			return Settings{}, "", errorf(CodeInvalid, "mode", "choose automatic (DHCP) or a fixed address")
		}
		s, err := a.changeConfig(by, "mode", what, false, func(c *config.Config) error {
			if n.Mode == config.NetworkDHCP {
				// Keep the fixed settings for the next switch back.
				n.Address, n.Gateway, n.DNS = c.Network.Address, c.Network.Gateway, slices.Clone(c.Network.DNS)
			}
			if c.Network.Mode == n.Mode && c.Network.Address == n.Address && c.Network.Gateway == n.Gateway && slices.Equal(c.Network.DNS, n.DNS) {
				return errorf(CodeInvalid, "mode", "these are the network settings already")
			}
			c.Network = n
			return nil
		})
		if err == nil {
			s.Note = NetworkNote
		}
		return s, what, err
	})
}
