package pop3

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"

	"postroom/appliance/authguard"
	"postroom/storage"
)

// refusePlaintext answers a login attempt on a connection where passwords
// may not travel (RFC 2595 section 4; RFC 8314 asks for TLS).
func (c *session) refusePlaintext() bool {
	if c.plaintextOK() {
		return false
	}
	c.fail("AUTH", "log in over TLS: use STLS or port 995 first")
	return true
}

// USER, RFC 1939 section 7.
func (c *session) cmdUser(arg string) error {
	if c.refusePlaintext() {
		return nil
	}
	if arg == "" || len(arg) > 255 {
		c.fail("", "USER needs a name")
		return nil
	}
	c.user = arg
	c.ok("send PASS")
	return nil
}

// PASS, RFC 1939 section 7. The argument is the whole rest of the line: a
// password may contain spaces.
func (c *session) cmdPass(arg string) error {
	if c.refusePlaintext() {
		return nil
	}
	if c.user == "" {
		c.fail("", "give USER first")
		return nil
	}
	user := c.user
	c.user = "" // RFC 1939: after a failed PASS, USER starts over
	c.login(user, arg)
	return nil
}

// AUTH, RFC 5034. Only PLAIN (RFC 4616): the password reaches us anyway,
// and the store keeps only hashes, which rules out the challenge-response
// mechanisms. "AUTH" alone lists the mechanisms, as older clients expect
// (RFC 1734 practice).
func (c *session) cmdAuth(arg string) error {
	mech, ir, hasIR := strings.Cut(arg, " ")
	if mech == "" {
		if c.plaintextOK() {
			c.ok("mechanisms follow")
			c.reply("PLAIN")
		} else {
			c.ok("no mechanisms before TLS")
		}
		c.reply(".")
		return nil
	}
	if !strings.EqualFold(mech, "PLAIN") {
		c.fail("", "unsupported SASL mechanism")
		return nil
	}
	if c.refusePlaintext() {
		return nil
	}
	if !hasIR {
		// RFC 5034 section 4: an empty challenge, answered on its own line.
		c.reply("+ ")
		if err := c.bw.Flush(); err != nil {
			return err
		}
		line, err := readLine(c.br)
		switch {
		case errors.Is(err, errLineTooLong), errors.Is(err, errNUL):
			c.fail("", "authentication exchange: "+err.Error())
			return nil
		case err != nil:
			return err
		}
		if line == "*" {
			c.fail("", "authentication cancelled")
			return nil
		}
		ir = line
	}
	login, password, ok := decodePlain(ir)
	if !ok {
		c.fail("", "malformed PLAIN response")
		return nil
	}
	c.login(login, password)
	return nil
}

// decodePlain decodes a base64 PLAIN response, authzid NUL authcid NUL
// passwd (RFC 4616 section 2). "=" is the empty response (RFC 5034 section
// 4), which PLAIN cannot accept. An authorization identity other than the
// login itself would be logging in as someone else: refused.
func decodePlain(s string) (login, password string, ok bool) {
	if s == "=" {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", false
	}
	if len(parts[0]) > 0 && !strings.EqualFold(string(parts[0]), string(parts[1])) {
		return "", "", false
	}
	return string(parts[1]), string(parts[2]), true
}

// login checks the password through the shared Guard (delay, lockout),
// takes the maildrop lock and the INBOX snapshot, and enters TRANSACTION.
// Response codes per RFC 2449 section 8 and RFC 3206.
func (c *session) login(name, password string) {
	st := c.srv.opts.Store
	acct, err := c.srv.guard.Login(c.srv.ctx, st, c.remote, name, password)
	switch {
	case errors.Is(err, storage.ErrAuthFailed):
		c.log.Info("pop3 login failed", "login", name)
		c.fail("AUTH", "authentication failed")
		return
	case errors.Is(err, authguard.ErrLocked):
		// LOGIN-DELAY tells the client to come back later rather than
		// to ask the user for another password.
		c.log.Warn("pop3 login locked out", "login", name)
		c.fail("LOGIN-DELAY", "too many failed logins, try again later")
		return
	case err != nil:
		c.log.Error("pop3 login", "login", name, "err", err)
		c.fail("SYS/TEMP", "cannot log in now, try again later")
		return
	}
	if !c.srv.lockAccount(acct.ID) {
		c.log.Info("pop3 maildrop in use", "account", acct.Name)
		c.fail("IN-USE", "maildrop in use by another POP3 session")
		return
	}
	sn, err := loadSnapshot(st, acct)
	if err != nil {
		c.srv.unlockAccount(acct.ID)
		c.log.Error("pop3 login", "account", acct.Name, "err", err)
		c.fail("SYS/TEMP", "cannot open the maildrop now, try again later")
		return
	}
	c.snap, c.state = sn, stateTrans
	c.nc.LoggedIn()                  // the front's pre-login limits end
	c.nc.SetClient(acct.AppPassword) // the device's name, when known
	c.nc.SetAccount(acct.Name)
	c.log.Info("pop3 login", "account", acct.Name, "tls", c.isTLS, "messages", sn.count, "octets", sn.size)
	c.ok(acct.Name + " has " + itoa(sn.count) + " messages (" + i64toa(sn.size) + " octets)")
}
