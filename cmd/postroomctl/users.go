package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/term"

	"postroom/appliance/admin"
)

// logger is where the store and the admin layer of a stopped box write:
// warnings only (a swept staged object, a slow open); the audit lines are
// the appliance's log's business.
func (c *ctl) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (c *ctl) usersList(args []string) error {
	l, err := call[admin.AccountList](c, admin.ListAccounts{})
	if err != nil {
		return err
	}
	if len(l.Accounts) == 0 {
		fmt.Fprintln(c.stdout, "no accounts yet: add one with postroomctl users add NAME")
		return nil
	}
	t := newTable(c.stdout, "NAME", "ADDRESSES", "QUOTA", "USAGE", "MESSAGES", "POP3 RETENTION", "ADMIN", "LAST LOGIN")
	for _, a := range l.Accounts {
		admin := "-"
		if a.Admin {
			admin = "yes"
		}
		t.row(a.Name, otherAddresses(a), formatQuota(a.Quota), usage(a), strconv.FormatInt(a.Messages, 10), retention(a.RetentionDays), admin, stamp(a.LastLogin))
	}
	return t.flush()
}

// otherAddresses lists the addresses besides the login itself.
func otherAddresses(a admin.Account) string {
	var out []string
	for _, ad := range a.Addresses {
		if !strings.EqualFold(ad, a.Name) {
			out = append(out, ad)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func usage(a admin.Account) string {
	if a.Quota <= 0 {
		return formatSize(a.Usage)
	}
	return fmt.Sprintf("%s (%d%%)", formatSize(a.Usage), a.Usage*100/a.Quota)
}

func retention(days int) string {
	if days == 0 {
		return "keep"
	}
	return plural(int64(days), "day", "days")
}

// checkName catches names that cannot be a login before anything else
// happens, with the admin layer's own check, as a mistake in the command
// line.
func checkName(name string) error {
	if _, err := admin.NormalizeAddress("name", name, false); err != nil {
		return usagef("%q cannot be an account name: use the login, which is an address, e.g. alice@example.org", name)
	}
	return nil
}

func (c *ctl) usersAdd(args []string) error {
	name := args[0]
	if err := checkName(name); err != nil {
		return err
	}
	// Say so before asking for a password that would be thrown away.
	if _, err := call[admin.AccountResult](c, admin.GetAccount{Name: name}); err == nil {
		return fmt.Errorf("account %q exists already", strings.ToLower(name))
	} else if admin.CodeOf(err) != admin.CodeNotFound {
		return err
	}
	pw, err := c.newPassword(name)
	if err != nil {
		return err
	}
	r, err := call[admin.AccountResult](c, admin.AddAccount{Name: name, Password: pw, Generate: pw == ""})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "created account %s with mailboxes %s\n", r.Account.Name, strings.Join(r.Mailboxes, ", "))
	c.printGenerated(r)
	return nil
}

func (c *ctl) usersPasswd(args []string) error {
	a, err := call[admin.AccountResult](c, admin.GetAccount{Name: args[0]})
	if err != nil {
		return err
	}
	pw, err := c.newPassword(a.Account.Name)
	if err != nil {
		return err
	}
	r, err := call[admin.AccountResult](c, admin.SetPassword{Name: a.Account.Name, Password: pw, Generate: pw == ""})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "password of %s changed\n", r.Account.Name)
	c.printGenerated(r)
	return nil
}

// printGenerated is the one place a password is ever written out: the one
// the admin layer made up, if it did.
func (c *ctl) printGenerated(r admin.AccountResult) {
	if r.Password == "" {
		return
	}
	fmt.Fprintf(c.stdout, "password of %s: %s\n(shown only this once: write it down, or set another with postroomctl users passwd)\n", r.Account.Name, r.Password)
}

func (c *ctl) usersRemove(args []string) error {
	g, err := call[admin.AccountResult](c, admin.GetAccount{Name: args[0]})
	if err != nil {
		return err
	}
	a := g.Account
	what := fmt.Sprintf("%s, %s", plural(a.Messages, "message", "messages"), formatSize(a.Usage))
	if !c.yes {
		fmt.Fprintf(c.stderr, "Remove account %s and all its mail (%s)? This cannot be undone. [y/N] ", a.Name, what)
		answer, err := c.readLine()
		if _, tty := terminal(c.stdin); !tty {
			fmt.Fprintln(c.stderr) // no Enter was echoed to end the prompt's line
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if errors.Is(err, io.EOF) && answer == "" {
			fmt.Fprintf(c.stderr, "postroomctl: %s not removed: no answer (add -yes to remove without asking)\n", a.Name)
			return errAborted
		}
		if ans := strings.ToLower(strings.TrimSpace(answer)); ans != "y" && ans != "yes" {
			fmt.Fprintf(c.stderr, "postroomctl: not removed\n")
			return errAborted
		}
	}
	r, err := call[admin.AccountResult](c, admin.RemoveAccount{Name: a.Name})
	if err != nil {
		return err
	}
	a = r.Account
	fmt.Fprintf(c.stdout, "removed account %s and its mail (%s, %s)\n", a.Name, plural(a.Messages, "message", "messages"), formatSize(a.Usage))
	return nil
}

func (c *ctl) usersRename(args []string) error {
	if err := checkName(args[1]); err != nil {
		return err
	}
	r, err := call[admin.AccountResult](c, admin.RenameAccount{Name: args[0], NewName: args[1], KeepOldAddress: c.keepOld})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "account %s is now %s\n", strings.ToLower(strings.TrimSpace(args[0])), r.Account.Name)
	if c.keepOld {
		fmt.Fprintf(c.stdout, "mail to the old name still arrives (an alias; postroomctl alias remove takes it away)\n")
	}
	return nil
}

func (c *ctl) usersQuota(args []string) error {
	q, err := parseSize(args[1])
	if err != nil {
		return usageError{err.Error()}
	}
	// The command line may set a quota below what the account holds: it
	// says so (below), as it always did.
	r, err := call[admin.AccountResult](c, admin.SetQuota{Name: args[0], Bytes: q, AllowBelowUsage: true})
	if err != nil {
		return err
	}
	a := r.Account
	if q == 0 {
		fmt.Fprintf(c.stdout, "quota of %s: unlimited (%s in use)\n", a.Name, formatSize(a.Usage))
		return nil
	}
	fmt.Fprintf(c.stdout, "quota of %s: %s (%s in use, %d%%)\n", a.Name, formatSize(q), formatSize(a.Usage), a.Usage*100/q)
	if a.Usage >= q {
		fmt.Fprintf(c.stdout, "note: %s is already over this quota: new mail is refused until some is deleted\n", a.Name)
	}
	return nil
}

func (c *ctl) usersRetention(args []string) error {
	days, err := strconv.Atoi(args[1])
	if err != nil || days < 0 || days > 36500 {
		return usagef("%q is not a number of days: write e.g. 30, or 0 to keep messages forever", args[1])
	}
	r, err := call[admin.AccountResult](c, admin.SetRetention{Name: args[0], Days: days})
	if err != nil {
		return err
	}
	if days == 0 {
		fmt.Fprintf(c.stdout, "POP3 retention of %s: keep messages after download\n", r.Account.Name)
		return nil
	}
	fmt.Fprintf(c.stdout, "POP3 retention of %s: delete INBOX messages %s after their first POP3 download\n", r.Account.Name, plural(int64(days), "day", "days"))
	return nil
}

// usersAdmin gives an account the administrator's rights on the web page
// (confirming a factory reset) or takes them away.
func (c *ctl) usersAdmin(args []string) error {
	on, err := onOff(args[1])
	if err != nil {
		return err
	}
	r, err := call[admin.AccountResult](c, admin.SetAdmin{Name: args[0], Admin: on})
	if err != nil {
		return err
	}
	if on {
		fmt.Fprintf(c.stdout, "%s is an administrator: it may confirm a factory reset on the web page\n", r.Account.Name)
	} else {
		fmt.Fprintf(c.stdout, "%s is no longer an administrator\n", r.Account.Name)
	}
	return nil
}

// onOff reads "on" or "off" (or yes, no).
func onOff(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "yes":
		return true, nil
	case "off", "no":
		return false, nil
	}
	return false, usagef("%q: write on or off", s)
}

// newPassword gets a password for NAME: from the first line of stdin with
// -password-stdin; else typed twice without echo on a terminal; else one line
// of stdin. "" (no password at all, except under -password-stdin) asks the
// admin layer to make one up.
func (c *ctl) newPassword(name string) (string, error) {
	if c.passwordStdin {
		line, err := c.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		if line == "" {
			return "", errors.New("-password-stdin: the first line of standard input is empty")
		}
		return line, nil
	}
	if fd, ok := terminal(c.stdin); ok {
		return c.promptPassword(fd, name)
	}
	line, err := c.readLine()
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return line, nil
}

func (c *ctl) promptPassword(fd int, name string) (string, error) {
	fmt.Fprintf(c.stderr, "New password for %s (press Enter alone to have one made up): ", name)
	p1, err := readSecret(fd, c.stderr)
	if err != nil || len(p1) == 0 {
		return "", err
	}
	fmt.Fprint(c.stderr, "Type it again: ")
	p2, err := readSecret(fd, c.stderr)
	if err != nil {
		return "", err
	}
	if string(p1) != string(p2) {
		return "", errors.New("the two passwords differ; nothing changed")
	}
	return string(p1), nil
}

// readSecret reads a line from the terminal without echo. Interrupted, it
// puts the terminal back the way it was before exiting, or the shell would
// stay silent.
func readSecret(fd int, stderr io.Writer) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sig)
		close(done)
	}()
	go func() {
		select {
		case <-sig:
			term.Restore(fd, state)
			fmt.Fprintln(stderr)
			// The store stays as it was: nothing is written before the
			// password is known, and Badger recovers from an unclean stop.
			os.Exit(exitAborted)
		case <-done:
		}
	}()
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr) // the Enter that was not echoed
	return p, err
}

func terminal(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// readLine reads one line of stdin without its line ending. At the end of
// the input it returns what there was and io.EOF.
func (c *ctl) readLine() (string, error) {
	if c.in == nil {
		c.in = bufio.NewReader(c.stdin)
	}
	line, err := c.in.ReadString('\n')
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	return line, err
}
