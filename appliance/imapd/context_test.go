package imapd

import (
	"fmt"
	"testing"

	"postroom/storage"
)

// contextMail is a message with a subject and a sent date on a day of
// December 2026, for SORT.
func contextMail(subject string, day int) string {
	return fmt.Sprintf("From: Sender <sender@example.org>\r\nTo: alice@example.test\r\n"+
		"Subject: %s\r\nDate: %d Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n%s body.\r\n",
		subject, day, subject, subject)
}

// sixForContexts delivers six messages to alice's INBOX:
//
//	UID subject  day flags
//	1   delta    3
//	2   alpha    1   $Junk
//	3   charlie  4   \Deleted
//	4   bravo    2   \Deleted $Junk
//	5   echo     6
//	6   golf     5
func sixForContexts(e *testEnv) {
	for _, m := range []struct {
		s string
		d int
	}{{"delta", 3}, {"alpha", 1}, {"charlie", 4}, {"bravo", 2}, {"echo", 6}, {"golf", 5}} {
		e.deliver(e.alice, "", contextMail(m.s, m.d))
	}
	inbox, err := e.st.Mailbox(e.alice.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range []struct {
		uids []uint32
		fl   storage.Flags
		kw   []string
	}{{[]uint32{2, 4}, 0, []string{"$Junk"}}, {[]uint32{3, 4}, storage.FlagDeleted, nil}} {
		if _, err := e.st.SetFlags(e.alice.ID, inbox.ID, f.uids, storage.FlagsAdd, f.fl, f.kw); err != nil {
			e.t.Fatal(err)
		}
	}
}

var foxtrot = contextMail("foxtrot", 7)

// contextTranscripts follow RFC 5267's examples (3.3, 4.2, 4.3, 4.3.1,
// 4.3.3, 4.3.4, 4.3.5, 4.4) on a small mailbox.
var contextTranscripts = []transcript{{
	name:  "UID contexts: ESORT, CONTEXT, UPDATE by own changes, tag reuse, CANCELUPDATE",
	setup: sixForContexts,
	steps: []step{
		{"a SELECT INBOX", []string{`^a OK`}, nil},
		// 3.3: RETURN () is ALL, in sort order; ranges only where the order ascends.
		{"b UID SORT RETURN () (REVERSE DATE) UTF-8 UNDELETED UNKEYWORD $Junk", []string{`^\* ESEARCH \(TAG "b"\) UID ALL 5:6,1$`, `^b OK`}, nil},
		// 4.4: PARTIAL picks positions in sort order.
		{"b2 UID SORT RETURN (PARTIAL 2:3) (REVERSE DATE) UTF-8 UNDELETED UNKEYWORD $Junk", []string{`^\* ESEARCH \(TAG "b2"\) UID PARTIAL \(2:3 6,1\)$`, `^b2 OK`}, nil},
		{"b3 UID SORT RETURN (PARTIAL 7:9) (REVERSE DATE) UTF-8 ALL", []string{`^\* ESEARCH \(TAG "b3"\) UID PARTIAL \(7:9 NIL\)$`, `^b3 OK`}, nil},
		// 4.2: CONTEXT is a hint; the answer is as without it.
		{"c SEARCH RETURN (CONTEXT COUNT) UNDELETED UNKEYWORD $Junk", []string{`^\* ESEARCH \(TAG "c"\) COUNT 3$`, `^c OK`}, nil},
		// 4.3: the result of an UPDATE search follows the mailbox.
		{"d UID SEARCH RETURN (UPDATE COUNT) DELETED KEYWORD $Junk", []string{`^\* ESEARCH \(TAG "d"\) UID COUNT 1$`, `^d OK`}, nil},
		{`e UID STORE 1 +FLAGS.SILENT (\Deleted $Junk)`, []string{`^\* ESEARCH \(TAG "d"\) UID ADDTO \(0 1\)$`, `^e OK`}, nil},
		// 4.3: UPDATE under a tag in use is BAD.
		{"d UID SEARCH RETURN (UPDATE) ALL", []string{`^d BAD`}, []string{`ESEARCH`}},
		{"f UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNDELETED", []string{`^\* ESEARCH \(TAG "f"\) UID ALL 2,5:6$`, `^f OK`}, nil},
		// 4.3.3: ADDTO after the EXISTS, at the new message's place in sort order.
		{fmt.Sprintf("g APPEND INBOX {%d+}\r\n%s", len(foxtrot), foxtrot), []string{`^\* 7 EXISTS`, `^\* ESEARCH \(TAG "f"\) UID ADDTO \(3 7\)$`, `^g OK`}, []string{`TAG "d"`}},
		{`h UID STORE 2 +FLAGS (\Deleted)`, []string{`^\* ESEARCH \(TAG "d"\) UID ADDTO \(0 2\)$`, `^\* ESEARCH \(TAG "f"\) UID REMOVEFROM \(1 2\)$`, `^h OK`}, nil},
		// 4.3.4: REMOVEFROM before the EXPUNGE.
		{"i EXPUNGE", []string{`^\* ESEARCH \(TAG "d"\) UID REMOVEFROM \(0 1:2,4\)$`, `^\* 1 EXPUNGE`, `^\* 1 EXPUNGE`, `^\* 1 EXPUNGE`, `^\* 1 EXPUNGE`, `^i OK`}, []string{`TAG "f"`}},
		// 4.3.5: no updates after CANCELUPDATE.
		{`j CANCELUPDATE "d"`, []string{`^j OK`}, nil},
		{`k UID STORE 5 +FLAGS (\Deleted $Junk)`, []string{`^\* ESEARCH \(TAG "f"\) UID REMOVEFROM \(1 5\)$`, `^k OK`}, []string{`TAG "d"`}},
		{`l CANCELUPDATE "f" "no-such-tag"`, []string{`^l OK`}, nil},
		{`m UID STORE 5 -FLAGS (\Deleted)`, []string{`^m OK`}, []string{`ESEARCH`}},
		{"n CANCELUPDATE", []string{`^n BAD`}, nil},
	},
}, {
	name:  "sequence-number contexts, NOUPDATE over the limit",
	setup: threeInInbox,
	steps: []step{
		{"a SELECT INBOX", []string{`^a OK`}, nil},
		// UPDATE alone returns ALL, as RETURN () does.
		{"b SEARCH RETURN (UPDATE) UNSEEN", []string{`^\* ESEARCH \(TAG "b"\) ALL 2:3$`, `^b OK`}, nil},
		{`c STORE 2 +FLAGS (\Seen)`, []string{`^\* ESEARCH \(TAG "b"\) REMOVEFROM \(0 2\)$`, `^\* 2 FETCH \(UID 2 FLAGS \(\\Seen\)\)`, `^c OK`}, nil},
		{"d SEARCH RETURN (UPDATE MIN) ALL", []string{`^\* ESEARCH \(TAG "d"\) MIN 1$`, `^d OK`}, nil},
		{"e SEARCH RETURN (UPDATE MIN) ALL", []string{`^e OK`}, []string{`NOUPDATE`}},
		{"f SEARCH RETURN (UPDATE MIN) ALL", []string{`^f OK`}, []string{`NOUPDATE`}},
		{"g SEARCH RETURN (UPDATE MIN) ALL", []string{`^g OK`}, []string{`NOUPDATE`}},
		// 4.3.1: over the limit, NOUPDATE; the other options still answered.
		{"h SEARCH RETURN (UPDATE COUNT) ALL", []string{`^\* NO \[NOUPDATE "h"\] `, `^\* ESEARCH \(TAG "h"\) COUNT 3$`, `^h OK`}, nil},
		{`i CANCELUPDATE "d"`, []string{`^i OK`}, nil},
		{"j SEARCH RETURN (UPDATE COUNT) ALL", []string{`^\* ESEARCH \(TAG "j"\) COUNT 3$`, `^j OK`}, []string{`NOUPDATE`}},
		{`k CANCELUPDATE "e" "f" "g" "j"`, []string{`^k OK`}, nil},
		// Sequence numbers in the criteria name the messages they named
		// when the search ran.
		{"l SEARCH RETURN (UPDATE) 1:2 UNSEEN", []string{`^\* ESEARCH \(TAG "l"\) ALL$|^\* ESEARCH \(TAG "l"\)$`, `^l OK`}, nil},
		{`m STORE 2 -FLAGS (\Seen)`, []string{`^\* ESEARCH \(TAG "b"\) ADDTO \(0 2\)$`, `^\* ESEARCH \(TAG "l"\) ADDTO \(0 2\)$`, `^m OK`}, nil},
		{`n STORE 3 +FLAGS (\Seen)`, []string{`^\* ESEARCH \(TAG "b"\) REMOVEFROM \(0 3\)$`, `^n OK`}, []string{`TAG "l"`}},
		// A FETCH that sets \Seen moves the result too.
		{"n2 FETCH 2 BODY[TEXT]", []string{`^\* ESEARCH \(TAG "b"\) REMOVEFROM \(0 2\)$`, `^\* ESEARCH \(TAG "l"\) REMOVEFROM \(0 2\)$`, `^\* 2 FETCH \(FLAGS \(\\Seen\) BODY\[TEXT\]`, `^n2 OK`}, nil},
		{"o UNSELECT", []string{`^o OK`}, nil},
		{`p CANCELUPDATE "b"`, []string{`^p BAD`}, nil},
	},
}}

func TestContextTranscripts(t *testing.T) {
	for _, tr := range contextTranscripts {
		t.Run(tr.name, func(t *testing.T) {
			e := newEnv(t, tr.tweak)
			tr.setup(e)
			rc := e.rawLogin(alice)
			rc.run(tr.steps)
		})
	}
}

// TestContextUpdatesFromOtherSession: one session holds an updating UID
// SEARCH and an updating SORT by sequence number; another appends, stores
// and expunges. Each change reaches the first at its next command, ADDTO
// after EXISTS and REMOVEFROM before EXPUNGE (RFC 5267 4.3.3, 4.3.4).
func TestContextUpdatesFromOtherSession(t *testing.T) {
	e := newEnv(t, nil)
	threeInInbox(e) // "test 1" (\Seen), "test 2", "test 3"
	a := e.rawLogin(alice)
	b := e.rawLogin(alice)
	a.run([]step{
		{"a1 SELECT INBOX", []string{`^a1 OK`}, nil},
		{"s1 UID SEARCH RETURN (UPDATE) UNSEEN", []string{`^\* ESEARCH \(TAG "s1"\) UID ALL 2:3$`, `^s1 OK`}, nil},
		{"s2 SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 UNSEEN", []string{`^\* ESEARCH \(TAG "s2"\) ALL 3,2$`, `^s2 OK`}, nil},
	})
	msg := testMessage(4)
	b.do(step{fmt.Sprintf("b1 APPEND INBOX {%d+}\r\n%s", len(msg), msg), []string{`^b1 OK`}, nil})
	a.do(step{"a2 NOOP", []string{`^\* 4 EXISTS`, `^\* ESEARCH \(TAG "s1"\) UID ADDTO \(0 4\)$`, `^\* ESEARCH \(TAG "s2"\) ADDTO \(1 4\)$`, `^a2 OK`}, nil})
	b.run([]step{
		{"b2 SELECT INBOX", []string{`^b2 OK`}, nil},
		{`b3 STORE 3 +FLAGS (\Seen)`, []string{`^b3 OK`}, nil},
	})
	a.do(step{"a3 NOOP", []string{`^\* ESEARCH \(TAG "s1"\) UID REMOVEFROM \(0 3\)$`, `^\* ESEARCH \(TAG "s2"\) REMOVEFROM \(2 3\)$`, `^a3 OK`}, nil})
	b.run([]step{
		{`b4 STORE 2 +FLAGS (\Deleted)`, []string{`^b4 OK`}, nil},
		{"b5 EXPUNGE", []string{`^\* 2 EXPUNGE`, `^b5 OK`}, nil},
	})
	// Still \Unseen when it went: removed by the expunge, before it.
	a.do(step{"a4 NOOP", []string{`^\* ESEARCH \(TAG "s1"\) UID REMOVEFROM \(0 2\)$`, `^\* ESEARCH \(TAG "s2"\) REMOVEFROM \(2 2\)$`, `^\* 2 EXPUNGE`, `^a4 OK`}, []string{`ADDTO`}})
	b.do(step{`b6 STORE 1 -FLAGS (\Seen)`, []string{`^b6 OK`}, nil})
	a.do(step{"a5 NOOP", []string{`^\* ESEARCH \(TAG "s1"\) UID ADDTO \(0 1\)$`, `^\* ESEARCH \(TAG "s2"\) ADDTO \(2 1\)$`, `^a5 OK`}, nil})
	// The view is 1 (UID 1), 2 (UID 3), 3 (UID 4): "test 4" sorts first.
	a.do(step{"a6 SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 UNSEEN", []string{`^\* ESEARCH \(TAG "a6"\) ALL 3,1$`, `^a6 OK`}, nil})
	a.do(step{"a7 UID SEARCH RETURN (ALL) UNSEEN", []string{`^\* ESEARCH \(TAG "a7"\) UID ALL 1,4$`, `^a7 OK`}, nil})
}

// TestContextSortWithGhost: a SORT context places a message that starts
// to match among results one of which another session has expunged but
// the client still sees (its EXPUNGE may not be sent after FETCH by
// number, RFC 9051 7.5.1); the REMOVEFROM for it comes with its EXPUNGE.
func TestContextSortWithGhost(t *testing.T) {
	e := newEnv(t, nil)
	threeInInbox(e) // "test 1" (\Seen), "test 2", "test 3"
	a, b := e.rawLogin(alice), e.rawLogin(alice)
	a.run([]step{
		{"a1 SELECT INBOX", []string{`^a1 OK`}, nil},
		{"s SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNSEEN", []string{`^\* ESEARCH \(TAG "s"\) ALL 2:3$`, `^s OK`}, nil},
	})
	b.run([]step{
		{"b1 SELECT INBOX", []string{`^b1 OK`}, nil},
		{`b2 STORE 3 +FLAGS.SILENT (\Deleted)`, []string{`^b2 OK`}, nil},
		{"b3 EXPUNGE", []string{`^\* 3 EXPUNGE`, `^b3 OK`}, nil},
		{`b4 STORE 1 -FLAGS.SILENT (\Seen)`, []string{`^b4 OK`}, nil},
	})
	a.run([]step{
		// "test 1" sorts first, before 2 and the expunged 3.
		{"f FETCH 1 FLAGS", []string{`^\* ESEARCH \(TAG "s"\) ADDTO \(1 1\)$`, `^f OK`}, []string{`EXPUNGE`}},
		{"n NOOP", []string{`^\* ESEARCH \(TAG "s"\) REMOVEFROM \(3 3\)$`, `^\* 3 EXPUNGE`, `^n OK`}, nil},
		{"v SORT RETURN (ALL) (SUBJECT) UTF-8 UNSEEN", []string{`^\* ESEARCH \(TAG "v"\) ALL 1:2$`, `^v OK`}, nil},
	})
}
