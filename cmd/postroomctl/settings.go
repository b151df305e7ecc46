package main

// domains and settings: the mail domains, the host name and the smarthost
// in config.json, through the admin layer. On a running box the host name
// and the smarthost make its services restart (a few seconds) to use them.

import (
	"fmt"
	"strconv"
	"strings"

	"postroom/appliance/admin"
)

func init() {
	commands = append(commands,
		command{"domains list", 0, 0, nil, (*ctl).domainsList},
		command{"domains add", 1, 1, nil, (*ctl).domainsAdd},
		command{"domains remove", 1, 1, nil, (*ctl).domainsRemove},
		command{"settings hostname", 1, 1, nil, (*ctl).settingsHostname},
		command{"settings smarthost", 1, 1, []string{"port", "tls", "user", "password-stdin"}, (*ctl).settingsSmarthost},
		command{"settings limits", 3, 3, nil, (*ctl).settingsLimits},
		command{"settings", 0, 0, nil, (*ctl).settingsShow},
	)
}

// settingsSynopsis is the help of these commands.
const settingsSynopsis = `
Domains and settings (config.json):
  domains list                         the mail domains of this box
  domains add DOMAIN                   add a mail domain (e.g. bücher.example)
  domains remove DOMAIN                remove one that no address uses any more
  settings                             host name, domains and smarthost
  settings hostname NAME               the box's own DNS name (mail.example.org)
  settings smarthost HOST|off [-port N] [-tls starttls|tls|none] [-user LOGIN [-password-stdin]]
                                       send all outgoing mail through HOST (your provider's
                                       relay); off: straight to the recipients' servers.
                                       A running box restarts its services to use a new
                                       host name or smarthost (a few seconds).
  settings limits SIZE RECIPIENTS CONNECTIONS
                                       the largest message (e.g. 50M), the most recipients
                                       of one message, the most connections per service;
                                       - keeps one as it is. The services restart.
  settings network dhcp|ADDRESS/PREFIX GATEWAY DNS [DNS [DNS]]
                                       the box's address from its next start: from the
                                       router, or fixed (e.g. 192.168.1.20/24 192.168.1.1
                                       192.168.1.1). A wrong one makes the box unreachable
                                       until config.json on the SD card says dhcp again.
`

func (c *ctl) domainsList(args []string) error {
	s, err := call[admin.Settings](c, admin.GetSettings{})
	if err != nil {
		return err
	}
	if len(s.Domains) == 0 {
		fmt.Fprintln(c.stdout, "no mail domains yet: add one with postroomctl domains add DOMAIN")
		return nil
	}
	for _, d := range s.Domains {
		fmt.Fprintln(c.stdout, d)
	}
	return nil
}

func (c *ctl) domainsAdd(args []string) error {
	s, err := call[admin.Settings](c, admin.AddDomain{Domain: args[0]})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "mail domains: %s (%s)\n", strings.Join(s.Domains, ", "), s.Note)
	return nil
}

func (c *ctl) domainsRemove(args []string) error {
	s, err := call[admin.Settings](c, admin.RemoveDomain{Domain: args[0]})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "mail domains: %s (%s)\n", dash(strings.Join(s.Domains, ", ")), s.Note)
	return nil
}

func (c *ctl) settingsShow(args []string) error {
	s, err := call[admin.Settings](c, admin.GetSettings{})
	if err != nil {
		return err
	}
	t := newTable(c.stdout)
	t.row("host name", s.Hostname)
	t.row("mail domains", dash(strings.Join(s.Domains, ", ")))
	t.row("smarthost", smarthost(s.Smarthost))
	l := s.Limits
	t.row("network", networkWords(s.Network)+" (from the next start)")
	t.row("limits", fmt.Sprintf("messages up to %s, %d recipients each, %d connections per service",
		formatSize(l.MaxMessageBytes), l.MaxRecipients, l.MaxConnections))
	return t.flush()
}

// settingsLimits sets the limits; "-" keeps one.
func (c *ctl) settingsLimits(args []string) error {
	var req admin.SetLimits
	if args[0] != "-" {
		n, err := parseSize(args[0])
		if err != nil {
			return usagef("%q is not a size: write e.g. 50M", args[0])
		}
		req.MaxMessageBytes = n
	}
	for i, p := range []*int{&req.MaxRecipients, &req.MaxConnections} {
		a := args[i+1]
		if a == "-" {
			continue
		}
		n, err := strconv.Atoi(a)
		if err != nil || n <= 0 {
			return usagef("%q is not a number above 0", a)
		}
		*p = n
	}
	s, err := call[admin.Settings](c, req)
	if err != nil {
		return err
	}
	l := s.Limits
	fmt.Fprintf(c.stdout, "limits: messages up to %s, %d recipients each, %d connections per service (%s)\n",
		formatSize(l.MaxMessageBytes), l.MaxRecipients, l.MaxConnections, s.Note)
	return nil
}

func smarthost(sh admin.SmarthostView) string {
	if sh.Host == "" {
		return "none: mail goes straight to the recipients' servers"
	}
	s := sh.Host
	if sh.Port != 0 {
		s += fmt.Sprintf(":%d", sh.Port)
	}
	s += " (" + sh.TLS + ")"
	if sh.Username != "" {
		s += ", login " + sh.Username
	}
	return s
}

func (c *ctl) settingsHostname(args []string) error {
	s, err := call[admin.Settings](c, admin.SetHostname{Hostname: args[0]})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "host name: %s (%s)\n", s.Hostname, s.Note)
	return nil
}

func (c *ctl) settingsSmarthost(args []string) error {
	req := admin.SetSmarthost{Host: args[0], Port: c.port, TLS: c.tls, Username: c.login}
	if strings.EqualFold(args[0], "off") || strings.EqualFold(args[0], "none") {
		req = admin.SetSmarthost{}
	} else if c.login != "" {
		if !c.passwordStdin {
			if fd, ok := terminal(c.stdin); ok {
				fmt.Fprintf(c.stderr, "Password of %s at %s: ", c.login, args[0])
				pw, err := readSecret(fd, c.stderr)
				if err != nil {
					return err
				}
				req.Password = string(pw)
			} else {
				c.passwordStdin = true
			}
		}
		if c.passwordStdin {
			pw, err := c.newPassword(c.login)
			if err != nil {
				return err
			}
			req.Password = pw
		}
	}
	s, err := call[admin.Settings](c, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "smarthost: %s (%s)\n", smarthost(s.Smarthost), s.Note)
	return nil
}
