package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"postroom/appliance/config"
)

// Settings is what the settings operations show of config.json. The
// smarthost's password is never shown, only whether there is one.
type Settings struct {
	Hostname  string        `json:"hostname"`
	Domains   []string      `json:"domains"`
	Smarthost SmarthostView `json:"smarthost"`
	Limits    LimitsView    `json:"limits"` // limits.go
	// Network is the address the box takes at its next start (network.go).
	Network config.NetworkConfig `json:"network"`
	// Note says when a change takes effect, e.g. "the services restart
	// now to use it"; empty for a question.
	Note string `json:"note,omitempty"`
}

// SmarthostView is the smarthost without its password.
type SmarthostView struct {
	Host        string `json:"host"`
	Port        int    `json:"port"`
	TLS         string `json:"tls"`
	Username    string `json:"username"`
	HasPassword bool   `json:"has_password"`
}

func settingsOf(c config.Config) Settings {
	sh := c.Queue.Smarthost
	return Settings{
		Hostname: c.Hostname, Domains: slices.Clone(c.Domains),
		Smarthost: SmarthostView{Host: sh.Host, Port: sh.Port, TLS: sh.TLS, Username: sh.Username, HasPassword: sh.Password != ""},
		Limits:    limitsOf(c),
		Network:   config.NetworkConfig{Mode: c.Network.Mode, Address: c.Network.Address, Gateway: c.Network.Gateway, DNS: slices.Clone(c.Network.DNS)},
	}
}

// loadConfig reads config.json as it is on disk now.
func (a *Admin) loadConfig() (config.Config, error) {
	if a.o.ConfigPath == "" {
		return config.Config{}, errorf(CodeConflict, "", "this box has no config file to change")
	}
	c, err := config.Load(a.o.ConfigPath)
	if errors.Is(err, fs.ErrNotExist) {
		return config.Config{}, errorf(CodeConflict, "", "there is no config file at %s", a.o.ConfigPath)
	}
	if err != nil {
		return config.Config{}, internal("reading the config", err)
	}
	return c, nil
}

// changeConfig is every settings change: read config.json, change it,
// validate the whole, write it atomically (temp file, fsync, rename), and
// hand it to the runner (Options.Apply), restarting the services when
// restart is set. field names the request field the config's own checks
// are about.
func (a *Admin) changeConfig(by Actor, field, what string, restart bool, change func(*config.Config) error) (Settings, error) {
	c, err := a.loadConfig()
	if err != nil {
		return Settings{}, err
	}
	if err := change(&c); err != nil {
		return Settings{}, err
	}
	if err := c.Validate(); err != nil {
		var ce *config.ConfigError
		if errors.As(err, &ce) && len(ce.Errs) > 0 {
			return Settings{}, errorf(CodeInvalid, field, "%v", ce.Errs[0])
		}
		return Settings{}, errorf(CodeInvalid, field, "%v", err)
	}
	if err := c.Save(a.o.ConfigPath); err != nil {
		return Settings{}, internal("writing the config", err)
	}
	out := settingsOf(c)
	out.Note = "saved; it takes effect when the appliance starts"
	if !restart {
		out.Note = "saved"
	}
	if a.o.Apply != nil {
		note, err := a.o.Apply(c, restart, what, by)
		if err != nil {
			// Saved, but the running box goes on with the old one.
			a.log.Warn("admin: the saved config is not applied yet", "by", by, "err", err)
			out.Note = fmt.Sprintf("saved, but not applied yet (%v): it takes effect at the next start", err)
		} else if note != "" {
			out.Note = note
		}
	}
	return out, nil
}

// AddDomain adds a mail domain to config.json (the DNS records and checks
// are per domain). Mail is accepted for the addresses of the accounts.
type AddDomain struct {
	Domain string `json:"domain"`
}

func (AddDomain) OpName() string { return "domain.add" }

func (a *Admin) AddDomain(ctx context.Context, by Actor, req AddDomain) (Settings, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req AddDomain) (Settings, string, error) {
		d, err := NormalizeDomain("domain", req.Domain)
		if err != nil {
			return Settings{}, "", err
		}
		what := "added the domain " + d
		s, err := a.changeConfig(by, "domain", what, false, func(c *config.Config) error {
			if slices.ContainsFunc(c.Domains, sameDomain(d)) {
				return errorf(CodeExists, "domain", "%s is a domain of this box already", d)
			}
			c.Domains = append(c.Domains, d)
			return nil
		})
		return s, what, err
	})
}

// sameDomain matches a domain of config.json as written by hand (any
// case, a final dot) against d.
func sameDomain(d string) func(string) bool {
	return func(x string) bool { return strings.EqualFold(strings.TrimSuffix(x, "."), d) }
}

// RemoveDomain removes a mail domain from config.json; refused while an
// account or alias still has an address in it.
type RemoveDomain struct {
	Domain string `json:"domain"`
}

func (RemoveDomain) OpName() string { return "domain.remove" }

func (a *Admin) RemoveDomain(ctx context.Context, by Actor, req RemoveDomain) (Settings, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RemoveDomain) (Settings, string, error) {
		d, err := NormalizeDomain("domain", req.Domain)
		if err != nil {
			return Settings{}, "", err
		}
		if a.st.IsLocalDomain(d) {
			return Settings{}, "", errorf(CodeConflict, "domain", "accounts or aliases still have addresses @%s: remove or rename them first", d)
		}
		what := "removed the domain " + d
		s, err := a.changeConfig(by, "domain", what, false, func(c *config.Config) error {
			i := slices.IndexFunc(c.Domains, sameDomain(d))
			if i < 0 {
				return errorf(CodeNotFound, "domain", "%s is not a domain of this box", d)
			}
			c.Domains = slices.Delete(c.Domains, i, i+1)
			return nil
		})
		return s, what, err
	})
}

// SetHostname sets the box's own DNS name (SMTP greeting, Received
// fields, the generated certificate). The services restart to use it.
type SetHostname struct {
	Hostname string `json:"hostname"`
}

func (SetHostname) OpName() string { return "settings.hostname" }

func (a *Admin) SetHostname(ctx context.Context, by Actor, req SetHostname) (Settings, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetHostname) (Settings, string, error) {
		h, err := NormalizeDomain("hostname", req.Hostname)
		if err != nil {
			return Settings{}, "", errorf(CodeInvalid, "hostname", "%q is not a host name such as mail.example.org", safe(req.Hostname))
		}
		what := "set the host name to " + h
		s, err := a.changeConfig(by, "hostname", what, true, func(c *config.Config) error {
			if c.Hostname == h {
				return errorf(CodeInvalid, "hostname", "the host name is %s already", h)
			}
			c.Hostname = h
			return nil
		})
		return s, what, err
	})
}

// SetSmarthost sends all outgoing mail through a relay (Host), or directly
// again when Host is empty. Password: the relay's; KeepPassword keeps the
// saved one (a form that does not show it). The services restart to use it.
type SetSmarthost struct {
	Host         string `json:"host"`
	Port         int    `json:"port,omitempty"`
	TLS          string `json:"tls,omitempty"` // "starttls" (default), "tls", "none"
	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
	KeepPassword bool   `json:"keep_password,omitempty"`
}

func (SetSmarthost) OpName() string { return "settings.smarthost" }

// LogValue hides the password if the request itself is ever logged.
func (r SetSmarthost) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", r.Host), slog.Int("port", r.Port), slog.String("tls", r.TLS), slog.String("username", r.Username))
}

func (a *Admin) SetSmarthost(ctx context.Context, by Actor, req SetSmarthost) (Settings, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetSmarthost) (Settings, string, error) {
		host := strings.TrimSpace(req.Host)
		sh := config.SmarthostConfig{TLS: "starttls"}
		what := "turned the smarthost off: mail goes straight to the recipients' servers"
		if host != "" {
			h, err := NormalizeDomain("host", host)
			if err != nil {
				return Settings{}, "", errorf(CodeInvalid, "host", "%q is not a server name such as smtp.provider.example", safe(host))
			}
			if req.Port < 0 || req.Port > 65535 {
				return Settings{}, "", errorf(CodeInvalid, "port", "a port is a number from 1 to 65535, or 0 for the usual one")
			}
			tls := strings.ToLower(strings.TrimSpace(req.TLS))
			if tls == "" {
				tls = "starttls"
			}
			if !slices.Contains([]string{"starttls", "tls", "none"}, tls) {
				return Settings{}, "", errorf(CodeInvalid, "tls", "choose starttls, tls or none")
			}
			user := strings.TrimSpace(req.Username)
			if strings.ContainsFunc(user, isControl) || len(user) > 256 {
				return Settings{}, "", errorf(CodeInvalid, "username", "a login has at most 256 characters and no control characters")
			}
			if req.Password != "" && (strings.ContainsFunc(req.Password, isControl) || len(req.Password) > maxPassword) {
				return Settings{}, "", errorf(CodeInvalid, "password", "a password has at most %d characters and no control characters", maxPassword)
			}
			sh = config.SmarthostConfig{Host: h, Port: req.Port, TLS: tls, Username: user, Password: req.Password}
			what = "set the smarthost to " + h
			if req.Port != 0 {
				what += ":" + strconv.Itoa(req.Port)
			}
			what += " (" + tls + ")"
			if user != "" {
				what += " with the login " + user
			}
		}
		s, err := a.changeConfig(by, "host", what, true, func(c *config.Config) error {
			if req.KeepPassword && req.Password == "" && sh.Host != "" {
				sh.Password = c.Queue.Smarthost.Password
			}
			if (sh.Username == "") != (sh.Password == "") {
				return errorf(CodeInvalid, "password", "give both the login and the password of the relay, or neither")
			}
			c.Queue.Smarthost = sh
			return nil
		})
		return s, what, err
	})
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// GetSettings reads the settings.
type GetSettings struct{}

func (GetSettings) OpName() string { return "settings.get" }
func (GetSettings) readOnly()      {}

func (a *Admin) GetSettings(ctx context.Context, by Actor, req GetSettings) (Settings, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req GetSettings) (Settings, string, error) {
		c, err := a.loadConfig()
		if err != nil {
			return Settings{}, "", err
		}
		return settingsOf(c), "", nil
	})
}
