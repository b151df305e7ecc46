package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"golang.org/x/term"

	"postroom/storage"
)

// account opens the store and finds the account NAME.
func (c *ctl) account(name string) (*storage.Store, storage.Account, error) {
	st, err := c.store()
	if err != nil {
		return nil, storage.Account{}, err
	}
	a, err := st.Account(name)
	if err != nil {
		return nil, storage.Account{}, accountErr(name, err)
	}
	return st, a, nil
}

// accountErr says what a storage error means for the account NAME.
func accountErr(name string, err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrUnknownAddress):
		return fmt.Errorf("no account %q (postroomctl users list shows them)", name)
	case errors.Is(err, storage.ErrAccountExists):
		return fmt.Errorf("account %q exists already", name)
	case errors.Is(err, storage.ErrInvalidPassword):
		return errors.New("that password is too short; choose a longer one (or let postroomctl make one up)")
	}
	return err
}

func (c *ctl) usersList(args []string) error {
	st, err := c.store()
	if err != nil {
		return err
	}
	accts, err := st.Accounts()
	if err != nil {
		return err
	}
	if len(accts) == 0 {
		fmt.Fprintln(c.stdout, "no accounts yet: add one with postroomctl users add NAME")
		return nil
	}
	slices.SortFunc(accts, func(a, b storage.Account) int { return strings.Compare(a.Name, b.Name) })
	t := newTable(c.stdout, "NAME", "ADDRESSES", "QUOTA", "USAGE", "MESSAGES", "POP3 RETENTION", "ADMIN")
	for _, a := range accts {
		admin := "-"
		if a.Admin {
			admin = "yes"
		}
		t.row(a.Name, otherAddresses(a), formatQuota(a.Quota), usage(a), strconv.FormatInt(a.Messages, 10), retention(a.POPRetentionDays), admin)
	}
	return t.flush()
}

// otherAddresses lists the addresses besides the login itself.
func otherAddresses(a storage.Account) string {
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

func usage(a storage.Account) string {
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

func (c *ctl) usersAdd(args []string) error {
	name := args[0]
	if err := checkName(name); err != nil {
		return err
	}
	st, err := c.store()
	if err != nil {
		return err
	}
	// Say so before asking for a password that would be thrown away.
	if _, err := st.Account(name); err == nil {
		return accountErr(name, storage.ErrAccountExists)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	pw, generated, err := c.newPassword(name)
	if err != nil {
		return err
	}
	a, err := st.CreateAccount(name, pw)
	if errors.Is(err, storage.ErrAddressTaken) {
		return fmt.Errorf("%q is already an address of another account (postroomctl alias list shows which)", name)
	}
	if err != nil {
		return accountErr(name, err)
	}
	var boxes []string
	for _, m := range storage.DefaultMailboxes {
		boxes = append(boxes, m.Name)
	}
	fmt.Fprintf(c.stdout, "created account %s with mailboxes %s\n", a.Name, strings.Join(boxes, ", "))
	if generated {
		c.printGenerated(a.Name, pw)
	}
	return nil
}

// checkName catches names that cannot be a login before the store sees them:
// a login is the account's primary address.
func checkName(name string) error {
	at := strings.LastIndexByte(name, '@')
	if at <= 0 || at == len(name)-1 || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return usagef("%q cannot be an account name: use the login, which is an address, e.g. alice@example.org", name)
	}
	return nil
}

func (c *ctl) usersPasswd(args []string) error {
	st, a, err := c.account(args[0])
	if err != nil {
		return err
	}
	pw, generated, err := c.newPassword(a.Name)
	if err != nil {
		return err
	}
	if err := st.SetPassword(a.Name, pw); err != nil {
		return accountErr(a.Name, err)
	}
	fmt.Fprintf(c.stdout, "password of %s changed\n", a.Name)
	if generated {
		c.printGenerated(a.Name, pw)
	}
	return nil
}

// printGenerated is the one place a password is ever written out.
func (c *ctl) printGenerated(name, pw string) {
	fmt.Fprintf(c.stdout, "password of %s: %s\n(shown only this once: write it down, or set another with postroomctl users passwd)\n", name, pw)
}

func (c *ctl) usersRemove(args []string) error {
	st, a, err := c.account(args[0])
	if err != nil {
		return err
	}
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
	if err := st.DeleteAccount(a.Name); err != nil {
		return accountErr(a.Name, err)
	}
	fmt.Fprintf(c.stdout, "removed account %s and its mail (%s)\n", a.Name, what)
	return nil
}

func (c *ctl) usersQuota(args []string) error {
	q, err := parseSize(args[1])
	if err != nil {
		return usageError{err.Error()}
	}
	st, a, err := c.account(args[0])
	if err != nil {
		return err
	}
	if err := st.SetQuota(a.Name, q); err != nil {
		return accountErr(a.Name, err)
	}
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
	st, a, err := c.account(args[0])
	if err != nil {
		return err
	}
	if err := st.SetPOPRetention(a.Name, days); err != nil {
		return accountErr(a.Name, err)
	}
	if days == 0 {
		fmt.Fprintf(c.stdout, "POP3 retention of %s: keep messages after download\n", a.Name)
		return nil
	}
	fmt.Fprintf(c.stdout, "POP3 retention of %s: delete INBOX messages %s after their first POP3 download\n", a.Name, plural(int64(days), "day", "days"))
	return nil
}

// usersAdmin gives an account the administrator's rights on the web page
// (confirming a factory reset) or takes them away.
func (c *ctl) usersAdmin(args []string) error {
	var on bool
	switch strings.ToLower(args[1]) {
	case "on", "yes":
		on = true
	case "off", "no":
	default:
		return usagef("%q: write on or off", args[1])
	}
	st, a, err := c.account(args[0])
	if err != nil {
		return err
	}
	if err := st.SetAdmin(a.Name, on); err != nil {
		return accountErr(a.Name, err)
	}
	if on {
		fmt.Fprintf(c.stdout, "%s is an administrator: it may confirm a factory reset on the web page\n", a.Name)
	} else {
		fmt.Fprintf(c.stdout, "%s is no longer an administrator\n", a.Name)
	}
	return nil
}

// newPassword gets a password for NAME: from the first line of stdin with
// -password-stdin; else typed twice without echo on a terminal; else one line
// of stdin. No password at all, except under -password-stdin, makes one up.
func (c *ctl) newPassword(name string) (pw string, generated bool, err error) {
	if c.passwordStdin {
		line, err := c.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, err
		}
		if line == "" {
			return "", false, errors.New("-password-stdin: the first line of standard input is empty")
		}
		return line, false, nil
	}
	if fd, ok := terminal(c.stdin); ok {
		return c.promptPassword(fd, name)
	}
	line, err := c.readLine()
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	if line == "" {
		return rand.Text(), true, nil
	}
	return line, false, nil
}

func (c *ctl) promptPassword(fd int, name string) (string, bool, error) {
	fmt.Fprintf(c.stderr, "New password for %s (press Enter alone to have one made up): ", name)
	p1, err := readSecret(fd, c.stderr)
	if err != nil {
		return "", false, err
	}
	if len(p1) == 0 {
		return rand.Text(), true, nil
	}
	fmt.Fprint(c.stderr, "Type it again: ")
	p2, err := readSecret(fd, c.stderr)
	if err != nil {
		return "", false, err
	}
	if string(p1) != string(p2) {
		return "", false, errors.New("the two passwords differ; nothing changed")
	}
	return string(p1), false, nil
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
