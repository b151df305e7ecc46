package main

import (
	"fmt"
	"slices"
	"strings"

	"postroom/appliance/admin"
)

// checkAddress accepts "local@domain" and the catch-all "@domain", with the
// admin layer's own check, as a mistake in the command line.
func checkAddress(addr string) error {
	if _, err := admin.NormalizeAddress("address", addr, true); err != nil {
		return usagef("%q is not an address: write e.g. info@example.org, or @example.org for every address of the domain", addr)
	}
	return nil
}

func (c *ctl) aliasAdd(args []string) error {
	if err := checkAddress(args[0]); err != nil {
		return err
	}
	r, err := call[admin.AddressResult](c, admin.AddAddress{Address: args[0], Account: args[1], Move: c.move})
	if ae, ok := adminError(err); ok && ae.Code == admin.CodeExists && !c.move {
		return fmt.Errorf("%s; to move it: postroomctl alias add %s %s -move", ae.Message, args[0], args[1])
	}
	if err != nil {
		return err
	}
	if c.move {
		fmt.Fprintf(c.stdout, "mail for %s now goes to %s\n", r.Address, r.Account)
		return nil
	}
	if r.CatchAll {
		fmt.Fprintf(c.stdout, "mail for any other address %s now goes to %s\n", r.Address, r.Account)
		return nil
	}
	fmt.Fprintf(c.stdout, "mail for %s now goes to %s\n", r.Address, r.Account)
	return nil
}

func (c *ctl) aliasRemove(args []string) error {
	if err := checkAddress(args[0]); err != nil {
		return err
	}
	r, err := call[admin.AddressResult](c, admin.RemoveAddress{Address: args[0]})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "mail for %s is no longer accepted\n", r.Address)
	return nil
}

func (c *ctl) aliasList(args []string) error {
	l, err := call[admin.AccountList](c, admin.ListAccounts{})
	if err != nil {
		return err
	}
	type row struct{ addr, kind, name string }
	var rows []row
	for _, a := range l.Accounts {
		for _, ad := range a.Addresses {
			kind := "alias"
			switch {
			case strings.EqualFold(ad, a.Name):
				kind = "login"
			case strings.HasPrefix(ad, "@"):
				kind = "catch-all"
			}
			rows = append(rows, row{ad, kind, a.Name})
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(c.stdout, "no addresses yet: add an account with postroomctl users add NAME")
		return nil
	}
	// By domain, then address, so a domain's catch-all sits with its addresses.
	slices.SortFunc(rows, func(x, y row) int {
		dx, dy := x.addr[strings.LastIndexByte(x.addr, '@')+1:], y.addr[strings.LastIndexByte(y.addr, '@')+1:]
		if d := strings.Compare(dx, dy); d != 0 {
			return d
		}
		return strings.Compare(x.addr, y.addr)
	})
	t := newTable(c.stdout, "ADDRESS", "KIND", "ACCOUNT")
	for _, r := range rows {
		t.row(r.addr, r.kind, r.name)
	}
	return t.flush()
}
