package imapd

import (
	"fmt"
	"strings"
	"testing"

	"postroom/storage"
)

// transcript is one conversation over a raw connection: setup prepares the
// store, then the steps run in order (after LOGIN as alice when login).
type transcript struct {
	name  string
	tweak func(*Options)
	setup func(e *testEnv)
	login bool
	steps []step
}

// threeInInbox delivers three messages to alice's INBOX and marks the
// first \Seen.
func threeInInbox(e *testEnv) {
	for i := 1; i <= 3; i++ {
		e.deliver(e.alice, "", testMessage(i))
	}
	inbox, err := e.st.Mailbox(e.alice.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.SetFlags(e.alice.ID, inbox.ID, []uint32{1}, storage.FlagsAdd, storage.FlagSeen, nil); err != nil {
		e.t.Fatal(err)
	}
}

var transcripts = []transcript{
	{
		name:  "capabilities without TLS and without LAN exception",
		tweak: func(o *Options) { o.AllowPlaintextLAN = false },
		steps: []step{
			{"a CAPABILITY", []string{`^\* CAPABILITY IMAP4rev2 IMAP4rev1 .*STARTTLS.*LOGINDISABLED`, `^a OK`}, []string{`AUTH=PLAIN`}},
			// RFC 9051 6.2.3: LOGIN before TLS is refused.
			{"b LOGIN alice@example.test password-alice@example.test", []string{`^b NO \[PRIVACYREQUIRED\]`}, nil},
			{"c AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC1hbGljZUBleGFtcGxlLnRlc3Q=", []string{`^c NO \[PRIVACYREQUIRED\]`}, nil},
			{"d NOOP", []string{`^d OK`}, nil},
			{"e LOGOUT", []string{`^\* BYE`, `^e OK`}, nil},
		},
	},
	{
		name: "capabilities with the LAN exception, and after login",
		steps: []step{
			{"a CAPABILITY", []string{`^\* CAPABILITY IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- STARTTLS AUTH=PLAIN`, `^a OK`}, []string{`LOGINDISABLED`}},
			{"b LOGIN alice@example.test password-alice@example.test", []string{
				`^b OK \[CAPABILITY IMAP4rev2 IMAP4rev1 .*UNSELECT ENABLE IDLE (NOTIFY )?UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LITERAL\+ UNAUTHENTICATE ID QUOTA QUOTA=RES-STORAGE CONDSTORE QRESYNC SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES PARTIAL MULTIAPPEND CATENATE CONTEXT=SEARCH CONTEXT=SORT COMPRESS=DEFLATE APPENDLIMIT=52428800\]`}, nil},
			{"c CAPABILITY", []string{`^\* CAPABILITY .*APPENDLIMIT=52428800`, `^c OK`}, []string{`STARTTLS`, `AUTH=`}},
		},
	},
	{
		name: "login failures",
		steps: []step{
			{"a LOGIN alice@example.test wrong", []string{`^a NO \[AUTHENTICATIONFAILED\]`}, nil},
			{"b LOGIN nobody@example.test wrong", []string{`^b NO \[AUTHENTICATIONFAILED\]`}, nil},
			{`c LOGIN "alice@example.test" "password-alice@example.test"`, []string{`^c OK`}, nil},
			{"d LOGIN alice@example.test password-alice@example.test", []string{`^d BAD`}, nil},
		},
	},
	{
		name: "AUTHENTICATE PLAIN with an initial response (SASL-IR)",
		steps: []step{
			{"a AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==", []string{`^a NO \[AUTHENTICATIONFAILED\]`}, nil},
			{"b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC1hbGljZUBleGFtcGxlLnRlc3Q=", []string{`^b OK \[CAPABILITY `}, nil},
			{"c SELECT INBOX", []string{`^\* 0 EXISTS`, `^c OK \[READ-WRITE\]`}, nil},
		},
	},
	{
		name: "commands in the wrong state",
		steps: []step{
			{"a SELECT INBOX", []string{`^a BAD`}, nil},
			{"b LOGIN alice@example.test password-alice@example.test", []string{`^b OK`}, nil},
			{"c FETCH 1 FLAGS", []string{`^c BAD`}, nil},
			{"d EXPUNGE", []string{`^d BAD`}, nil},
			{"e UNSELECT", []string{`^e BAD`}, nil},
			{"f FOO", []string{`^f BAD`}, nil}, // after login an unknown command is only BAD
			{"g NOOP", []string{`^g OK`}, nil},
		},
	},
	{
		name:  "NAMESPACE and LIST",
		login: true,
		setup: func(e *testEnv) {
			for _, n := range []string{"Work/Projects/2026", "Work/Clients"} {
				if _, err := e.st.CreateMailbox(e.alice.ID, n, ""); err != nil {
					e.t.Fatal(err)
				}
			}
		},
		steps: []step{
			{"a NAMESPACE", []string{`^\* NAMESPACE \(\(\"\" \"/\"\)\) NIL NIL`, `^a OK`}, nil},
			{`b LIST "" ""`, []string{`^\* LIST \(\\Noselect\) "/" ""`, `^b OK`}, nil},
			{`c LIST "" *`, []string{
				`^\* LIST \(\\HasNoChildren \\Archive\) "/" "Archive"`,
				`^\* LIST \(\\HasNoChildren \\Drafts\) "/" "Drafts"`,
				`^\* LIST \(\\HasNoChildren\) "/" INBOX`,
				`^\* LIST \(\\HasNoChildren \\Junk\) "/" "Junk"`,
				`^\* LIST \(\\HasNoChildren \\Sent\) "/" "Sent"`,
				`^\* LIST \(\\HasNoChildren \\Trash\) "/" "Trash"`,
				`^\* LIST \(\\HasNoChildren\) "/" "Work/Clients"`,
				`^\* LIST \(\\HasNoChildren\) "/" "Work/Projects/2026"`,
				`^c OK`}, []string{`"Work"$`, `"Work/Projects"$`}},
			// "%" stops at the delimiter and names the parent that is no
			// mailbox itself.
			{`d LIST "" %`, []string{`^\* LIST \(\\Noselect \\HasChildren\) "/" "Work"$`, `^d OK`}, []string{`Work/`}},
			{`e LIST "Work/" %`, []string{`^\* LIST \(\\HasNoChildren\) "/" "Work/Clients"`, `^\* LIST \(\\Noselect \\HasChildren\) "/" "Work/Projects"$`, `^e OK`}, nil},
			{`f LIST "" inbox`, []string{`^\* LIST \(\\HasNoChildren\) "/" INBOX`, `^f OK`}, nil},
			{`g LIST (SPECIAL-USE) "" *`, []string{`\\Archive`, `\\Drafts`, `\\Junk`, `\\Sent`, `\\Trash`, `^g OK`}, []string{`INBOX`, `Work`}},
			{`h LIST "" (INBOX Sent) RETURN (STATUS (MESSAGES UNSEEN SIZE))`, []string{
				`^\* LIST .* INBOX`, `^\* STATUS INBOX \(MESSAGES 0 UNSEEN 0 SIZE 0\)`,
				`^\* LIST .* "Sent"`, `^\* STATUS "Sent" \(MESSAGES 0 UNSEEN 0 SIZE 0\)`, `^h OK`}, nil},
			{`i LIST "" "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"`, []string{`^i OK`}, []string{`^\* LIST`}},
			{`j LIST "" Work/*/2026`, []string{`^\* LIST \(\\HasNoChildren\) "/" "Work/Projects/2026"`, `^j OK`}, nil},
		},
	},
	{
		name:  "subscriptions, LSUB and LIST (SUBSCRIBED)",
		login: true,
		setup: func(e *testEnv) {
			if _, err := e.st.CreateMailbox(e.alice.ID, "Lists/go", ""); err != nil {
				e.t.Fatal(err)
			}
		},
		steps: []step{
			{"a SUBSCRIBE Lists/go", []string{`^a OK`}, nil},
			{"b SUBSCRIBE INBOX", []string{`^b OK`}, nil},
			{"c SUBSCRIBE Nowhere", []string{`^c NO \[NONEXISTENT\]`}, nil},
			{`d LSUB "" *`, []string{`^\* LSUB .* INBOX`, `^\* LSUB .* "Lists/go"`, `^d OK`}, nil},
			{`e LSUB "" %`, []string{`^\* LSUB \(\\Noselect .*\) "/" "Lists"$`, `^e OK`}, nil},
			{"f UNSUBSCRIBE Junk", []string{`^f OK`}, nil},
			{`g LIST (SUBSCRIBED) "" *`, []string{`^\* LIST \(.*\\Subscribed\) "/" INBOX`, `^\* LIST \(.*\\Subscribed\) "/" "Lists/go"`, `^g OK`}, []string{`Junk`}},
			{`h LIST (SUBSCRIBED RECURSIVEMATCH) "" %`, []string{`^\* LIST \(\\NonExistent \\HasChildren\) "/" "Lists" \("CHILDINFO" \("SUBSCRIBED"\)\)$`, `^h OK`}, nil},
			{`i LIST "" * RETURN (SUBSCRIBED)`, []string{`^\* LIST \(\\HasNoChildren \\Subscribed\) "/" INBOX`, `^\* LIST \(\\HasNoChildren \\Junk\) "/" "Junk"`, `^i OK`}, nil},
			{"j UNSUBSCRIBE Lists/go", []string{`^j OK`}, nil},
			{`k LSUB "" *`, []string{`^\* LSUB .* INBOX`, `^k OK`}, []string{`Lists`, `Junk`}},
		},
	},
	{
		name:  "CREATE, RENAME, DELETE",
		login: true,
		steps: []step{
			{"a CREATE Projects/", []string{`^a OK`}, nil},
			{"b CREATE Projects", []string{`^b NO \[ALREADYEXISTS\]`}, nil},
			{"c CREATE inbox", []string{`^c NO \[ALREADYEXISTS\]`}, nil},
			{"d CREATE Receipts (USE (\\Archive))", []string{`^d OK`}, nil},
			{"e CREATE Odd (USE (\\Important))", []string{`^e NO \[USEATTR\]`}, nil},
			{`f LIST "" Receipts`, []string{`^\* LIST \(\\HasNoChildren \\Archive\) "/" "Receipts"`, `^f OK`}, nil},
			{"g CREATE Projects/A", []string{`^g OK`}, nil},
			{"h RENAME Projects Done", []string{`^h OK`}, nil},
			{`i LIST "" Done*`, []string{`^\* LIST \(\\HasChildren\) "/" "Done"$`, `^\* LIST \(\\HasNoChildren\) "/" "Done/A"`, `^i OK`}, nil},
			{"j RENAME Nowhere Else", []string{`^j NO \[NONEXISTENT\]`}, nil},
			{"k RENAME Done Sent", []string{`^k NO \[ALREADYEXISTS\]`}, nil},
			{"l DELETE Done", []string{`^l OK`}, nil},
			{`m LIST "" Done*`, []string{`^\* LIST \(\\HasNoChildren\) "/" "Done/A"`, `^m OK`}, []string{`"Done"$`}},
			{"n DELETE INBOX", []string{`^n NO \[CANNOT\]`}, nil},
			{"o DELETE Nowhere", []string{`^o NO \[NONEXISTENT\]`}, nil},
			{"p CREATE &ZeVnLIqe-", []string{`^p OK`}, nil}, // modified UTF-7 for 日本語
			{`q LIST "" &ZeVnLIqe-`, []string{`^\* LIST \(\\HasNoChildren\) "/" "?&ZeVnLIqe-"?`, `^q OK`}, nil},
			{"r ENABLE UTF8=ACCEPT", []string{`^\* ENABLED UTF8=ACCEPT`, `^r OK`}, nil},
			{`s LIST "" *`, []string{`^\* LIST \(\\HasNoChildren\) "/" "日本語"`, `^s OK`}, nil},
		},
	},
	{
		name:  "STATUS",
		login: true,
		setup: threeInInbox,
		steps: []step{
			{"a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE)", []string{
				`^\* STATUS INBOX \(MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 2 DELETED 0 SIZE \d+\)`, `^a OK`}, nil},
			{"b STATUS INBOX (RECENT APPENDLIMIT)", []string{`^\* STATUS INBOX \(APPENDLIMIT 52428800 RECENT 0\)`, `^b OK`}, nil},
			{"c STATUS Nowhere (MESSAGES)", []string{`^c NO \[NONEXISTENT\]`}, nil},
			{"d STATUS INBOX (BOGUS)", []string{`^d BAD`}, nil},
		},
	},
	{
		name:  "SELECT and EXAMINE",
		login: true,
		setup: threeInInbox,
		steps: []step{
			{"a SELECT INBOX", []string{`^\* 3 EXISTS`, `^\* 0 RECENT`, `^\* OK \[UNSEEN 2\]`, `^\* OK \[UIDVALIDITY \d+\]`, `^\* OK \[UIDNEXT 4\]`,
				`^\* FLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft\)`, `^\* OK \[PERMANENTFLAGS \(.*\\\*\)\]`, `^a OK \[READ-WRITE\]`}, nil},
			{"b EXAMINE INBOX", []string{`^\* OK \[CLOSED\]`, `^\* 3 EXISTS`, `^b OK \[READ-ONLY\]`}, nil},
			{"c STORE 1 +FLAGS (\\Flagged)", []string{`^c NO`}, nil},
			{"d EXPUNGE", []string{`^d NO`}, nil},
			{"e MOVE 1 Trash", []string{`^e NO`}, nil},
			{"f CLOSE", []string{`^f OK`}, nil},
			{"g SELECT Nowhere", []string{`^g NO \[NONEXISTENT\]`}, nil},
			{"h ENABLE IMAP4rev2", []string{`^\* ENABLED IMAP4rev2`, `^h OK`}, nil},
			{"i SELECT inbox", []string{`^\* 3 EXISTS`, `^i OK \[READ-WRITE\]`}, []string{`RECENT`, `UNSEEN`}},
		},
	},
	{
		name:  "FETCH metadata items",
		login: true,
		setup: threeInInbox,
		steps: []step{
			{"s SELECT INBOX", []string{`^s OK`}, nil},
			{"a FETCH 1:* (UID FLAGS RFC822.SIZE)", []string{
				`^\* 1 FETCH \(UID 1 FLAGS \(\\Seen\) RFC822.SIZE \d+\)`,
				`^\* 2 FETCH \(UID 2 FLAGS \(\) RFC822.SIZE \d+\)`,
				`^\* 3 FETCH \(UID 3 FLAGS \(\) RFC822.SIZE \d+\)`, `^a OK`}, nil},
			{"b FETCH 2 (INTERNALDATE ENVELOPE)", []string{
				`^\* 2 FETCH \(INTERNALDATE " 5-Nov-2026 09:07:03 \+0000" ENVELOPE \("Thu, 26 Nov 2026 10:00:00 \+0000" "test 2" \(\("Sender" NIL "sender" "example.org"\)\)`,
				`^b OK`}, nil},
			{"c UID FETCH 3 FLAGS", []string{`^\* 3 FETCH \(UID 3 FLAGS \(\)\)`, `^c OK`}, nil},
			{"d FETCH 2,1 FAST", []string{`^\* 1 FETCH`, `^\* 2 FETCH`, `^d OK`}, nil},
			{"e UID FETCH 2:* UID", []string{`^\* 2 FETCH \(UID 2\)`, `^\* 3 FETCH \(UID 3\)`, `^e OK`}, nil},
			{"f UID FETCH 100:* UID", []string{`^\* 3 FETCH \(UID 3\)`, `^f OK`}, nil}, // RFC 9051 6.4.9
			{"g UID FETCH 50:60 UID", []string{`^g OK`}, []string{`FETCH \(`}},
			{"h FETCH 4 FLAGS", []string{`^h BAD`}, nil},
			{"i FETCH 0 FLAGS", []string{`^i (BAD|NO)`}, nil}, // go-imap: NO [SERVERBUG]
			{"j FETCH 1 BOGUS", []string{`^j BAD`}, nil},
			{"k FETCH 1 (FLAGS", []string{`^k BAD`}, nil},
			{"l FETCH 1 FLAGS)", []string{`^l BAD`}, nil},
		},
	},
	{
		name:  "STORE",
		login: true,
		setup: threeInInbox,
		steps: []step{
			{"s SELECT INBOX", []string{`^s OK`}, nil},
			// The new keyword is announced in FLAGS (RFC 9051 7.3.5).
			{"a STORE 1:2 +FLAGS (\\Flagged $Important)", []string{
				`^\* FLAGS \(.*\$Important\)`, `^\* OK \[PERMANENTFLAGS \(.*\$Important \\\*\)\]`,
				`^\* 1 FETCH \(UID 1 FLAGS \(\\Seen \\Flagged \$Important\)\)`, `^\* 2 FETCH \(UID 2 FLAGS \(\\Flagged \$Important\)\)`,
				`^a OK`}, nil},
			{"b STORE 1 -FLAGS (\\Seen)", []string{`^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged \$Important\)\)`, `^b OK`}, nil},
			{"c STORE 2 FLAGS (\\Answered)", []string{`^\* 2 FETCH \(UID 2 FLAGS \(\\Answered\)\)`, `^c OK`}, nil},
			{"d STORE 3 +FLAGS.SILENT (\\Deleted)", []string{`^d OK`}, []string{`FETCH`}},
			{"e FETCH 3 FLAGS", []string{`^\* 3 FETCH \(FLAGS \(\\Deleted\)\)`, `^e OK`}, nil},
			{"f UID STORE 2 -FLAGS.SILENT \\Answered", []string{`^f OK`}, []string{`FETCH`}},
			{"g NOOP", []string{`^g OK`}, []string{`FETCH`, `FLAGS`}}, // our own changes are not echoed
			{"h STORE 1 +FLAGS (\\Recent)", []string{`^h OK`}, nil},
			{"i STORE 1 BOGUS (\\Seen)", []string{`^i BAD`}, nil},
			{"j STORE 9 +FLAGS (\\Seen)", []string{`^j BAD`}, nil},
		},
	},
	{
		name:  "COPY and MOVE with COPYUID",
		login: true,
		setup: threeInInbox,
		steps: []step{
			{"s SELECT INBOX", []string{`^s OK`}, nil},
			{"a COPY 1:2 Archive", []string{`^a OK \[COPYUID \d+ 1:2 1:2\]`}, nil},
			{"b COPY 1 Nowhere", []string{`^b NO \[TRYCREATE\]`}, nil},
			{"c UID MOVE 2 Trash", []string{`^\* OK \[COPYUID \d+ 2 1\]`, `^\* 2 EXPUNGE`, `^c OK`}, nil},
			{"d FETCH 1:* UID", []string{`^\* 1 FETCH \(UID 1\)`, `^\* 2 FETCH \(UID 3\)`, `^d OK`}, nil},
			// Into the selected mailbox: a new UID, the old one expunged.
			{"e MOVE 1 INBOX", []string{`^\* OK \[COPYUID \d+ 1 4\]`, `^\* 1 EXPUNGE`, `^\* 2 EXISTS`, `^e OK`}, nil},
			{"e2 FETCH 1:* UID", []string{`^\* 1 FETCH \(UID 3\)`, `^\* 2 FETCH \(UID 4\)`, `^e2 OK`}, nil},
			{"e3 COPY 1 INBOX", []string{`^\* 3 EXISTS`, `^e3 OK \[COPYUID \d+ 3 5\]`}, nil},
			{"f UID COPY 99 Archive", []string{`^f OK`}, []string{`COPYUID`}},
			{"g STATUS Archive (MESSAGES UIDNEXT)", []string{`^\* STATUS "Archive" \(MESSAGES 2 UIDNEXT 3\)`, `^g OK`}, nil},
		},
	},
	{
		name:  "EXPUNGE, UID EXPUNGE and CLOSE",
		login: true,
		setup: func(e *testEnv) {
			for i := 1; i <= 5; i++ {
				e.deliver(e.alice, "", testMessage(i))
			}
		},
		steps: []step{
			{"s SELECT INBOX", []string{`^\* 5 EXISTS`, `^s OK`}, nil},
			{"a STORE 2,4,5 +FLAGS.SILENT (\\Deleted)", []string{`^a OK`}, nil},
			{"b UID EXPUNGE 4:5", []string{`^\* 4 EXPUNGE`, `^\* 4 EXPUNGE`, `^b OK`}, nil},
			{"c FETCH 1:* UID", []string{`^\* 3 FETCH \(UID 3\)`, `^c OK`}, []string{`UID 4`, `UID 5`}},
			{"d EXPUNGE", []string{`^\* 2 EXPUNGE`, `^d OK`}, nil},
			{"e EXPUNGE", []string{`^e OK`}, []string{`EXPUNGE$`}},
			{"f STORE 1 +FLAGS.SILENT (\\Deleted)", []string{`^f OK`}, nil},
			{"g CLOSE", []string{`^g OK`}, []string{`EXPUNGE$`}},
			{"h STATUS INBOX (MESSAGES)", []string{`^\* STATUS INBOX \(MESSAGES 1\)`, `^h OK`}, nil},
		},
	},
	{
		name:  "APPEND",
		login: true,
		tweak: func(o *Options) { o.AppendLimit = 1000 },
		steps: []step{
			{"s SELECT INBOX", []string{`^\* 0 EXISTS`, `^s OK`}, nil},
			{"a APPEND INBOX (\\Seen $Label) \"26-Nov-2026 10:00:00 +0100\" {12+}\r\nSubject: x\r\n", []string{`^\* 1 EXISTS`, `^a OK \[APPENDUID \d+ 1\]`}, nil},
			// storage keeps the instant, not the zone: the date comes back in UTC.
			{"b FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)", []string{`^\* 1 FETCH \(FLAGS \(\\Seen \$Label \\Recent\) INTERNALDATE "26-Nov-2026 09:00:00 \+0000" RFC822.SIZE 12\)`, `^b OK`}, nil},
			{"c APPEND Nowhere {12+}\r\nSubject: x\r\n", []string{`^c NO \[TRYCREATE\]`}, nil},
			{"d APPEND Drafts (\\Draft) {3+}\r\nabc", []string{`^d OK \[APPENDUID \d+ 1\]`}, nil},
			// Over APPENDLIMIT: refused before the literal is read (RFC 7889).
			{"e APPEND INBOX {2000}", []string{`^e NO \[TOOBIG\]`}, nil},
			{"f NOOP", []string{`^f OK`}, nil},
			// go-imap answers a bad date with NO [SERVERBUG]; the literal it
			// left unread then reads as a line without a command, on which
			// go-imap hangs up.
			{"g APPEND INBOX (\\Seen) \"bad date\" {3+}\r\nabc", []string{`^g (BAD|NO)`}, nil},
		},
	},
	{
		name:  "UNSELECT, UNAUTHENTICATE and IDLE without a mailbox",
		login: true,
		setup: threeInInbox,
		steps: []step{
			{"a SELECT INBOX", []string{`^a OK`}, nil},
			{"b STORE 1:3 +FLAGS.SILENT (\\Deleted)", []string{`^b OK`}, nil},
			{"c UNSELECT", []string{`^c OK`}, nil},
			{"d STATUS INBOX (MESSAGES DELETED)", []string{`^\* STATUS INBOX \(MESSAGES 3 DELETED 3\)`, `^d OK`}, nil},
			{"e UNAUTHENTICATE", []string{`^e OK`}, nil},
			{"f SELECT INBOX", []string{`^f BAD`}, nil},
			{"g LOGIN bob@example.test password-bob@example.test", []string{`^g OK`}, nil},
			{"h STATUS INBOX (MESSAGES)", []string{`^\* STATUS INBOX \(MESSAGES 0\)`, `^h OK`}, nil},
		},
	},
	{
		name:  "bad syntax",
		login: true,
		steps: []step{
			{"a SELECT", []string{`^a BAD`}, nil},
			{"b LIST (", []string{`^b BAD`}, nil},
			{"c STATUS INBOX (MESSAGES", []string{`^c BAD`}, nil},
			{"d STATUS INBOX MESSAGES)", []string{`^d BAD`}, nil},
			{"f CREATE &Jjo", []string{`^f (BAD|NO)`}, nil}, // invalid modified UTF-7
			{"g CREATE \"a\xffb\"", []string{`^g (BAD|NO)`}, nil},
			{"h CREATE a*b", []string{`^h (BAD|NO)`}, nil},
			{"i CREATE /lead", []string{`^i NO`}, nil},
			{"j SEARCH ALL", []string{`^j BAD`}, nil}, // not selected
			{"k NOOP", []string{`^k OK`}, nil},
		},
	},
}

func TestTranscripts(t *testing.T) { runTranscripts(t, transcripts) }

// runTranscripts runs each transcript against a server of its own.
func runTranscripts(t *testing.T, list []transcript) {
	for _, tr := range list {
		t.Run(tr.name, func(t *testing.T) {
			e := newEnv(t, tr.tweak)
			if tr.setup != nil {
				tr.setup(e)
			}
			rc := e.raw()
			if tr.login {
				rc.do(step{send: "L LOGIN alice@example.test password-alice@example.test", want: []string{`^L OK`}})
			}
			rc.run(tr.steps)
		})
	}
}

// TestUnknownCommandBeforeLogin: an unknown command before login is
// answered BAD and the connection goes on (RFC 9051 has no disconnect
// for it); each counts with the Guard, and an address with too many (as
// another protocol talking to the port makes) is told BYE and refused.
func TestUnknownCommandBeforeLogin(t *testing.T) {
	e := newEnv(t, nil)
	const limit = 20 // authguard's default MaxStrikes
	rc := e.raw()
	rc.do(step{send: "a FOO", want: []string{`^a BAD Unknown command`}})
	rc.do(step{send: "b NOOP", want: []string{`^b OK`}})
	rc.send("GET / HTTP/1.1\r\n")
	rc.until(`^GET BAD Unknown command`)
	for i := 2; i < limit-1; i++ {
		rc.do(step{send: fmt.Sprintf("x%d FOO", i), want: []string{`BAD Unknown command`}})
	}
	rc.send("last FOO\r\n")
	lines := rc.until(`^\* BYE`)
	checkLines(t, step{send: "last FOO", want: []string{`^last BAD Unknown command`, `^\* BYE Too many errors`}}, lines)
	c, err := netDial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := readAll(t, c)
	if !strings.HasPrefix(got, "* BYE imap.example.test: Too many errors") {
		t.Fatalf("after %d strikes the greeting is %q, want BYE", limit, got)
	}
	if n := strings.Count(e.logs.String(), "imap unknown command before login"); n != limit {
		t.Errorf("logged %d unknown commands, want %d", n, limit)
	}
}

// TestPipelinedCommands sends 10,000 commands in one write and expects
// 10,000 answers in order (no reordering, nothing dropped).
func TestPipelinedCommands(t *testing.T) {
	e := newEnv(t, nil)
	rc := e.rawLogin(alice)
	const n = 10000
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "n%d NOOP\r\n", i)
		} else {
			fmt.Fprintf(&b, "n%d STATUS INBOX (MESSAGES)\r\n", i)
		}
	}
	go rc.c.Write([]byte(b.String())) // the reads below fail if this does
	for i := 0; i < n; i++ {
		lines := rc.until(`^n\d+ (OK|NO|BAD)`)
		if want := fmt.Sprintf("n%d OK", i); !strings.HasPrefix(lines[len(lines)-1], want) {
			t.Fatalf("answer %d is %q, want %q", i, lines[len(lines)-1], want)
		}
	}
}
