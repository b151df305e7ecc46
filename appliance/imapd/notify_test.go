package imapd

import (
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/storage"
)

// The NOTIFY tests (RFC 5465) read what the server pushes without sending
// a command: each read waits for a line with rawConn's bound (a minute),
// never for a fixed time, and a response that must not come is checked
// against a later one that must (events reach a session in commit order).

// pushed reads lines the server sends on its own up to the first that
// matches re, and fails if one of them matches a none pattern.
func pushed(t *testing.T, rc *rawConn, re string, none ...string) []string {
	t.Helper()
	lines := rc.until(re)
	for _, n := range none {
		rx := regexp.MustCompile(n)
		for _, l := range lines {
			if rx.MatchString(l) {
				t.Fatalf("pushed %q, which must not come (waiting for %q); got:\n%s", l, re, strings.Join(lines, "\n"))
			}
		}
	}
	return lines
}

func mustCreate(t *testing.T, st *storage.Store, acct storage.AccountID, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := st.CreateMailbox(acct, n, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNotifyRFCExamples follows the examples of RFC 5465 3.1 and 5:
// STATUS for the watched subtree before the OK, then MessageNew in the
// selected mailbox as EXISTS and FETCH with the asked attributes, and in
// another mailbox as STATUS, and MessageExpunge as EXPUNGE and STATUS,
// all without a command from the client.
func TestNotifyRFCExamples(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Lists", "Lists/Lemonade", "Lists/Im2000", "Lists/Bizarro", "Other")
	e.deliver(e.alice, "Lists/Lemonade", testMessage(1))
	e.deliver(e.alice, "Lists/Lemonade", testMessage(2))
	rc := e.rawLogin(alice)
	other := e.rawLogin(alice)
	rc.do(step{send: "a SELECT INBOX", want: []string{`^\* 0 EXISTS`, `^a OK`}})
	rc.do(step{
		send: "b NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
		want: []string{
			`^\* STATUS "?Lists"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)$`,
			`^\* STATUS "Lists/Bizarro" \(MESSAGES 0 UIDNEXT 1 `,
			`^\* STATUS "Lists/Im2000" \(MESSAGES 0 `,
			`^\* STATUS "Lists/Lemonade" \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 2\)$`,
			`^b OK NOTIFY completed`},
		none: []string{`STATUS "?(INBOX|Other)`, `HIGHESTMODSEQ`},
	})

	// MessageNew elsewhere: STATUS (RFC 5465 5.2).
	e.deliver(e.alice, "Lists/Lemonade", testMessage(3))
	pushed(t, rc, `^\* STATUS "Lists/Lemonade" \(MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 3\)$`)

	// MessageNew in the selected mailbox: EXISTS, then FETCH with UID and
	// the attributes asked for, read without setting \Seen (5.2).
	e.deliver(e.alice, "", testMessage(4))
	pushed(t, rc, `^\* 1 EXISTS$`)
	l := pushed(t, rc, `^\* 1 FETCH \(UID 1 BODY\[HEADER\.FIELDS \([^)]*\)\] \{\d+\}$`)
	if len(l) != 1 && (len(l) != 2 || l[0] != "* 1 RECENT") {
		t.Fatalf("between EXISTS and FETCH: %q", l)
	}
	hdr := pushed(t, rc, `^\)$`)
	if got := strings.Join(hdr, "\n"); !strings.Contains(got, "Subject: test 4") || !strings.Contains(got, "From: Sender") || strings.Contains(got, "Message-ID") {
		t.Fatalf("header fields pushed:\n%s", got)
	}
	rc.do(step{send: "c FETCH 1 (FLAGS)", want: []string{`^\* 1 FETCH \(FLAGS \((\\Recent)?\)\)`, `^c OK`}})

	// A mailbox outside the groups says nothing; the next push proves
	// it was passed over (commit order).
	e.deliver(e.alice, "Other", testMessage(5))
	e.deliver(e.alice, "Lists/Im2000", testMessage(6))
	pushed(t, rc, `^\* STATUS "Lists/Im2000" \(MESSAGES 1 UIDNEXT 2 `, `STATUS "?Other`)

	// MessageExpunge: EXPUNGE for the selected mailbox at once
	// ("selected", 5.3), STATUS for another.
	// A flag change is not asked for: it is not pushed.
	other.run([]step{
		{send: "d SELECT INBOX", want: []string{`^d OK`}},
		{send: `e STORE 1 +FLAGS.SILENT (\Deleted)`, want: []string{`^e OK`}},
		{send: "f EXPUNGE", want: []string{`^\* 1 EXPUNGE`, `^f OK`}},
		{send: `g SELECT "Lists/Lemonade"`, want: []string{`^g OK`}},
		{send: `h UID STORE 1:2 +FLAGS.SILENT (\Deleted)`, want: []string{`^h OK`}},
		{send: `i UID EXPUNGE 1:2`, want: []string{`^i OK`}},
	})
	pushed(t, rc, `^\* 1 EXPUNGE$`, `FETCH`)
	pushed(t, rc, `^\* STATUS "Lists/Lemonade" \(MESSAGES 1 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 1\)$`)

	// NOTIFY NONE: nothing more.
	rc.do(step{send: "j NOTIFY NONE", want: []string{`^j OK`}})
	e.deliver(e.alice, "Lists/Im2000", testMessage(7))
	rc.do(step{send: "k NOOP", want: []string{`^k OK`}, none: []string{`STATUS`}})
}

// TestNotifyTwoSessions: one session asks for the selected mailbox's
// message events and the account's mailbox events; another (go-imap's
// client) appends into a mailbox that is not selected, creates, renames,
// subscribes and deletes mailboxes, and changes and expunges a message in
// the first one's selected mailbox. The first hears of each with no
// command, no IDLE and no NOOP.
func TestNotifyTwoSessions(t *testing.T) {
	e := newEnv(t, nil)
	rc := e.rawLogin(alice)
	rc.do(step{send: "a SELECT INBOX", want: []string{`^a OK`}})
	rc.do(step{
		send: "b NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
		want: []string{`^b OK`},
	})
	c := e.client(alice, nil)

	// Creation (RFC 5465 5.4): the new name's LIST.
	if err := c.Create("Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* LIST \(\\HasNoChildren\) "/" "?Projects"?$`)
	if err := c.Create("Projects/2025", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* LIST \(\\HasNoChildren\) "/" "Projects/2025"$`)

	// MessageNew in a mailbox that is not selected: STATUS (5.2).
	msg := testMessage(1)
	ap := c.Append("Projects", int64(len(msg)), nil)
	ap.Write([]byte(msg))
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* STATUS "?Projects"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)$`)

	// Rename: a LIST with OLDNAME for the mailbox and its child (5.4).
	if err := c.Rename("Projects", "Old", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* LIST \(\\HasChildren\) "/" "?Old"? \("OLDNAME" \("?Projects"?\)\)$`)
	pushed(t, rc, `^\* LIST \(\\HasNoChildren\) "/" "Old/2025" \("OLDNAME" \("Projects/2025"\)\)$`)

	// Subscription (5.5): \Subscribed if and only if subscribed now.
	if err := c.Subscribe("Old/2025").Wait(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* LIST \(\\HasNoChildren \\Subscribed\) "/" "Old/2025"$`)
	if err := c.Unsubscribe("Old/2025").Wait(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* LIST \(\\HasNoChildren\) "/" "Old/2025"$`)

	// Deletion: \NonExistent (5.4).
	if err := c.Delete("Old/2025").Wait(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* LIST \(\\NonExistent\) "/" "Old/2025"$`)

	// The selected mailbox: EXISTS, a flag change as FETCH with UID
	// (5.1), an expunge as EXPUNGE (5.3).
	msg = testMessage(2)
	ap = c.Append("INBOX", int64(len(msg)), nil)
	ap.Write([]byte(msg))
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* 1 EXISTS$`, `STATUS`)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"$Junk"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* 1 FETCH \(UID 1 FLAGS \(\$Junk \\Recent\)\)$`)
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* 1 EXPUNGE$`)

	// The first session is in step: its next command finds nothing owed.
	rc.do(step{send: "c NOOP", want: []string{`^c OK`}, none: []string{`^\* `}})
}

// TestNotifySelectedDelayed: with selected-delayed an EXPUNGE waits for a
// command that allows it (RFC 5465 6.1.2), while the flag change after it
// is pushed; with selected both go at once (5.3).
func TestNotifySelectedDelayed(t *testing.T) {
	for _, filter := range []string{"selected-delayed", "selected"} {
		t.Run(filter, func(t *testing.T) {
			e := newEnv(t, nil)
			for i := 1; i <= 3; i++ {
				e.deliver(e.alice, "", testMessage(i))
			}
			rc := e.rawLogin(alice)
			rc.do(step{send: "a SELECT INBOX", want: []string{`^\* 3 EXISTS`, `^a OK`}})
			rc.do(step{send: "b NOTIFY SET (" + filter + " (MessageNew MessageExpunge FlagChange))", want: []string{`^b OK`}})
			other := e.rawLogin(alice)
			other.run([]step{
				{send: "c SELECT INBOX", want: []string{`^c OK`}},
				{send: `d UID STORE 1 +FLAGS.SILENT (\Deleted)`, want: []string{`^d OK`}},
				{send: "e UID EXPUNGE 1", want: []string{`^e OK`}},
				{send: `f UID STORE 2 +FLAGS.SILENT (\Flagged)`, want: []string{`^f OK`}},
			})
			if filter == "selected" {
				pushed(t, rc, `^\* 1 EXPUNGE$`)
				pushed(t, rc, `^\* 1 FETCH \(UID 2 FLAGS \(\\Flagged\)\)$`)
				rc.do(step{send: "g FETCH 1 (UID)", want: []string{`^\* 1 FETCH \(UID 2\)`, `^g OK`}})
				return
			}
			// The \Deleted flag of UID 1 and then \Flagged of UID 2 are
			// pushed; the EXPUNGE is not: sequence numbers stay.
			pushed(t, rc, `^\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\)\)$`, `EXPUNGE`)
			rc.do(step{send: "g FETCH 1 (UID)", want: []string{`^\* 1 FETCH \(UID 1\)`, `^g OK`}, none: []string{`EXPUNGE`}})
			rc.do(step{send: "h NOOP", want: []string{`^\* 1 EXPUNGE`, `^h OK`}})
		})
	}
}

// TestNotifyWithoutSelectedGroup: events for the selected mailbox are
// not pushed when no selected group asks for them (RFC 5465 3.1: as
// "selected NONE"), nor sent as STATUS; the end of a command still
// reports them.
func TestNotifyWithoutSelectedGroup(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Work")
	rc := e.rawLogin(alice)
	rc.do(step{send: "a SELECT INBOX", want: []string{`^a OK`}})
	rc.do(step{send: "b NOTIFY SET (personal (MessageNew MessageExpunge))", want: []string{`^b OK`}})
	e.deliver(e.alice, "", testMessage(1))
	e.deliver(e.alice, "Work", testMessage(2))
	pushed(t, rc, `^\* STATUS "?Work"? \(MESSAGES 1 `, `EXISTS`, `STATUS INBOX`)
	rc.do(step{send: "c NOOP", want: []string{`^\* 1 EXISTS`, `^c OK`}})
}

// TestNotifyIdle: in IDLE the server sends the events NOTIFY asked for
// (RFC 5465 4), also of mailboxes that are not selected; a session with
// no mailbox selected hears of them too.
func TestNotifyIdle(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Work")
	rc := e.rawLogin(alice)
	rc.do(step{send: "a ENABLE CONDSTORE", want: []string{`^a OK`}})
	rc.do(step{send: "b NOTIFY SET STATUS (mailboxes Work (MessageNew MessageExpunge FlagChange))",
		want: []string{`^\* STATUS "?Work"? \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0 HIGHESTMODSEQ \d+\)`, `^b OK`}})
	rc.send("c IDLE\r\n")
	pushed(t, rc, `^\+ `)
	dv := e.deliver(e.alice, "Work", testMessage(1))
	pushed(t, rc, `^\* STATUS "?Work"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1 HIGHESTMODSEQ \d+\)$`)
	// A flag change (FlagChange) in a mailbox that is not selected.
	if _, err := e.st.SetFlags(e.alice.ID, dv.Mailbox, []uint32{dv.UID}, storage.FlagsAdd, storage.FlagSeen, nil); err != nil {
		t.Fatal(err)
	}
	pushed(t, rc, `^\* STATUS "?Work"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0 HIGHESTMODSEQ \d+\)$`)
	rc.send("DONE\r\n")
	pushed(t, rc, `^c OK`)
}

// TestNotifyBadInput: the RFC's rules on what a NOTIFY may say. Syntax
// and the rules of RFC 5465 5 and 6.1 are BAD; an event we cannot report
// is NO [BADEVENT] listing the ones we can (3.1). A refused SET leaves
// the one before in force.
func TestNotifyBadInput(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Work")
	rc := e.raw()
	badEvent := `NO \[BADEVENT \(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange\)\]`
	rc.run([]step{
		{send: "a NOTIFY NONE", want: []string{`^a BAD Log in first`}},
		{send: "b LOGIN alice@example.test password-alice@example.test", want: []string{`^b OK \[CAPABILITY [^]]* NOTIFY `}},
		{send: "c CAPABILITY", want: []string{`^\* CAPABILITY .* NOTIFY`, `^c OK`}},
		{send: "d NOTIFY SET (personal (MessageNew MessageExpunge))", want: []string{`^d OK`}},
		{send: "e NOTIFY", want: []string{`^e BAD`}},
		{send: "f NOTIFY SET", want: []string{`^f BAD`}},
		{send: "g NOTIFY SET (everything (MessageNew MessageExpunge))", want: []string{`^g BAD`}},
		{send: "h NOTIFY SET (personal (MessageNew))", want: []string{`^h BAD`}},
		{send: "i NOTIFY SET (personal (FlagChange))", want: []string{`^i BAD`}},
		{send: "j NOTIFY SET (selected (MailboxName))", want: []string{`^j BAD`}},
		{send: "k NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))", want: []string{`^k BAD`}},
		{send: "l NOTIFY SET (personal (MessageNew (UID) MessageExpunge))", want: []string{`^l BAD`}},
		{send: "m NOTIFY SET (selected (MessageNew (RFC822) MessageExpunge))", want: []string{`^m BAD`}},
		{send: "n NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))", want: []string{`^n ` + badEvent}},
		{send: "o NOTIFY SET (personal (MailboxMetadataChange))", want: []string{`^o ` + badEvent}},
		{send: "p NOTIFY SET (personal (ServerMetadataChange)) (inboxes (MessageNew MessageExpunge))", want: []string{`^p ` + badEvent}},
		{send: "q NOTIFY SET (subscribed (XNoSuchEvent))", want: []string{`^q ` + badEvent}},
		{send: "r NOTIFY SET (mailboxes () (MessageNew MessageExpunge))", want: []string{`^r BAD`}},
	})
	// The SET of d still holds.
	e.deliver(e.alice, "Work", testMessage(1))
	pushed(t, rc, `^\* STATUS "?Work"? \(MESSAGES 1 `)
}

// TestNotifyOverflow: a session that owes its client more than
// notifyBacklog responses says OK [NOTIFICATIONOVERFLOW] and behaves as
// after NOTIFY NONE (RFC 5465 5.8). It falls behind while it waits for
// the literal of an APPEND.
func TestNotifyOverflow(t *testing.T) {
	old := notifyBacklog
	notifyBacklog = 3
	t.Cleanup(func() { notifyBacklog = old })
	e := newEnv(t, nil)
	rc := e.rawLogin(alice)
	rc.do(step{send: "a NOTIFY SET (personal (MailboxName))", want: []string{`^a OK`}})
	msg := testMessage(1)
	rc.send("b APPEND INBOX {" + itoa(uint64(len(msg))) + "}\r\n")
	pushed(t, rc, `^\+ `)
	other := e.rawLogin(alice)
	for _, name := range []string{"A", "B", "C", "D"} {
		other.do(step{send: "c CREATE " + name, want: []string{`^c OK`}})
	}
	rc.send(msg + "\r\n")
	pushed(t, rc, `^\* OK \[NOTIFICATIONOVERFLOW\] `, `LIST`)
	pushed(t, rc, `^b OK \[APPENDUID `)
	other.do(step{send: "d CREATE E", want: []string{`^d OK`}})
	rc.do(step{send: "e NOOP", want: []string{`^e OK`}, none: []string{`LIST`}})
	// NOTIFY can be set again.
	rc.do(step{send: "f NOTIFY SET (personal (MailboxName))", want: []string{`^f OK`}})
	other.do(step{send: "g DELETE E", want: []string{`^g OK`}})
	pushed(t, rc, `^\* LIST \(\\NonExistent\) "/" "?E"?$`)
}

// TestNotifyContextOrder: with a CONTEXT=SEARCH update open, a new
// message goes out as EXISTS, then the FETCH NOTIFY asked for, then the
// ESEARCH ADDTO (RFC 5465 7), pushed between commands.
func TestNotifyContextOrder(t *testing.T) {
	e := newEnv(t, nil)
	rc := e.rawLogin(alice)
	rc.run([]step{
		{send: "a SELECT INBOX", want: []string{`^a OK`}},
		{send: "b NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge))", want: []string{`^b OK`}},
		{send: "c UID SEARCH RETURN (UPDATE) UNSEEN", want: []string{`^c OK`}},
	})
	e.deliver(e.alice, "", testMessage(1))
	lines := pushed(t, rc, `^\* ESEARCH \(TAG "c"\) UID ADDTO \(0 1\)$`)
	checkLines(t, step{send: "(pushed)", want: []string{`^\* 1 EXISTS$`, `^\* 1 FETCH \(UID 1 FLAGS \((\\Recent)?\)\)$`, `^\* ESEARCH`}}, lines)
}

// TestNotifyFilters: "subscribed" follows the subscriptions as they
// change (RFC 5465 6.4), "inboxes" is INBOX, "subtree" covers a mailbox
// and everything below it, under its old name or its new one (6.5). A
// change outside every group says nothing: the next one that is told
// proves it was passed over.
func TestNotifyFilters(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Work", "Lists", "Elsewhere")
	rc := e.rawLogin(alice)
	other := e.rawLogin(alice)
	rc.do(step{send: "a NOTIFY SET (subscribed (MessageNew MessageExpunge SubscriptionChange)) (inboxes (MessageNew MessageExpunge)) (subtree Lists (MailboxName))",
		want: []string{`^a OK`}})
	e.deliver(e.alice, "Work", testMessage(1))
	e.deliver(e.alice, "", testMessage(2))
	pushed(t, rc, `^\* STATUS INBOX \(MESSAGES 1 `, `Work`)

	other.do(step{send: "b SUBSCRIBE Work", want: []string{`^b OK`}})
	pushed(t, rc, `^\* LIST \(\\HasNoChildren \\Subscribed\) "/" "?Work"?$`)
	e.deliver(e.alice, "Work", testMessage(3))
	pushed(t, rc, `^\* STATUS "?Work"? \(MESSAGES 2 `)
	other.do(step{send: "c UNSUBSCRIBE Work", want: []string{`^c OK`}})
	pushed(t, rc, `^\* LIST \(\\HasNoChildren\) "/" "?Work"?$`)
	e.deliver(e.alice, "Work", testMessage(4))
	e.deliver(e.alice, "", testMessage(5))
	pushed(t, rc, `^\* STATUS INBOX \(MESSAGES 2 `, `Work`)

	other.run([]step{
		{send: "d CREATE Elsewhere/Deeper", want: []string{`^d OK`}},
		{send: "e CREATE Lists/New", want: []string{`^e OK`}},
	})
	pushed(t, rc, `^\* LIST \(\\HasNoChildren\) "/" "Lists/New"$`, `Elsewhere`)
	other.do(step{send: "f RENAME Elsewhere Lists/Moved", want: []string{`^f OK`}})
	pushed(t, rc, `^\* LIST \(\\HasChildren\) "/" "Lists/Moved" \("OLDNAME" \("?Elsewhere"?\)\)$`)
	pushed(t, rc, `^\* LIST \(\\HasNoChildren\) "/" "Lists/Moved/Deeper" \("OLDNAME" \("Elsewhere/Deeper"\)\)$`)
	other.do(step{send: "g RENAME Lists/New Outside", want: []string{`^g OK`}})
	pushed(t, rc, `^\* LIST \(\\HasNoChildren\) "/" "?Outside"? \("OLDNAME" \("Lists/New"\)\)$`)
	other.do(step{send: "h DELETE Lists/Moved", want: []string{`^h OK`}})
	pushed(t, rc, `^\* LIST \(\\NonExistent \\HasChildren\) "/" "Lists/Moved"$`)
}

// deflateConn is a client's side of COMPRESS=DEFLATE (RFC 4978) with Go's
// compress/flate: every write ends with a sync flush.
type deflateConn struct {
	net.Conn
	r io.Reader
	w *flate.Writer
}

func (d *deflateConn) Read(p []byte) (int, error) { return d.r.Read(p) }

func (d *deflateConn) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err == nil {
		err = d.w.Flush()
	}
	return n, err
}

// TestNotifyCompressed: what NOTIFY pushes between commands reaches a
// client that turned on COMPRESS=DEFLATE, each push flushed whole.
func TestNotifyCompressed(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Work")
	rc := e.rawLogin(alice)
	rc.do(step{send: "a COMPRESS DEFLATE", want: []string{`^a OK`}})
	if rc.r.Buffered() != 0 {
		t.Fatal("bytes after the COMPRESS answer")
	}
	fw, _ := flate.NewWriter(rc.c, flate.DefaultCompression)
	rc.c = &deflateConn{Conn: rc.c, r: flate.NewReader(rc.c), w: fw}
	rc.r = bufio.NewReader(rc.c)
	rc.do(step{send: "b NOTIFY SET (personal (MessageNew MessageExpunge))", want: []string{`^b OK`}})
	for i := 1; i <= 3; i++ {
		e.deliver(e.alice, "Work", testMessage(i))
		pushed(t, rc, `^\* STATUS "?Work"? \(MESSAGES `+itoa(uint64(i))+` `)
	}
	rc.do(step{send: "c NOOP", want: []string{`^c OK`}})
}

// TestNotifyShutdown: a session waiting under NOTIFY (its read is in
// another goroutine) is told BYE at once when the server drains, and
// UNAUTHENTICATE ends NOTIFY.
func TestNotifyShutdown(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Work")
	gone := e.rawLogin(alice)
	gone.run([]step{
		{send: "a NOTIFY SET (personal (MessageNew MessageExpunge))", want: []string{`^a OK`}},
		{send: "b UNAUTHENTICATE", want: []string{`^b OK`}},
		{send: "c LOGIN alice@example.test password-alice@example.test", want: []string{`^c OK`}},
	})
	rc := e.rawLogin(alice)
	rc.do(step{send: "a NOTIFY SET (personal (MessageNew MessageExpunge))", want: []string{`^a OK`}})
	e.deliver(e.alice, "Work", testMessage(1))
	pushed(t, rc, `^\* STATUS "?Work"? \(MESSAGES 1 `)
	gone.do(step{send: "d NOOP", want: []string{`^d OK`}, none: []string{`STATUS`}})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	pushed(t, rc, `^\* BYE Server shutting down`)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// notifyTracker reads everything a NOTIFY session is sent, in a goroutine
// of its own, and keeps what the client is told: the selected mailbox's
// size (EXISTS, EXPUNGE) and each other mailbox's last MESSAGES. A
// sequence number outside what the client knows, or a BAD, NO or BYE, is
// a problem.
type notifyTracker struct {
	mu       sync.Mutex
	exists   uint64
	messages map[string]uint64
	problems []string
	tagged   chan string
}

var (
	rxNum    = regexp.MustCompile(`^\* (\d+) (EXISTS|EXPUNGE|FETCH)`)
	rxStatus = regexp.MustCompile(`^\* STATUS "?([^"]*)"? \(MESSAGES (\d+) `)
)

func trackNotify(rc *rawConn, exists uint64) *notifyTracker {
	tr := &notifyTracker{exists: exists, messages: map[string]uint64{}, tagged: make(chan string, 1)}
	go func() {
		for {
			rc.c.SetReadDeadline(time.Now().Add(5 * time.Minute))
			l, err := rc.r.ReadString('\n')
			if err != nil {
				return // the test is over
			}
			l = strings.TrimRight(l, "\r\n")
			tr.mu.Lock()
			if m := rxNum.FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseUint(m[1], 10, 32)
				switch m[2] {
				case "EXISTS":
					if n < tr.exists {
						tr.problems = append(tr.problems, "EXISTS went down: "+l)
					}
					tr.exists = n
				case "EXPUNGE":
					if n == 0 || n > tr.exists {
						tr.problems = append(tr.problems, "EXPUNGE out of range: "+l)
					}
					tr.exists--
				case "FETCH":
					if n == 0 || n > tr.exists {
						tr.problems = append(tr.problems, "FETCH out of range: "+l)
					}
				}
			} else if m := rxStatus.FindStringSubmatch(l); m != nil {
				tr.messages[m[1]], _ = strconv.ParseUint(m[2], 10, 32)
			} else if strings.HasPrefix(l, "z ") {
				tr.tagged <- l
			} else if regexp.MustCompile(`^(\S+ (BAD|NO)|\* BYE) `).MatchString(l) {
				tr.problems = append(tr.problems, l)
			}
			tr.mu.Unlock()
		}
	}()
	return tr
}

// TestNotifyUnderLoad: three clients append, flag, expunge, create,
// delete and subscribe at once while two sessions hear of it all under
// NOTIFY, one with "selected" (EXPUNGE at any time) and one with
// "selected-delayed". Each stays in step: its sequence numbers never
// leave what it was told, and after a last NOOP its INBOX size and the
// MESSAGES of the last STATUS of each other mailbox are the store's.
func TestNotifyUnderLoad(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Work1", "Work2")
	for i := 0; i < 5; i++ {
		e.deliver(e.alice, "", testMessage(i))
		e.deliver(e.alice, "Work1", testMessage(i))
	}
	var trackers []*notifyTracker
	var conns []*rawConn
	for _, filter := range []string{"selected", "selected-delayed"} {
		rc := e.rawLogin(alice)
		rc.do(step{send: "a SELECT INBOX", want: []string{`^\* 5 EXISTS`, `^a OK`}})
		rc.do(step{send: "b NOTIFY SET STATUS (" + filter + " (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
			want: []string{`^b OK`}})
		conns = append(conns, rc)
		trackers = append(trackers, trackNotify(rc, 5))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for k := 0; k < 3; k++ {
		c := e.client(alice, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(k), 7))
			for i := 0; i < 40; i++ {
				if err := notifyLoadStep(c, rnd, k, i); err != nil {
					errs <- fmt.Errorf("client %d step %d: %w", k, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The last change of each mailbox is an expunge, so that a lost
	// MessageExpunge shows (a later MessageNew would hide it).
	c := e.client(alice, nil)
	for _, box := range []string{"Work1", "Work2", "INBOX"} {
		if _, err := c.Select(box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
		if err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i, rc := range conns {
		tr := trackers[i]
		rc.send("z NOOP\r\n")
		select {
		case l := <-tr.tagged:
			if !strings.HasPrefix(l, "z OK") {
				t.Fatalf("NOOP: %s", l)
			}
		case <-time.After(time.Minute):
			t.Fatal("no answer to NOOP in a minute")
		}
		tr.mu.Lock()
		for _, p := range tr.problems {
			t.Errorf("session %d: %s", i, p)
		}
		for _, name := range []string{"INBOX", "Work1", "Work2"} {
			mb, err := e.st.Mailbox(e.alice.ID, name)
			if err != nil {
				t.Fatal(err)
			}
			got := tr.messages[name]
			if name == "INBOX" {
				got = tr.exists
			}
			if got != uint64(mb.Messages) {
				t.Errorf("session %d: %s has %d messages, the client was told %d", i, name, mb.Messages, got)
			}
		}
		tr.mu.Unlock()
	}
}

// notifyLoadStep is one change of TestNotifyUnderLoad's mix.
func notifyLoadStep(c *imapclient.Client, rnd *rand.Rand, k, i int) error {
	appendTo := func(box string) error {
		msg := testMessage(100*k + i)
		ap := c.Append(box, int64(len(msg)), nil)
		ap.Write([]byte(msg))
		ap.Close()
		_, err := ap.Wait()
		return err
	}
	boxes := []string{"INBOX", "Work1", "Work2"}
	box := boxes[rnd.IntN(len(boxes))]
	switch rnd.IntN(6) {
	case 0, 1:
		return appendTo(box)
	case 2:
		if _, err := c.Select(box, nil).Wait(); err != nil {
			return err
		}
		op := imap.StoreFlagsAdd
		if rnd.IntN(2) == 0 {
			op = imap.StoreFlagsDel
		}
		return c.Store(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	case 3:
		if _, err := c.Select(box, nil).Wait(); err != nil {
			return err
		}
		uid := imap.UID(1 + rnd.IntN(20))
		if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return err
		}
		return c.UIDExpunge(imap.UIDSetNum(uid)).Close()
	case 4:
		name := fmt.Sprintf("Tmp%d-%d", k, i)
		if err := c.Create(name, nil).Wait(); err != nil {
			return err
		}
		return c.Delete(name).Wait()
	default:
		if rnd.IntN(2) == 0 {
			return c.Subscribe("Work2").Wait()
		}
		return c.Unsubscribe("Work2").Wait()
	}
}

// TestNotifyFirstGroupWins: the first event group that covers a mailbox
// decides its events, so a group with NONE before a wider one leaves a
// mailbox out.
func TestNotifyFirstGroupWins(t *testing.T) {
	e := newEnv(t, nil)
	mustCreate(t, e.st, e.alice.ID, "Work", "Other")
	rc := e.rawLogin(alice)
	rc.do(step{send: "a NOTIFY SET (mailboxes Work NONE) (personal (MessageNew MessageExpunge))", want: []string{`^a OK`}})
	e.deliver(e.alice, "Work", testMessage(1))
	e.deliver(e.alice, "Other", testMessage(2))
	pushed(t, rc, `^\* STATUS "?Other"? \(MESSAGES 1 `, `Work`)
	rc.do(step{send: "b NOTIFY SET (personal (MessageNew MessageExpunge)) (mailboxes Work NONE)", want: []string{`^b OK`}})
	e.deliver(e.alice, "Work", testMessage(3))
	pushed(t, rc, `^\* STATUS "?Work"? \(MESSAGES 2 `)
}

// BenchmarkIdleNotify200: the memory of 200 sessions that wait under
// NOTIFY (a watcher and a goroutine waiting for the next command each)
// beside 200 that wait in IDLE, on the same server. Reported in
// docs/BENCHMARKS.md.
func BenchmarkIdleNotify200(b *testing.B) {
	e := newEnv(b, func(o *Options) { o.MaxConnections, o.MaxConnectionsPerIP = 1000, 1000 })
	for _, mode := range []string{"idle", "notify"} {
		b.Run(mode, func(b *testing.B) {
			const n = 200
			for i := 0; i < b.N; i++ {
				before := heapInUse()
				conns := make([]*rawConn, n)
				for j := range conns {
					rc := e.rawLogin(alice)
					rc.do(step{send: "s SELECT INBOX", want: []string{`^s OK`}})
					if mode == "idle" {
						rc.send("i IDLE\r\n")
						rc.until(`^\+ `)
					} else {
						rc.do(step{send: "n NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
							want: []string{`^n OK`}})
					}
					conns[j] = rc
				}
				extra := float64(heapInUse()) - float64(before)
				b.ReportMetric(extra/(1<<20), "MiB-extra")
				b.ReportMetric(extra/n/1024, "KiB/conn")
				for _, rc := range conns {
					rc.c.Close()
				}
			}
		})
	}
}
