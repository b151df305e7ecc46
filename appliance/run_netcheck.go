package appliance

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"postroom/appliance/admin"
	"postroom/appliance/dkim"
	"postroom/appliance/dnsrecords"
	"postroom/appliance/netcheck"
	"postroom/appliance/status"
)

// The DNS and connectivity check (appliance/netcheck): the records every
// domain needs against what DNS answers, the host's reverse DNS, port 25
// out and in. It runs in the background at start, every few hours, when a
// domain is added or removed, and when the DNS page asks; its summary goes
// on the status Bus (Snapshot.DNS), where a wrong or missing MX or SPF
// record lights the red LED. The web page's /dns shows the whole report.

// dnsChecker returns this start's check, made on first use (the web page
// is built before the workers start).
func (r *runner) dnsChecker() *netcheck.Checker {
	if r.netcheck != nil {
		return r.netcheck
	}
	cfg := r.cfg
	if _, err := r.dkimKeys(); err != nil { // now, before the check's goroutine asks
		r.log.Error("DKIM keys", "err", err)
	}
	o := netcheck.Options{
		Resolver: r.resolver,
		Zones:    r.dnsZones,
		Probe:    cfg.Port25Probe,
		Logger:   r.log.With("part", "dns-check"),
		OnReport: func(rep netcheck.Report) {
			st := rep.Status()
			r.update(func(s *status.Snapshot) { s.DNS = st })
		},
	}
	if cfg.Dev {
		// Nothing leaves the machine (run_dev.go): connections only to
		// this machine, the MX tried on the configured SMTP port.
		o.Dial = loopbackDial
		o.ProbeOff = "development mode never reaches the internet"
		if _, port, err := net.SplitHostPort(cfg.Listen.SMTP); err == nil {
			o.SMTPPort, _ = strconv.Atoi(port)
		}
	}
	r.netcheck = netcheck.New(o)
	c := r.netcheck
	r.addWorker("dns-check", func(ctx context.Context) error {
		go r.recheckOnDomainChange(ctx, c)
		return c.Run(ctx)
	})
	return c
}

// recheckOnDomainChange asks for a check after an administrator added or
// removed a domain (postroomctl or the web page), until ctx ends.
func (r *runner) recheckOnDomainChange(ctx context.Context, c *netcheck.Checker) {
	ch, cancel := r.bus.Subscribe()
	defer cancel()
	seen := r.bus.Latest().LastChange.Seq
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		last := r.bus.Latest().LastChange
		if last.Seq != seen && strings.HasPrefix(last.Op, "domain.") {
			c.Recheck()
		}
		seen = last.Seq
	}
}

// dnsZones is netcheck.Options.Zones: the records of every domain as the
// config on disk lists them now (domains are added while the box runs),
// with their DKIM keys, made here if the domain has none yet so that they
// can be published before the first message is sent.
func (r *runner) dnsZones(ctx context.Context) ([]dnsrecords.Zone, error) {
	cfg := r.cfg
	if r.admin != nil {
		s, err := admin.Call[admin.Settings](ctx, r.admin, "dns check", admin.GetSettings{})
		if err != nil {
			return nil, err
		}
		cfg.Domains = s.Domains
	}
	keys, err := r.dkimKeys()
	if err != nil {
		return nil, err
	}
	var zones []dnsrecords.Zone
	for _, d := range cfg.Domains {
		dk, err := keys.Domain(d)
		if err != nil {
			return nil, err
		}
		z, err := dnsrecords.For(cfg, d, dk)
		if err != nil {
			return nil, err
		}
		zones = append(zones, z)
	}
	return zones, nil
}

// dkimKeys returns the one set of DKIM keys of this start (DATA/dkim),
// shared by the outbound queue's signatures and the DNS check's records,
// so that a key is never made twice.
func (r *runner) dkimKeys() (*dkim.Keys, error) {
	if r.dkim != nil {
		return r.dkim, nil
	}
	dataDir, err := filepath.Abs(r.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	r.dkim = dkim.New(filepath.Join(dataDir, "dkim"))
	return r.dkim, nil
}
