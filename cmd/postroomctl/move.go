package main

// move: moving an office's mail in from its old provider's IMAP or POP3
// accounts while the MX still points there (appliance/transition). The
// running box does the fetching; these commands start, watch and finish
// the moves over the control socket.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"postroom/appliance/admin"
	"postroom/appliance/transition"
)

func init() {
	commands = append(commands,
		command{"move add", 4, 6, nil, (*ctl).moveAdd},
		command{"move list", 0, 0, nil, (*ctl).moveList},
		command{"move run", 0, 0, nil, (*ctl).moveRun},
		command{"move finish", 1, 1, nil, (*ctl).moveFinish},
		command{"move remove", 1, 1, nil, (*ctl).moveRemove},
	)
}

// moveSynopsis is the help of the move commands.
const moveSynopsis = `
Moving in from the old provider (the running box fetches every few minutes):
  move add NAME imap|pop3 HOST[:PORT] USER [starttls|none] [trust=FINGERPRINT]
                                       fetch the old account USER on HOST into account
                                       NAME (IMAP: every folder with its flags; POP3:
                                       the inbox); asks for the old password (or reads
                                       the first line of standard input) and logs in
                                       once to check it; SSL/TLS unless starttls (none:
                                       no encryption, development mode only); trust=
                                       accepts the old server's own certificate (self-
                                       signed or out of date) by the SHA-256 fingerprint
                                       a refusal showed, and no other
  move list                            the moves: ID, account, old account, progress
  move run                             fetch now instead of at the next turn
  move finish ID                       the MX points at the box now: stop fetching and
                                       erase the old password
  move remove ID                       forget a finished move
`

func (c *ctl) moveAdd(args []string) error {
	req := admin.AddTransition{Account: args[0], Protocol: strings.ToLower(args[1]), Username: args[3]}
	req.Host = args[2]
	if h, p, err := net.SplitHostPort(args[2]); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil {
			return usagef("move add: %q: the port after the colon must be a number", args[2])
		}
		req.Host, req.Port = h, n
	}
	for _, w := range args[4:] {
		switch fp, trust := strings.CutPrefix(w, "trust="); {
		case trust:
			req.Pin = fp
		case strings.EqualFold(w, transition.StartTLS), strings.EqualFold(w, transition.Plain):
			req.Security = strings.ToLower(w)
		default:
			return usagef("move add: after the user name come starttls (or none, in development mode) and trust=FINGERPRINT, not %q", w)
		}
	}
	pw, err := c.oldPassword(req.Username, req.Host)
	if err != nil {
		return err
	}
	req.Password = pw
	src, err := call[transition.Source](c, req)
	if ae, ok := adminError(err); ok && ae.Field == "certificate" && req.Pin == "" {
		return fmt.Errorf("%w\nTo trust it, add trust= and the fingerprint to the same command, once you have compared it with the one the old server's keeper reads you", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "moving %s on %s (%s, port %d) into %s: the first fetch runs now (ID %s)\n",
		src.Username, src.Host, strings.ToUpper(src.Protocol), src.Port, src.Account, src.ID)
	if src.Trusted != nil {
		fmt.Fprintf(c.stdout, "The old server's certificate %s (%s, valid until %s) is trusted for this move, and no other.\n",
			src.Trusted.Fingerprint(), src.Trusted.Subject, src.Trusted.NotAfter.UTC().Format("2 January 2006"))
	}
	fmt.Fprintln(c.stdout, "Watch it with postroomctl move list; when the MX points at this box, postroomctl move finish", src.ID)
	return nil
}

// oldPassword asks for the old account's password without echo on a
// terminal, else reads the first line of standard input.
func (c *ctl) oldPassword(user, host string) (string, error) {
	if fd, ok := terminal(c.stdin); ok {
		fmt.Fprintf(c.stderr, "Password of %s on %s: ", user, host)
		pw, err := readSecret(fd, c.stderr)
		return string(pw), err
	}
	line, err := c.readLine()
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if line == "" {
		return "", errors.New("move add: give the old password on the first line of standard input")
	}
	return line, nil
}

func (c *ctl) moveList([]string) error {
	l, err := call[admin.Transitions](c, admin.ListTransitions{})
	if err != nil {
		return err
	}
	if len(l.Sources) == 0 {
		fmt.Fprintln(c.stdout, "no moves: start one with postroomctl move add")
		return nil
	}
	t := newTable(c.stdout, "ID", "INTO", "FROM", "MOVED", "OLD HOLDS", "LAST FETCH", "STATE")
	for _, s := range l.Sources {
		state := "running"
		switch {
		case !s.Active():
			state = "finished " + stamp(s.Finished)
		case s.LastError != "":
			state = "stopped: " + s.LastError
		case s.Running:
			state = "fetching now"
		}
		t.row(s.ID, s.Account, safeText(s.Username, 0)+" on "+s.Host+" ("+s.Protocol+")",
			strconv.Itoa(s.Fetched), strconv.Itoa(s.Seen), stamp(s.LastRun), state)
	}
	return t.flush()
}

func (c *ctl) moveRun([]string) error {
	if _, err := call[admin.Transitions](c, admin.RunTransitions{}); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "fetching now; see postroomctl move list")
	return nil
}

func (c *ctl) moveFinish(args []string) error {
	s, err := call[transition.Source](c, admin.FinishTransition{ID: args[0]})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "finished moving %s on %s into %s (%d messages); its password is erased\n", s.Username, s.Host, s.Account, s.Fetched)
	return nil
}

func (c *ctl) moveRemove(args []string) error {
	if _, err := call[admin.Transitions](c, admin.RemoveTransition{ID: args[0]}); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "removed", args[0])
	return nil
}
