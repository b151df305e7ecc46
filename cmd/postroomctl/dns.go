package main

// dns [DOMAIN]: the DNS records a mail domain needs, in zone-file syntax,
// from config.json (hostname, domains, which services listen) and the DKIM
// keys in DATA/dkim (made here if missing and the appliance is stopped).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"strings"

	"postroom/appliance/dkim"
)

func (c *ctl) dns(args []string) error {
	if err := checkDataFolder(c.data); err != nil {
		return err
	}
	cfg := config.Default()
	path := filepath.Join(c.data, config.ConfigFile)
	if _, err := os.Stat(path); err == nil {
		if cfg, err = config.Load(path); err != nil {
			return err
		}
	} else {
		cfg.DataDir = c.data
	}
	domains := cfg.Domains
	if len(args) == 1 {
		domains = []string{args[0]}
	}
	if len(domains) == 0 {
		return usagef("config.json lists no domains: give one, e.g. postroomctl dns example.org")
	}
	// Keys are made only while the appliance is stopped: a key written
	// behind its back would not be the one it signs with.
	running, err := storeLocked(storeDir(c.data))
	if err != nil {
		return err
	}
	keys := dkim.New(filepath.Join(cfg.DataDir, "dkim"))
	for i, d := range domains {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		var dk *dkim.DomainKeys
		if running {
			dk, err = keys.Existing(d)
		} else {
			dk, err = keys.Domain(d)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := writeZone(c.stdout, cfg, d, dk); err != nil {
			return err
		}
	}
	return nil
}

// writeZone prints one domain's records. dk nil: no DKIM keys yet.
func writeZone(w io.Writer, cfg config.Config, domain string, dk *dkim.DomainKeys) error {
	d := strings.ToLower(strings.TrimSuffix(domain, ".")) + "."
	host := strings.ToLower(strings.TrimSuffix(cfg.Hostname, ".")) + "."
	var b strings.Builder
	rr := func(name, typ, value string) { fmt.Fprintf(&b, "%-34s 3600 IN %-5s %s\n", name, typ, value) }

	fmt.Fprintf(&b, "; Postroom: DNS records for %s (this box: %s)\n", strings.TrimSuffix(d, "."), strings.TrimSuffix(host, "."))
	fmt.Fprintf(&b, "; %s also needs an A (and AAAA) record with the public address, and\n", host)
	fmt.Fprintf(&b, "; that address a PTR record naming %s (ask the internet provider).\n", host)
	fmt.Fprintln(&b, "; Incoming mail: this box receives the domain's mail (RFC 5321 5.1).")
	rr(d, "MX", "10 "+host)
	fmt.Fprintln(&b, "; SPF (RFC 7208): only the domain's MX hosts send its mail.")
	spf := "v=spf1 mx -all"
	if sh := cfg.Queue.Smarthost.Host; sh != "" {
		spf = "v=spf1 mx a:" + sh + " -all"
		fmt.Fprintf(&b, "; Mail leaves through the smarthost %s: if your provider publishes an SPF\n", sh)
		fmt.Fprintln(&b, "; record to include, use \"include:...\" in place of \"a:...\".")
	}
	rr(d, "TXT", dkim.ZoneText(spf))
	if dk == nil {
		fmt.Fprintln(&b, "; DKIM: no keys yet; they are made on the first outgoing message, or by")
		fmt.Fprintln(&b, "; running this command while the appliance is stopped.")
	} else {
		recs, err := dk.Records()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "; DKIM (RFC 6376): two keys, selectors %s (RSA) and %s (Ed25519, RFC 8463).\n", dkim.SelectorRSA, dkim.SelectorEd25519)
		for _, r := range recs {
			rr(r.Name, "TXT", dkim.ZoneText(r.Value))
		}
	}
	fmt.Fprintln(&b, "; DMARC (RFC 7489): mail failing both SPF and DKIM alignment goes to the junk folder;")
	fmt.Fprintln(&b, "; reports go to postmaster. Use p=none while you first check that all your mail passes.")
	rr("_dmarc."+d, "TXT", dkim.ZoneText("v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@"+strings.TrimSuffix(d, ".")))
	fmt.Fprintln(&b, "; Mail programs set themselves up (Thunderbird autoconfig, Outlook Autodiscover):")
	rr("autoconfig."+d, "CNAME", host)
	rr("autodiscover."+d, "CNAME", host)
	fmt.Fprintln(&b, "; RFC 6186 / RFC 8314 service records; \".\" means the service is off.")
	fmt.Fprintln(&b, "; Lower priority is preferred: TLS from the first byte, then IMAP over POP3.")
	for _, s := range []struct {
		name   string
		prio   int
		port   int
		listen string
	}{
		{"_submissions._tcp.", 0, 465, cfg.Listen.Submissions},
		{"_submission._tcp.", 10, 587, cfg.Listen.Submission},
		{"_imaps._tcp.", 0, 993, cfg.Listen.IMAPS},
		{"_imap._tcp.", 10, 143, cfg.Listen.IMAP},
		{"_pop3s._tcp.", 20, 995, cfg.Listen.POP3S},
		{"_pop3._tcp.", 30, 110, cfg.Listen.POP3},
	} {
		if s.listen == "" {
			rr(s.name+d, "SRV", "0 0 0 .")
			continue
		}
		rr(s.name+d, "SRV", fmt.Sprintf("%d 1 %d %s", s.prio, s.port, host))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
