package imapstress

import (
	"context"
	"strings"
	"testing"
	"time"

	"postroom/internal/dovecottest"
)

// TestDovecot validates the tool: against Debian's Dovecot, a mature
// server, a run of every command in the mix must show no error at all,
// with clients sharing one mailbox and with a mailbox each, and with some
// clients under NOTIFY. A check that fails here is a bug in the tool, not
// in the server.
//
// The NOTIFY run leaves out the mailbox operations (CREATE, RENAME,
// DELETE): Dovecot 2.3.19's imap processes die with signal 11 after
// "Corrupted mailbox list index" when sessions under NOTIFY see other
// sessions create, rename and delete mailboxes (5 to 6 crashes in 10,000
// commands of the mix; none in 12,000 without those operations, none
// without NOTIFY), which is Dovecot's bug and would make this test fail
// now and then. The other runs do them without NOTIFY.
func TestDovecot(t *testing.T) {
	d := dovecottest.StartWith(t, dovecottest.Options{MailLocation: "mdbox:~/mdbox"},
		dovecottest.User{Name: "stress@example.test", Password: "stress secret"})
	// Bounded by the command count, not the clock, so that a loaded
	// machine runs the same amount of the mix.
	ran := &Result{ByCommand: map[string]int64{}}
	for _, run := range []struct {
		name    string
		shared  bool
		notify  int
		weights map[string]int
	}{
		{"shared", true, -1, nil},
		{"separate", false, -1, nil},
		{"notify", true, 3, map[string]int{"mailbox": 0}},
	} {
		t.Run(run.name, func(t *testing.T) {
			res, err := Run(context.Background(), Options{
				Addr: d.IMAP, User: "stress@example.test", Password: "stress secret",
				Clients: 6, Shared: run.shared, Duration: 3 * time.Minute, Commands: 1200, Seed: 1,
				Notify: run.notify, Weights: run.weights,
			})
			if err != nil {
				t.Fatalf("%v\n%s", err, d.Log())
			}
			var b strings.Builder
			res.Report(&b)
			res.ReportKinds(&b)
			t.Log(b.String())
			if res.ErrorCount() != 0 {
				t.Errorf("errors against Dovecot:\n%s", b.String())
			}
			if res.Commands > 1200 {
				t.Errorf("%d commands, more than the cap of 1200", res.Commands)
			}
			if run.notify > 0 && res.NotifyClients != run.notify {
				t.Errorf("%d clients turned NOTIFY on, want %d", res.NotifyClients, run.notify)
			}
			for k, v := range res.ByCommand {
				ran.ByCommand[k] += v
			}
		})
	}
	for _, o := range ops {
		if !everyCommandRan(ran, o.name) {
			t.Errorf("the mix never ran %s", o.name)
		}
	}
}

// everyCommandRan says whether an operation's command shows in the counts.
func everyCommandRan(res *Result, op string) bool {
	cmd := map[string]string{
		"select": "SELECT", "examine": "EXAMINE", "fetch-flags": "FETCH", "fetch-envelope": "UID FETCH",
		"fetch-body": "UID FETCH", "fetch-partial": "UID FETCH", "store-flags": "STORE", "store-keyword": "UID STORE",
		"search": "SEARCH", "copy": "UID COPY", "move": "UID MOVE", "expunge": "EXPUNGE", "uid-expunge": "UID EXPUNGE",
		"append": "APPEND", "noop": "NOOP", "idle": "IDLE", "check": "CHECK", "status": "STATUS", "list": "LIST",
		"mailbox": "RENAME", "namespace": "NAMESPACE", "close": "CLOSE", "unselect": "UNSELECT", "logout": "LOGOUT",
		"notify-wait": "NOTIFY",
	}[op]
	return res.ByCommand[cmd] > 0
}
