package imapd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"postroom/storage"
)

// Transcripts of what the own engine (issue #11) changed or added, each
// with its RFC.
var engineTranscripts = []transcript{
	{
		// RFC 3502 6 (the example, smaller messages): several messages in
		// one APPEND, each with its own flags and date; APPENDUID names
		// them all (RFC 4315 3). If one fails none stays (RFC 3502 3).
		name:  "MULTIAPPEND",
		login: true,
		tweak: func(o *Options) { o.AppendLimit = 1000 },
		steps: []step{
			{"s SELECT INBOX", []string{`^\* 0 EXISTS`, `^s OK`}, nil},
			{"a APPEND INBOX (\\Seen) {12+}\r\nSubject: 1\r\n (\\Flagged) \" 1-Jul-2002 22:00:00 -0700\" {12+}\r\nSubject: 2\r\n {12+}\r\nSubject: 3\r\n",
				[]string{`^\* 3 EXISTS`, `^a OK \[APPENDUID \d+ 1:3\]`}, nil},
			{"b FETCH 1:3 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])", []string{
				`^\* 1 FETCH \(FLAGS \(\\Seen \\Recent\)`,
				`^\* 2 FETCH \(FLAGS \(\\Flagged \\Recent\) INTERNALDATE " 2-Jul-2002 05:00:00 \+0000"`,
				`^\* 3 FETCH \(FLAGS \(\\Recent\)`, `^b OK`}, nil},
			// The second message's date is bad: the first is taken back.
			{"c APPEND INBOX {12+}\r\nSubject: 4\r\n \"bad date\" {12+}\r\nSubject: 5\r\n", []string{`^c BAD`}, nil},
			// The third is over APPENDLIMIT: the first two go.
			{"d APPEND INBOX {12+}\r\nSubject: 6\r\n {12+}\r\nSubject: 7\r\n {2000+}\r\n" + strings.Repeat("x", 2000), []string{`^d NO \[TOOBIG\]`}, nil},
			// A synchronising second literal of a missing mailbox
			// (RFC 3502 6's second example).
			{"e APPEND Nowhere {12+}\r\nSubject: 8\r\n", []string{`^e NO \[TRYCREATE\]`}, nil},
			{"f STATUS INBOX (MESSAGES UIDNEXT)", []string{`^\* STATUS INBOX \(MESSAGES 3 UIDNEXT \d+\)`, `^f OK`}, nil},
			{"g UID SEARCH SUBJECT \"4\"", []string{`^\* SEARCH$`, `^g OK`}, nil},
			{"h NOOP", []string{`^h OK`}, []string{`^\* [4-9] EXISTS`}},
			{"i FETCH 1:* (FLAGS)", []string{`^\* 3 FETCH`, `^i OK`}, []string{`^\* [4-9] FETCH`}},
		},
	},
	{
		// RFC 3516 4.4 and 4.2: a literal8 APPEND keeps binary content
		// exactly as sent (a bare LF and a NUL are data), so BINARY.SIZE
		// and BINARY[] are exact; a partial BINARY echoes its origin
		// (RFC 3516 4.2: "BINARY[1]<2>"), and an empty part has size 0.
		name:  "APPEND literal8",
		login: true,
		steps: []step{
			{"s SELECT INBOX", []string{`^s OK`}, nil},
			{"a APPEND INBOX ~{" + fmt.Sprint(len(binaryMessage)) + "+}\r\n" + binaryMessage, []string{`^a OK \[APPENDUID \d+ 1\]`}, nil},
			{"b FETCH 1 (RFC822.SIZE BINARY.SIZE[1] BINARY.SIZE[2])", []string{
				`^\* 1 FETCH \(RFC822.SIZE ` + fmt.Sprint(len(binaryMessage)) + ` BINARY.SIZE\[1\] 8 BINARY.SIZE\[2\] 0\)`, `^b OK`}, nil},
			{"c FETCH 1 BINARY.PEEK[1]", []string{`^\* 1 FETCH \(BINARY\[1\] ~\{8\}$`, `^a$`, "^b\x00c$", `^d\)$`, `^c OK`}, nil},
			{"d FETCH 1 BINARY.PEEK[1]<2.3>", []string{`^\* 1 FETCH \(BINARY\[1\]<2> ~\{3\}$`, "^b\x00c\\)$", `^d OK`}, nil},
			{"e FETCH 1 BINARY.PEEK[2]", []string{`^\* 1 FETCH \(BINARY\[2\] (""|~?\{0\})`, `^e OK`}, nil},
			// A plain literal is still stored with CRLF line ends.
			{"f APPEND INBOX {11+}\r\nSubject: x\n", []string{`^f OK`}, nil},
			{"g FETCH 2 RFC822.SIZE", []string{`^\* 2 FETCH \(RFC822.SIZE 12\)`, `^g OK`}, nil},
			// RFC 6855 3's UTF8 form is a literal8 too: kept as sent.
			{"h ENABLE UTF8=ACCEPT", []string{`^h OK`}, nil},
			{"i APPEND INBOX UTF8 (~{" + fmt.Sprint(len(utf8Message)) + "+}\r\n" + utf8Message + ")", []string{`^i OK \[APPENDUID \d+ 3\]`}, nil},
			{"j FETCH 3 (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])", []string{`^\* 3 FETCH \(RFC822.SIZE ` + fmt.Sprint(len(utf8Message)) + ` `, `^Subject: café`, `^j OK`}, nil},
		},
	},
	{
		// RFC 4469 5 (its example, smaller): a new draft made of the
		// header and first part of a stored one (URLs, RFC 5092) and new
		// TEXT; a URL naming nothing here is NO [BADURL] and, in a
		// MULTIAPPEND, takes back the messages stored before it.
		name:  "CATENATE",
		login: true,
		steps: []step{
			{"a APPEND Drafts {" + fmt.Sprint(len(catenateSource)) + "+}\r\n" + catenateSource, []string{`^a OK \[APPENDUID \d+ 1\]`}, nil},
			{"b APPEND Drafts (\\Seen \\Draft) CATENATE (URL \"/Drafts/;UID=1/;section=HEADER\" TEXT {10+}\r\n--b\r\nX: \r\n" +
				" URL \"/Drafts/;UID=1/;section=1.MIME\" URL \"/Drafts/;UID=1/;section=1\" TEXT {21+}\r\n\r\n--b\r\n\r\nnew\r\n--b--\r\n)",
				[]string{`^b OK \[APPENDUID \d+ 2\]`}, nil},
			{"c SELECT Drafts", []string{`^\* 2 EXISTS`, `^c OK`}, nil},
			{"d FETCH 2 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[1] BODY.PEEK[2] RFC822.SIZE)", []string{
				`^\* 2 FETCH \(FLAGS \(\\Seen \\Draft\) RFC822.SIZE ` + fmt.Sprint(len(catenateResult)) + ` `, `^Subject: plan$`, `BODY\[1\] \{10\}$`,
				`^first part BODY\[2\] \{3\}$`, `^new\)$`, `^d OK`}, nil},
			{"e FETCH 2 BODY.PEEK[]", []string{`^--b$`, `^X: $`, `^Content-Type: text/plain$`, `^first part$`, `^new$`, `^--b--$`, `^e OK`}, nil},
			{"f APPEND Drafts CATENATE (URL \"/Drafts/;UID=99\")", []string{`^f NO \[BADURL /Drafts/;UID=99\]`}, nil},
			{"f2 APPEND Drafts CATENATE (URL \"/Drafts/;UID=1/;section=HEADER\" URL \"/Drafts/;UID=1/;section=2.3\")", []string{`^f2 NO \[BADURL /Drafts/;UID=1/;section=2.3\]`}, nil},
			{"f3 APPEND Drafts CATENATE (URL \"/Drafts/;UID=1/;section=3\")", []string{`^f3 NO \[BADURL `}, nil},
			{"g APPEND Drafts CATENATE (URL \"/Drafts;UIDVALIDITY=4294967295/;UID=1\")", []string{`^g NO \[BADURL `}, nil},
			{"h APPEND Drafts CATENATE (URL \"imap://example.test/Drafts/;UID=1\")", []string{`^h NO \[BADURL `}, nil},
			{"i APPEND Drafts CATENATE (URL \"/Nowhere/;UID=1\")", []string{`^i NO \[BADURL `}, nil},
			{"j APPEND Drafts CATENATE (TEXT {12+}\r\nSubject: j\r\n URL \"/Drafts/;UID=1/;urlauth=anonymous\")", []string{`^j NO \[BADURL `}, nil},
			{"k APPEND Drafts {12+}\r\nSubject: k\r\n CATENATE (URL \"/Drafts/;UID=99\")", []string{`^k NO \[BADURL `}, nil},
			{"l APPEND Nowhere CATENATE (TEXT {12+}\r\nSubject: l\r\n)", []string{`^l NO \[TRYCREATE\]`}, nil},
			{"m NOOP", []string{`^m OK`}, nil},
			{"n STATUS Drafts (MESSAGES)", []string{`^\* STATUS "?Drafts"? \(MESSAGES 2\)`, `^n OK`}, nil},
			// A whole message by URL, then a MULTIAPPEND mixing both forms (UID 3
			// went to k's message, taken back).
			{"o APPEND Drafts CATENATE (URL \"/Drafts/;UID=2\") {12+}\r\nSubject: o\r\n", []string{`^\* 4 EXISTS`, `^o OK \[APPENDUID \d+ 4:5\]`}, nil},
			{"p FETCH 3:4 RFC822.SIZE", []string{`RFC822.SIZE (12|` + fmt.Sprint(len(catenateResult)) + `)\)`, `RFC822.SIZE (12|` + fmt.Sprint(len(catenateResult)) + `)\)`, `^p OK`}, nil},
		},
	},
	{
		// RFC 9051 7.5.2: the ENVELOPE's adl is the source route of an
		// obsolete route address (RFC 5322 4.4), "@a,@b", as Dovecot
		// writes it; NIL for an address without one.
		name:  "ENVELOPE keeps source routes",
		login: true,
		steps: []step{
			{"a APPEND INBOX {65+}\r\nFrom: <@route1,@route2:user@example.com>\r\nTo: bob@example.org\r\n\r\n", []string{`^a OK`}, nil},
			{"b SELECT INBOX", []string{`^b OK`}, nil},
			{"c FETCH 1 ENVELOPE", []string{`\(\(NIL "@route1,@route2" "user" "example.com"\)\) \(\(NIL NIL "bob" "example.org"\)\)`, `^c OK`}, nil},
		},
	},
	{
		// RFC 3501 2.3.2, 6.3.1, 6.4.4: \Recent, RECENT and SEARCH
		// NEW/OLD/RECENT for IMAP4rev1 clients; none after ENABLE
		// IMAP4rev2 (RFC 9051 removed them).
		name:  "Recent for IMAP4rev1",
		login: true,
		steps: []step{
			{"s SELECT INBOX", []string{`^\* 0 EXISTS`, `^\* 0 RECENT`, `^s OK`}, nil},
			{"a APPEND INBOX {11+}\r\nSubject: a\r\n", []string{`^\* 1 EXISTS`, `^\* 1 RECENT`, `^a OK`}, nil},
			{"b APPEND INBOX (\\Seen) {11+}\r\nSubject: b\r\n", []string{`^\* 2 EXISTS`, `^\* 2 RECENT`, `^b OK`}, nil},
			{"c FETCH 1:* FLAGS", []string{`^\* 1 FETCH \(FLAGS \(\\Recent\)\)`, `^\* 2 FETCH \(FLAGS \(\\Seen \\Recent\)\)`, `^c OK`}, nil},
			{"d SEARCH RECENT", []string{`^\* SEARCH 1 2$`, `^d OK`}, nil},
			{"e SEARCH NEW", []string{`^\* SEARCH 1$`, `^e OK`}, nil},
			{"f SEARCH OLD", []string{`^\* SEARCH$`, `^f OK`}, nil},
			// \Recent cannot be set or cleared by STORE.
			{"g STORE 1 -FLAGS (\\Recent)", []string{`^\* 1 FETCH \(UID 1 FLAGS \(\\Recent\)\)`, `^g OK`}, nil},
			{"h STATUS INBOX (RECENT)", []string{`^\* STATUS INBOX \(RECENT 0\)`, `^h OK`}, nil},
			// The session that saw them first keeps them recent; a new
			// SELECT by it is a new session view: nothing is recent.
			{"i SELECT INBOX", []string{`^\* 2 EXISTS`, `^\* 0 RECENT`, `^i OK`}, nil},
			{"j ENABLE IMAP4rev2", []string{`^\* ENABLED IMAP4rev2`, `^j OK`}, nil},
			{"k APPEND INBOX {11+}\r\nSubject: c\r\n", []string{`^\* 3 EXISTS`, `^k OK`}, []string{`RECENT`}},
			{"l FETCH 3 FLAGS", []string{`^\* 3 FETCH \(FLAGS \(\)\)`, `^l OK`}, []string{`Recent`}},
			{"m SELECT INBOX", []string{`^\* 3 EXISTS`, `^m OK`}, []string{`RECENT`}},
		},
	},
	{
		// RFC 3501 9 (atom-char) and RFC 9051 6.3.9: every character an
		// atom allows works in LIST and CREATE.
		name:  "LIST with every atom character",
		login: true,
		steps: []step{
			{"a CREATE w!#$'+,-.:;<=>?@^_`|~[", []string{`^a OK`}, nil},
			{"b LIST \"\" w!#$'+,-.:;<=>?@^_`|~[", []string{"^\\* LIST \\(\\\\HasNoChildren\\) \"/\" \"w!#\\$'\\+,-\\.:;<=>\\?@\\^_`\\|~\\[\"$", `^b OK`}, nil},
			{"c LIST \"\" w!#$'+,-.:;<=>?@^_`|~%", []string{`^\* LIST .*"w!#`, `^c OK`}, nil},
			{"d SELECT w!#$'+,-.:;<=>?@^_`|~[", []string{`^d OK`}, nil},
		},
	},
	{
		// RFC 9051 7.1 and 2.2.2: malformed input is BAD, at once, and
		// the connection goes on.
		name:  "malformed input is BAD",
		login: true,
		steps: []step{
			{`a SELECT "INBOX`, []string{`^a BAD`}, nil},
			{"b SELECT INBOX", []string{`^b OK`}, nil},
			{"c FETCH 0 FLAGS", []string{`^c BAD`}, nil},
			{"d FETCH 1:* (FLAGS", []string{`^d BAD`}, nil},
			{"e APPEND INBOX (\\Seen) \"bad date\" {3+}\r\nabc", []string{`^e BAD`}, nil},
			{"f SEARCH BOGUS", []string{`^f BAD`}, nil},
			{"g STORE 1:* +FLAGS (\\Bogus", []string{`^g BAD`}, nil},
			{"h UID FOO 1", []string{`^h BAD`}, nil},
			{"i NOOP", []string{`^i OK`}, nil},
		},
	},
	{
		// RFC 9051 6.3.9 and RFC 5258 3.1, 5 (example 3): a subscription
		// outlives DELETE and is listed with \NonExistent; UNSUBSCRIBE
		// removes it although the mailbox is gone.
		name:  "subscriptions outlive DELETE",
		login: true,
		steps: []step{
			{"a CREATE Lists/old", []string{`^a OK`}, nil},
			{"b SUBSCRIBE Lists/old", []string{`^b OK`}, nil},
			{"c DELETE Lists/old", []string{`^c OK`}, nil},
			{"d DELETE Trash", []string{`^d OK`}, nil},
			{`e LIST (SUBSCRIBED) "" "*"`, []string{`^\* LIST \(\\NonExistent \\Subscribed\) "/" "Lists/old"$`,
				`^\* LIST \(\\NonExistent \\Subscribed\) "/" "Trash"$`, `^e OK`}, []string{`"Lists"$`}},
			{`f LSUB "" "*"`, []string{`^\* LSUB \(\\Noselect\) "/" "Lists/old"$`, `^f OK`}, nil},
			{`g LIST "" "*"`, []string{`^g OK`}, []string{`Lists`, `Trash`}},
			{`h LIST "" "%"`, []string{`^h OK`}, []string{`Lists`}},
			{`i LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`, []string{`^\* LIST \(\\NonExistent\) "/" "Lists" \("CHILDINFO" \("SUBSCRIBED"\)\)$`, `^i OK`}, nil},
			{"j CREATE Lists/old", []string{`^j OK`}, nil},
			{`k LIST "" "Lists/*" RETURN (SUBSCRIBED)`, []string{`^\* LIST \(\\HasNoChildren \\Subscribed\) "/" "Lists/old"$`, `^k OK`}, nil},
			{"l UNSUBSCRIBE Lists/old", []string{`^l OK`}, nil},
			{"m UNSUBSCRIBE Trash", []string{`^m OK`}, nil},
			{"n UNSUBSCRIBE Trash", []string{`^n NO \[NONEXISTENT\]`}, nil},
			{`o LSUB "" "*"`, []string{`^o OK`}, []string{`Lists`, `Trash`}},
		},
	},
	{
		// RFC 5256 3 (SORT) and RFC 5957 (SORT=DISPLAY): base subjects
		// without Re:/Fwd:/[list] markers, sent dates, first addresses;
		// ties by sequence number.
		name:  "SORT",
		login: true,
		setup: func(e *testEnv) {
			for _, m := range []string{
				"From: carol@example.org\r\nSubject: Re: gamma\r\nDate: Sat, 3 Jan 2026 10:00:00 +0000\r\n\r\nc\r\n",
				"From: Bob <bob@example.org>\r\nSubject: alpha\r\nDate: Thu, 1 Jan 2026 10:00:00 +0000\r\n\r\nb\r\n",
				"From: alice@example.org\r\nSubject: [list] Fwd: Beta (fwd)\r\nDate: Fri, 2 Jan 2026 10:00:00 +0000\r\n\r\na\r\n",
			} {
				e.deliver(e.alice, "", m)
			}
		},
		steps: []step{
			{"s SELECT INBOX", []string{`^s OK`}, nil},
			{"a SORT (SUBJECT) UTF-8 ALL", []string{`^\* SORT 2 3 1$`, `^a OK`}, nil},
			{"b SORT (REVERSE DATE) UTF-8 ALL", []string{`^\* SORT 1 3 2$`, `^b OK`}, nil},
			{"c SORT (FROM) UTF-8 ALL", []string{`^\* SORT 3 2 1$`, `^c OK`}, nil},
			{"d SORT (ARRIVAL) US-ASCII ALL", []string{`^\* SORT 1 2 3$`, `^d OK`}, nil},
			{"e UID SORT (SUBJECT) UTF-8 SUBJECT beta", []string{`^\* SORT 3$`, `^e OK`}, nil},
			{"f SORT (DISPLAYFROM) UTF-8 ALL", []string{`^\* SORT 3 2 1$`, `^f OK`}, nil},
			{"g SORT (SUBJECT) KOI8-R ALL", []string{`^g NO \[BADCHARSET`}, nil},
			{"h SORT (BOGUS) UTF-8 ALL", []string{`^h BAD`}, nil},
			// ESORT (RFC 5267 4.2): in sort order.
			{"h2 SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL", []string{`^\* ESEARCH \(TAG "h2"\) MIN 2 MAX 1 ALL 2:3,1 COUNT 3$`, `^h2 OK`}, nil},
			{"h3 UID SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL", []string{`^\* ESEARCH \(TAG "h3"\) UID ALL 1,3,2$`, `^h3 OK`}, nil},
			{"i APPEND INBOX {48+}\r\nSubject: Re: alpha\r\nDate: 4 Jan 2026 10:00 Z\r\n\r\n", []string{`^i OK`}, nil},
			{"j APPEND INBOX {48+}\r\nSubject: RE: Alpha\r\nDate: 5 Jan 2026 10:00 Z\r\n\r\n", []string{`^j OK`}, nil},
			// RFC 5256 3, ORDEREDSUBJECT: threads by base subject, in the
			// order of their first message; siblings each in parentheses.
			{"k THREAD ORDEREDSUBJECT UTF-8 ALL", []string{`^\* THREAD \(2 \(4\)\(5\)\)\(3\)\(1\)$`, `^k OK`}, nil},
			{"l THREAD ORDEREDSUBJECT UTF-8 NOT SUBJECT alpha", []string{`^\* THREAD \(3\)\(1\)$`, `^l OK`}, nil},
			{"m UID THREAD ORDEREDSUBJECT UTF-8 SUBJECT gamma", []string{`^\* THREAD \(1\)$`, `^m OK`}, nil},
			{"n THREAD BOGUS UTF-8 ALL", []string{`^n BAD`}, nil},
		},
	},
	{
		// RFC 9394 3.1 (examples 1 and 2, on 10 messages): a page of the
		// results, counted from either end.
		name:  "SEARCH PARTIAL",
		login: true,
		setup: func(e *testEnv) {
			for i := 1; i <= 10; i++ {
				e.deliver(e.alice, "", testMessage(i))
			}
		},
		steps: []step{
			{"s SELECT INBOX", []string{`^s OK`}, nil},
			{"a UID SEARCH RETURN (PARTIAL 1:3) ALL", []string{`^\* ESEARCH \(TAG "a"\) UID PARTIAL \(1:3 1:3\)$`, `^a OK`}, nil},
			{"b UID SEARCH RETURN (PARTIAL -1:-4) NOT 5", []string{`^\* ESEARCH \(TAG "b"\) UID PARTIAL \(-1:-4 7:10\)$`, `^b OK`}, nil},
			{"c SEARCH RETURN (PARTIAL 20:30 COUNT) ALL", []string{`^\* ESEARCH \(TAG "c"\) COUNT 10 PARTIAL \(20:30 NIL\)$`, `^c OK`}, nil},
			{"d SEARCH RETURN (PARTIAL 1:2 ALL) ALL", []string{`^d BAD`}, nil},
		},
	},
	{
		// RFC 2971 3.3 example.
		name: "ID",
		steps: []step{
			{`a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")`, []string{`^\* ID \("name" "Postroom"\)`, `^a023 OK`}, nil},
			{`a024 ID NIL`, []string{`^\* ID \(`, `^a024 OK`}, nil},
			{`a025 ID ("name")`, []string{`^a025 BAD`}, nil},
		},
	},
	{
		// RFC 9208 4.3, 4.4 (examples, for an account with a quota of
		// 512 KiB holding one small message).
		name:  "QUOTA",
		login: true,
		setup: func(e *testEnv) {
			if err := e.st.SetQuota(alice, 512<<10); err != nil {
				e.t.Fatal(err)
			}
			e.deliver(e.alice, "", testMessage(1))
		},
		steps: []step{
			{"G GETQUOTAROOT INBOX", []string{`^\* QUOTAROOT INBOX ""$`, `^\* QUOTA "" \(STORAGE 1 512\)$`, `^G OK`}, nil},
			{`H GETQUOTA ""`, []string{`^\* QUOTA "" \(STORAGE 1 512\)$`, `^H OK`}, nil},
			{`I GETQUOTA "nowhere"`, []string{`^I NO`}, nil},
			{"J GETQUOTAROOT Nowhere", []string{`^J NO \[NONEXISTENT\]`}, nil},
		},
	},
	{
		// RFC 9051 6.4.2: UNSELECT closes without expunging.
		name:  "UNSELECT",
		login: true,
		setup: threeInInbox,
		steps: []step{
			{"a SELECT INBOX", []string{`^a OK`}, nil},
			{"b STORE 1 +FLAGS.SILENT (\\Deleted)", []string{`^b OK`}, nil},
			{"c UNSELECT", []string{`^c OK`}, nil},
			{"d FETCH 1 FLAGS", []string{`^d BAD`}, nil},
			{"e STATUS INBOX (MESSAGES DELETED)", []string{`^\* STATUS INBOX \(MESSAGES 3 DELETED 1\)`, `^e OK`}, nil},
		},
	},
}

// binaryMessage has a binary part with a bare LF, a NUL and a CRLF
// ("a\nb\x00c\r\nd", 8 octets) and an empty part.
const binaryMessage = "Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
	"a\nb\x00c\r\nd\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\n\r\n" +
	"--b--\r\n"

// catenateSource is the stored draft the CATENATE transcript builds
// from, and catenateResult what it builds.
const (
	catenateSource = "Subject: plan\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nold\r\n--b--\r\n"
	catenateResult = "Subject: plan\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nX: \r\n" + "Content-Type: text/plain\r\n\r\n" + "first part" +
		"\r\n--b\r\n\r\nnew\r\n--b--\r\n"
)

// utf8Message has a UTF-8 header and bare LF line ends.
const utf8Message = "Subject: café\n\nx\n"

func TestEngineTranscripts(t *testing.T) { runTranscripts(t, engineTranscripts) }

// TestShutdownStuckClient: a client that asks for a large body and never
// reads it does not hold Shutdown past its grace (the hang of issue #11:
// a session stuck on the response writer's lock); the other sessions
// still get BYE, and the store can close afterwards (storagetest checks
// it at cleanup).
func TestShutdownStuckClient(t *testing.T) {
	e := newEnv(t, nil)
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 80000) // 8 MB
	e.deliver(e.alice, "", big)
	stuck := e.rawLogin(alice)
	stuck.do(step{send: "s SELECT INBOX", want: []string{`^s OK`}})
	// Several fetches in one write, none of their answers read: the
	// socket buffers fill and the server blocks in a write.
	stuck.send(strings.Repeat("f FETCH 1 BODY.PEEK[]\r\n", 4))
	other := e.rawLogin(bob)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Shutdown did not return a minute after its 2-second grace")
	}
	if got := readAll(t, other.c); !strings.Contains(got, "* BYE Server shutting down") {
		t.Errorf("an idle client got %q at shutdown, want BYE", got)
	}
}

// TestCondStore: CONDSTORE (RFC 7162 3.1), after its examples: SELECT
// (CONDSTORE) gives HIGHESTMODSEQ, FETCH carries MODSEQ, CHANGEDSINCE
// picks what changed, UNCHANGEDSINCE refuses to overwrite a newer change
// (MODIFIED), SEARCH MODSEQ and STATUS HIGHESTMODSEQ.
func TestCondStore(t *testing.T) {
	e := newEnv(t, nil)
	threeInInbox(e)
	inbox, err := e.st.Mailbox(e.alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	hi := inbox.HighestModSeq
	rc := e.rawLogin(alice)
	rc.run([]step{
		{send: "a CAPABILITY", want: []string{`^\* CAPABILITY .* CONDSTORE`, `^a OK`}},
		{send: "b SELECT INBOX (CONDSTORE)", want: []string{fmt.Sprintf(`^\* OK \[HIGHESTMODSEQ %d\]`, hi), `^b OK \[READ-WRITE\]`}},
		{send: "c FETCH 1:* (FLAGS)", want: []string{`^\* 1 FETCH \(FLAGS \(\\Seen\) MODSEQ \(\d+\)\)`, `^\* 3 FETCH \(FLAGS \(\) MODSEQ \(\d+\)\)`, `^c OK`}},
		{send: fmt.Sprintf("d FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", hi), want: []string{`^d OK`}, none: []string{`FETCH \(`}},
		// RFC 7162 3.1.3, example 7: a conditional STORE that fails for
		// messages changed since.
		{send: "e STORE 1:3 (UNCHANGEDSINCE 1) +FLAGS (\\Flagged)", want: []string{`^e OK \[MODIFIED 1:3\]`}, none: []string{`FETCH \(`}},
		{send: fmt.Sprintf("f UID STORE 2 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Answered)", hi), want: []string{
			fmt.Sprintf(`^\* 2 FETCH \(UID 2 MODSEQ \(%d\)\)`, hi+1), `^f OK`}},
		{send: fmt.Sprintf("g FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)", hi), want: []string{
			fmt.Sprintf(`^\* 2 FETCH \(UID 2 FLAGS \(\\Answered\) MODSEQ \(%d\)\)`, hi+1), `^g OK`}, none: []string{`^\* [13] FETCH`}},
		{send: fmt.Sprintf("h SEARCH MODSEQ %d", hi+1), want: []string{fmt.Sprintf(`^\* SEARCH 2 \(MODSEQ %d\)$`, hi+1), `^h OK`}},
		{send: "i STATUS INBOX (HIGHESTMODSEQ)", want: []string{fmt.Sprintf(`^\* STATUS INBOX \(HIGHESTMODSEQ %d\)`, hi+1), `^i OK`}},
		{send: fmt.Sprintf("j UID STORE 2 (UNCHANGEDSINCE %d) -FLAGS (\\Answered)", hi), want: []string{`^j OK \[MODIFIED 2\]`}},
	})
}

// TestQResync: QRESYNC (RFC 7162 3.2), after the examples of 3.2.5.1 and
// 3.2.6: SELECT with the client's last state gives VANISHED (EARLIER)
// and the changed flags, later expunges come as VANISHED, and UID FETCH
// (CHANGEDSINCE ... VANISHED) names what went.
func TestQResync(t *testing.T) {
	e := newEnv(t, nil)
	for i := 1; i <= 5; i++ {
		e.deliver(e.alice, "", testMessage(i))
	}
	inbox, err := e.st.Mailbox(e.alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	hi := inbox.HighestModSeq
	if _, err := e.st.Expunge(e.alice.ID, inbox.ID, []uint32{2, 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.SetFlags(e.alice.ID, inbox.ID, []uint32{3}, storage.FlagsAdd, storage.FlagFlagged, nil); err != nil {
		t.Fatal(err)
	}
	rc := e.rawLogin(alice)
	rc.run([]step{
		{send: fmt.Sprintf("a SELECT INBOX (QRESYNC (%d %d))", inbox.UIDValidity, hi), want: []string{`^a BAD`}},
		{send: "b ENABLE QRESYNC", want: []string{`^\* ENABLED CONDSTORE QRESYNC`, `^b OK`}},
		{send: fmt.Sprintf("c SELECT INBOX (QRESYNC (%d %d 1:5))", inbox.UIDValidity, hi), want: []string{
			`^\* 3 EXISTS`, `^\* OK \[HIGHESTMODSEQ \d+\]`, `^\* VANISHED \(EARLIER\) 2,4$`,
			`^\* 2 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)`, `^c OK \[READ-WRITE\]`}, none: []string{`UID [15] `}},
		// A UIDVALIDITY the mailbox does not have: a plain SELECT.
		{send: fmt.Sprintf("d SELECT INBOX (QRESYNC (%d %d 1:5))", inbox.UIDValidity+1, hi), want: []string{`^d OK`}, none: []string{`VANISHED`, `FETCH`}},
	})
	if _, err := e.st.Expunge(e.alice.ID, inbox.ID, []uint32{5}); err != nil {
		t.Fatal(err)
	}
	rc.run([]step{
		{send: "n NOOP", want: []string{`^\* VANISHED 5$`, `^n OK`}, none: []string{`EXPUNGE`}},
		{send: "f UID FETCH 1:5 (FLAGS) (CHANGEDSINCE 1 VANISHED)", want: []string{`^\* VANISHED \(EARLIER\) 2,4:5$`,
			`^\* 1 FETCH \(UID 1 FLAGS \(\) MODSEQ \(\d+\)\)`, `^\* 2 FETCH \(UID 3 `, `^f OK`}},
		{send: "g FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", want: []string{`^g BAD`}},
	})
	// A message that arrived since is not gone, only not told yet.
	e.deliver(e.alice, "", testMessage(6))
	rc.do(step{send: "h UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)", want: []string{`^\* VANISHED \(EARLIER\) 2,4:5$`, `^h OK`}})
}
