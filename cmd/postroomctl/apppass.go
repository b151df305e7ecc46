package main

// apppass: app passwords (one per phone or mail program, shown once,
// removable one by one), the account password kept for the web page, and
// the devices an account logged in from.

import (
	"fmt"
	"time"

	"postroom/appliance/admin"
)

func init() {
	commands = append(commands,
		command{"apppass add", 2, 2, nil, (*ctl).apppassAdd},
		command{"apppass list", 1, 1, nil, (*ctl).apppassList},
		command{"apppass revoke", 2, 2, nil, (*ctl).apppassRevoke},
		command{"apppass only", 2, 2, nil, (*ctl).apppassOnly},
		command{"users devices", 1, 1, nil, (*ctl).usersDevices},
	)
}

// apppassSynopsis is the help of the app password commands.
const apppassSynopsis = `
App passwords (one per phone or mail program; IMAP, POP3 and sending mail accept them):
  apppass add NAME DEVICE              make an app password called DEVICE (e.g. "Anna's
                                       phone") and print it once: type it into the device
  apppass list NAME                    the account's app passwords: ID, name, when made,
                                       when last used (updated at most hourly)
  apppass revoke NAME ID               remove one: the device can no longer log in, and
                                       the account's open mail connections end
  apppass only NAME on|off             on: mail programs must use app passwords; the
                                       account's own password works on the web page only
  users devices NAME                   where the account logged in from, newest first
`

func (c *ctl) apppassAdd(args []string) error {
	r, err := call[admin.AppPasswordResult](c, admin.AddAppPassword{Account: args[0], Name: args[1]})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "app password %q for %s (ID %s):\n\n    %s\n\n", safeText(r.AppPassword.Name, 0), r.Account, r.AppPassword.ID, r.Password)
	fmt.Fprintln(c.stdout, "It is shown only this once: type it into the device now, with or without the spaces.")
	return nil
}

func (c *ctl) apppassList(args []string) error {
	l, err := call[admin.AppPasswordList](c, admin.ListAppPasswords{Account: args[0]})
	if err != nil {
		return err
	}
	if len(l.AppPasswords) == 0 {
		fmt.Fprintf(c.stdout, "%s has no app passwords: make one with postroomctl apppass add %s DEVICE\n", l.Account, l.Account)
		return nil
	}
	t := newTable(c.stdout, "ID", "NAME", "CREATED", "LAST USED")
	for _, p := range l.AppPasswords {
		t.row(p.ID, p.Name, stamp(p.Created), stamp(p.LastUsed))
	}
	return t.flush()
}

func (c *ctl) apppassRevoke(args []string) error {
	r, err := call[admin.AppPasswordResult](c, admin.RevokeAppPassword{Account: args[0], ID: args[1]})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed app password %s (%q) of %s", r.AppPassword.ID, safeText(r.AppPassword.Name, 0), r.Account)
	if r.Ended > 0 {
		fmt.Fprintf(c.stdout, "; ended %s", plural(int64(r.Ended), "open mail connection", "open mail connections"))
	}
	fmt.Fprintln(c.stdout)
	return nil
}

func (c *ctl) apppassOnly(args []string) error {
	on, err := onOff(args[1])
	if err != nil {
		return err
	}
	r, err := call[admin.AccountResult](c, admin.SetPasswordWebOnly{Account: args[0], On: on})
	if err != nil {
		return err
	}
	if on {
		fmt.Fprintf(c.stdout, "the password of %s now works on the web page only: mail programs need app passwords\n", r.Account.Name)
	} else {
		fmt.Fprintf(c.stdout, "mail programs may log in to %s with its password again\n", r.Account.Name)
	}
	return nil
}

func (c *ctl) usersDevices(args []string) error {
	l, err := call[admin.DeviceList](c, admin.ListDevices{Account: args[0]})
	if err != nil {
		return err
	}
	if len(l.Devices) == 0 {
		fmt.Fprintf(c.stdout, "%s has not logged in yet\n", l.Account)
		return nil
	}
	t := newTable(c.stdout, "LAST SEEN", "HOW", "FROM", "PROGRAM", "FIRST SEEN")
	for _, d := range l.Devices {
		t.row(stamp(d.Last), d.Protocol, d.Addr, d.Client, stamp(d.First))
	}
	return t.flush()
}

// stamp is a time for a table, in the box's local time; "never" for zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}
