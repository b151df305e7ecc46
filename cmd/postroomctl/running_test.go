package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance"
	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/internal/testutil"
)

// box is an appliance running in-process on a data folder, with IMAP and
// submission on free loopback ports.
type box struct {
	data string
	bus  *status.Bus
	log  *testutil.SyncBuffer
}

func startBox(t *testing.T, change func(*config.Config)) *box {
	t.Helper()
	data := t.TempDir()
	cfg := config.DevDefault(data)
	cfg.Dev = false // no demo user: the box starts without accounts
	cfg.Listen = config.Listeners{Submission: "127.0.0.1:0", IMAP: "127.0.0.1:0"}
	if change != nil {
		change(&cfg)
	}
	if err := cfg.Save(filepath.Join(data, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	b := &box{data: data, bus: status.NewBus(status.Snapshot{}), log: &testutil.SyncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- appliance.RunOptions(ctx, cfg, appliance.Options{
			Logger: slog.New(slog.NewTextHandler(b.log, nil)), Bus: b.bus, Stdout: &testutil.SyncBuffer{},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("appliance: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the appliance did not stop")
		}
	})
	b.await(t, "the box serves", func(s status.Snapshot) bool { return s.Phase == status.PhaseNeedsSetup })
	return b
}

// await waits until ok holds for the box's status.
func (b *box) await(t *testing.T, what string, ok func(status.Snapshot) bool) status.Snapshot {
	t.Helper()
	notify, unsubscribe := b.bus.Subscribe()
	defer unsubscribe()
	deadline := time.After(30 * time.Second)
	for {
		s := b.bus.Latest()
		if ok(s) {
			return s
		}
		select {
		case <-notify:
		case <-deadline:
			t.Fatalf("%s: not reached; snapshot %+v\nlog:\n%s", what, s, b.log.String())
		}
	}
}

func (b *box) addr(t *testing.T, name string) string {
	t.Helper()
	sv, ok := b.bus.Latest().Service(name)
	if !ok || sv.State != status.ServiceListening {
		t.Fatalf("service %s: %+v", name, sv)
	}
	return sv.Addr
}

// imapLogin logs in over IMAP (plain text on loopback, as the config
// allows) and reports the server's answer.
func imapLogin(t *testing.T, addr, user, password string) error {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Login(user, password).Wait()
}

// smtpLogin logs in on submission after STARTTLS.
func smtpLogin(t *testing.T, addr, user, password string) error {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Auth(sasl.NewPlainClient("", user, password))
}

// TestRunningBox: the same commands as on a stopped box, through the
// control socket of a running appliance, print the same; the changes are
// live at once (logins with the new password over IMAP and SMTP, the
// alias), and the audit log has them without a password.
func TestRunningBox(t *testing.T) {
	b := startBox(t, nil)
	runSteps(t, b.data, accountSteps)

	imap, sub := b.addr(t, "imap"), b.addr(t, "submission")
	if err := imapLogin(t, imap, "alice@example.org", "second secret pass"); err != nil {
		t.Errorf("IMAP login with the password set by users passwd: %v", err)
	}
	if err := imapLogin(t, imap, "alice@example.org", "first secret pass"); err == nil {
		t.Errorf("IMAP login with the old password worked")
	}
	if err := smtpLogin(t, sub, "alice@example.org", "second secret pass"); err != nil {
		t.Errorf("SMTP AUTH with the password set by users passwd: %v", err)
	}
	if err := imapLogin(t, imap, "bob@example.org", "bobs secret pass"); err == nil {
		t.Errorf("IMAP login of a removed account worked")
	}
	if ch := b.bus.Latest().LastChange; ch.Op != "account.remove" || !strings.Contains(ch.By, "via postroomctl") {
		t.Errorf("LastChange %+v", ch)
	}
	if s := b.bus.Latest().Phase; s != status.PhaseRunning {
		t.Errorf("phase %s with an account, want running", s)
	}

	// Mail for the alias the steps made arrives without a restart.
	c, err := smtp.DialStartTLS(sub, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", "second secret pass")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("alice@example.org", []string{"info@example.org"},
		strings.NewReader("From: alice@example.org\r\nTo: info@example.org\r\nSubject: to the alias\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	runSteps(t, b.data, []ctlStep{
		{[]string{"messages", "alice@example.org"}, "", 0, []string{"to the alias"}, nil},
		{[]string{"mailboxes", "alice@example.org"}, "", 0, []string{"INBOX", "UIDNEXT"}, nil},
		{[]string{"fsck"}, "", 0, []string{"ok: 1 account"}, nil},
		{[]string{"stats"}, "", 0, []string{"accounts", "alice@example.org"}, nil},
		{[]string{"queue", "list"}, "", 0, []string{"the queue is empty"}, nil},
		{[]string{"domains", "add", "bücher.example"}, "", 0, []string{"xn--bcher-kva.example"}, nil},
		{[]string{"domains", "list"}, "", 0, []string{"example.test", "xn--bcher-kva.example"}, nil},
		{[]string{"users", "rename", "alice@example.org", "anna@example.org", "-keep-old"}, "", 0, []string{"account alice@example.org is now anna@example.org"}, nil},
		{[]string{"users", "rename", "anna@example.org", "x y"}, "", 2, nil, []string{"cannot be an account name"}},
		{[]string{"settings"}, "", 0, []string{"localhost", "none"}, nil},
	})
	if err := imapLogin(t, imap, "anna@example.org", "second secret pass"); err != nil {
		t.Errorf("IMAP login under the new name: %v", err)
	}
	if log := b.log.String(); strings.Contains(log, "secret") || !strings.Contains(log, "admin: changed the password of alice@example.org") {
		t.Errorf("the appliance's log has a password, or lacks the audit line:\n%s", log)
	}
}

// A new host name, given to a running box, restarts its services with it.
func TestRunningBoxHostname(t *testing.T) {
	b := startBox(t, nil)
	runCtl(t, b.data, "", "settings", "hostname", "mail.example.org").check(t, 0,
		[]string{"host name: mail.example.org (saved; the services restart now to use it)"}, nil)
	b.await(t, "running with the new host name", func(s status.Snapshot) bool {
		return s.Hostname == "mail.example.org" && s.Phase == status.PhaseNeedsSetup
	})
	runCtl(t, b.data, "", "settings").check(t, 0, []string{"mail.example.org"}, nil)
}

// TestRunningBoxQueue: the outgoing queue of a running box. Mail to the
// outside waits in the queue (its DNS server is a closed port on this
// machine, so every attempt fails at once and nothing leaves it); queue
// show and delete work on it, and a retry starts an attempt at once.
func TestRunningBoxQueue(t *testing.T) {
	b := startBox(t, func(c *config.Config) { c.Resolver = "127.0.0.1:1" })
	runSteps(t, b.data, []ctlStep{
		{[]string{"users", "add", "ann@example.org", "-password-stdin"}, "ann's secret pass\n", 0, []string{"created account ann@example.org"}, nil},
	})
	for i, to := range []string{"bob@far.example", "cy@far.example"} {
		c, err := smtp.DialStartTLS(b.addr(t, "submission"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Auth(sasl.NewPlainClient("", "ann@example.org", "ann's secret pass")); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("ann@example.org", []string{to}, strings.NewReader(fmt.Sprintf("From: ann@example.org\r\nTo: %s\r\nSubject: order %d\r\n\r\nhi\r\n", to, i))); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// attempted waits until every queued recipient had n attempts, each
	// recorded (the queue publishes its state on the Bus after each).
	sock, err := admin.Dial(context.Background(), admin.SocketPath(b.data))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	attempted := func(n int) []admin.QueueItem {
		t.Helper()
		var msgs []admin.QueueItem
		b.await(t, fmt.Sprintf("%d attempts recorded", n), func(status.Snapshot) bool {
			l, err := admin.Call[admin.QueueList](context.Background(), sock, "", admin.ListQueue{})
			if err != nil {
				t.Fatal(err)
			}
			msgs = l.Messages
			for _, m := range msgs {
				if r := m.Recipients[0]; r.Attempts < n || r.InFlight || r.LastError == "" {
					return false
				}
			}
			return len(msgs) > 0
		})
		return msgs
	}
	msgs := attempted(1)
	if len(msgs) != 2 {
		t.Fatalf("queue %+v, want 2 messages", msgs)
	}
	first, second := msgs[0].ID, msgs[1].ID
	runSteps(t, b.data, []ctlStep{
		{[]string{"queue", "list"}, "", 0, []string{"ann@example.org", "1 of 1", "2 messages"}, nil},
		{[]string{"queue", "show", first}, "", 0, []string{"Subject: order", "pending"}, nil},
		{[]string{"queue", "delete", first}, "", 0, []string{"message " + first + " removed from the queue (1 recipient; not sent, no bounce)"}, nil},
		{[]string{"queue", "show", first}, "", 1, nil, []string{"no message " + first}},
		{[]string{"queue", "retry", second}, "", 0, []string{"1 message will be tried again now"}, nil},
	})
	// The retry's attempt happens now, not in the 5 minutes of the schedule.
	if m := attempted(2); len(m) != 1 || m[0].ID != second {
		t.Errorf("queue after the retry: %+v", m)
	}
	if q := b.bus.Latest().Queue; q.Length != 1 {
		t.Errorf("status queue length %d, want 1", q.Length)
	}
}
