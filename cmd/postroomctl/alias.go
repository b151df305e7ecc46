package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"postroom/storage"
)

// checkAddress accepts "local@domain" and the catch-all "@domain".
func checkAddress(addr string) error {
	at := strings.LastIndexByte(addr, '@')
	domain := addr[at+1:]
	if at < 0 || domain == "" || strings.Contains(addr[:at], "@") ||
		strings.ContainsFunc(addr, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return usagef("%q is not an address: write e.g. info@example.org, or @example.org for every address of the domain", addr)
	}
	return nil
}

func (c *ctl) aliasAdd(args []string) error {
	addr, name := args[0], args[1]
	if err := checkAddress(addr); err != nil {
		return err
	}
	st, a, err := c.account(name)
	if err != nil {
		return err
	}
	err = st.AddAddress(a.Name, addr)
	if errors.Is(err, storage.ErrAddressTaken) {
		owner := "another account"
		if id, err := st.Resolve(addr); err == nil {
			if o, err := st.AccountByID(id); err == nil {
				owner = "account " + o.Name
			}
		}
		return fmt.Errorf("%s already delivers to %s; to move it, first: postroomctl alias remove %s", addr, owner, addr)
	}
	if errors.Is(err, storage.ErrUnknownAddress) { // the store's stricter syntax check
		return fmt.Errorf("%q is not a valid address", addr)
	}
	if err != nil {
		return accountErr(a.Name, err)
	}
	if strings.HasPrefix(addr, "@") {
		fmt.Fprintf(c.stdout, "mail for any other address %s now goes to %s\n", addr, a.Name)
		return nil
	}
	fmt.Fprintf(c.stdout, "mail for %s now goes to %s\n", addr, a.Name)
	return nil
}

func (c *ctl) aliasRemove(args []string) error {
	addr := args[0]
	if err := checkAddress(addr); err != nil {
		return err
	}
	st, err := c.store()
	if err != nil {
		return err
	}
	err = st.RemoveAddress(addr)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrUnknownAddress) {
		return fmt.Errorf("no account has the address %s (postroomctl alias list shows them)", addr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "mail for %s is no longer accepted\n", addr)
	return nil
}

func (c *ctl) aliasList(args []string) error {
	st, err := c.store()
	if err != nil {
		return err
	}
	accts, err := st.Accounts()
	if err != nil {
		return err
	}
	type row struct{ addr, kind, name string }
	var rows []row
	for _, a := range accts {
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
