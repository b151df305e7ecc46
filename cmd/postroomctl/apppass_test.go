package main

import (
	"bufio"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"postroom/appliance/config"
	"postroom/internal/testutil"
)

// popLogin logs in over POP3 with Python's poplib; "" when it worked.
func popLogin(t *testing.T, addr, user, password string) string {
	return testutil.PoplibLogin(t, addr, user, password)
}

var appPasswordLine = regexp.MustCompile(`(?m)^    ([a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4})$`)

// TestRunningBoxAppPasswords: on a running box, an app password made with
// postroomctl logs in over IMAP (imapclient), POP3 (poplib) and submission
// (go-smtp); revoked, it no longer does; a password change ends an open
// POP3 session with -ERR [AUTH]; with the account's password kept for the
// web, POP3 refuses it and takes an app password.
func TestRunningBoxAppPasswords(t *testing.T) {
	b := startBox(t, func(c *config.Config) { c.Listen.POP3 = "127.0.0.1:0" })
	const ann = "ann@example.org"
	runSteps(t, b.data, []ctlStep{
		{[]string{"users", "add", ann, "-password-stdin"}, "ann's secret pass\n", 0, []string{"created account " + ann}, nil},
		{[]string{"apppass", "list", ann}, "", 0, []string{"has no app passwords"}, nil},
		{[]string{"apppass", "add", ann, ""}, "", 1, nil, []string{"give the app password a name"}},
		{[]string{"apppass", "add", "nobody@example.org", "phone"}, "", 1, nil, []string{"no account"}},
		{[]string{"apppass", "revoke", ann, "abcd"}, "", 1, nil, []string{"has no app password"}},
		{[]string{"apppass", "only", ann, "maybe"}, "", 2, nil, []string{"write on or off"}},
	})
	r := runCtl(t, b.data, "", "apppass", "add", ann, "Ann's phone")
	r.check(t, 0, []string{`app password "Ann's phone" for ann@example.org`, "shown only this once"}, nil)
	m := appPasswordLine.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("no app password in:\n%s", r.out)
	}
	phone, id := m[1], m[1][:4]
	imap, pop, sub := b.addr(t, "imap"), b.addr(t, "pop3"), b.addr(t, "submission")

	if err := imapLogin(t, imap, ann, phone); err != nil {
		t.Errorf("IMAP with the app password: %v", err)
	}
	if e := popLogin(t, pop, ann, strings.ReplaceAll(phone, " ", "")); e != "" {
		t.Errorf("POP3 with the app password: %s", e)
	}
	if err := smtpLogin(t, sub, ann, strings.ToUpper(phone)); err != nil {
		t.Errorf("submission with the app password: %v", err)
	}
	runSteps(t, b.data, []ctlStep{
		{[]string{"apppass", "list", ann}, "", 0, []string{id, "Ann's phone"}, nil},
		{[]string{"users", "devices", ann}, "", 0, []string{"pop3", "submission", "127.0.0.1", "Ann's phone"}, nil},
		{[]string{"users", "list"}, "", 0, []string{"LAST LOGIN", ann}, nil},
	})
	if out := runCtl(t, b.data, "", "apppass", "list", ann).out; strings.Contains(out, "never") {
		t.Errorf("last use not recorded:\n%s", out)
	}

	// An open POP3 session ends when the password changes.
	c, err := net.Dial("tcp", pop)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	for _, cmd := range []string{"", "USER " + ann, "PASS ann's secret pass"} {
		if cmd != "" {
			c.Write([]byte(cmd + "\r\n"))
		}
		if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("POP3 %q: %q", cmd, l)
		}
	}
	runSteps(t, b.data, []ctlStep{
		{[]string{"users", "passwd", ann, "-password-stdin"}, "ann's new secret pass\n", 0, nil, nil},
	})
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "-ERR [AUTH] logged out") {
		t.Errorf("open POP3 session after the password change: %q", l)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Errorf("the POP3 session stayed open")
	}

	// Revoked: no more logins with it, on any protocol.
	runSteps(t, b.data, []ctlStep{
		{[]string{"apppass", "revoke", ann, id}, "", 0, []string{"removed app password " + id}, nil},
		{[]string{"apppass", "list", ann}, "", 0, []string{"has no app passwords"}, nil},
	})
	if err := imapLogin(t, imap, ann, phone); err == nil {
		t.Errorf("IMAP with a revoked app password worked")
	}
	if e := popLogin(t, pop, ann, phone); !strings.Contains(e, "-ERR [AUTH]") {
		t.Errorf("POP3 with a revoked app password: %q", e)
	}
	if err := smtpLogin(t, sub, ann, phone); err == nil {
		t.Errorf("submission with a revoked app password worked")
	}

	// The account's password for the web only.
	r = runCtl(t, b.data, "", "apppass", "add", ann, "Laptop")
	m = appPasswordLine.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("no app password in:\n%s", r.out)
	}
	runSteps(t, b.data, []ctlStep{
		{[]string{"apppass", "only", ann, "on"}, "", 0, []string{"works on the web page only"}, nil},
	})
	if e := popLogin(t, pop, ann, "ann's new secret pass"); !strings.Contains(e, "-ERR [AUTH]") {
		t.Errorf("POP3 with the web-only password: %q", e)
	}
	if e := popLogin(t, pop, ann, m[1]); e != "" {
		t.Errorf("POP3 with an app password while the password is web-only: %s", e)
	}
	runSteps(t, b.data, []ctlStep{
		{[]string{"apppass", "only", ann, "off"}, "", 0, []string{"may log in to ann@example.org with its password again"}, nil},
	})
	if e := popLogin(t, pop, ann, "ann's new secret pass"); e != "" {
		t.Errorf("POP3 with the password again: %s", e)
	}
	if log := b.log.String(); strings.Contains(log, phone) || strings.Contains(log, m[1]) || strings.Contains(log, "secret") {
		t.Errorf("a password is in the appliance's log")
	}
}

// TestSettingsLimits: settings limits on a stopped box, with bad values.
func TestSettingsLimits(t *testing.T) {
	data := newData(t)
	if err := config.DevDefault(data).Save(filepath.Join(data, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	runSteps(t, data, []ctlStep{
		{[]string{"settings", "limits", "20M", "-", "40"}, "", 0, []string{"limits: messages up to 20M, 100 recipients each, 40 connections per service"}, nil},
		{[]string{"settings"}, "", 0, []string{"messages up to 20M", "40 connections per service"}, nil},
		{[]string{"settings", "limits", "big", "-", "-"}, "", 2, nil, []string{`"big" is not a size`}},
		{[]string{"settings", "limits", "-", "0", "-"}, "", 2, nil, []string{"not a number above 0"}},
		{[]string{"settings", "limits", "2G", "-", "-"}, "", 1, nil, []string{"between 1 KB and 1 GB"}},
		{[]string{"settings", "limits", "-", "-", "-"}, "", 1, nil, []string{"give at least one limit"}},
	})
}
