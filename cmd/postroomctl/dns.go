package main

// dns [DOMAIN]: the DNS records a mail domain needs, in zone-file syntax,
// from config.json (hostname, domains, which services listen) and the DKIM
// keys in DATA/dkim (made here if missing and the appliance is stopped).
// The records themselves come from appliance/dnsrecords, which the web
// page's DNS check uses too.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"postroom/appliance/config"
	"postroom/appliance/dkim"
	"postroom/appliance/dnsrecords"
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
		zone, err := dnsrecords.For(cfg, d, dk)
		if err != nil {
			return err
		}
		if err := zone.Write(c.stdout); err != nil {
			return err
		}
	}
	return nil
}
