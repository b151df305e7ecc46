package imapd

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// multipartMessage has a text part and a base64 attachment.
const multipartMessage = "From: Bob <bob@example.test>\r\n" +
	"To: Alice <alice@example.test>\r\n" +
	"Subject: Quarterly report\r\n" +
	"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n" +
	"Message-ID: <report@example.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"The numbers are in the attachment.\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream; name=\"r.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAwQF\r\n" +
	"--b1--\r\n"

// TestFetchContent: sections, partial ranges, BINARY, BODYSTRUCTURE, and
// \Seen set by a fetch without .PEEK (RFC 9051 6.4.5, RFC 3516).
func TestFetchContent(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, "", multipartMessage)
	e.deliver(e.alice, "", testMessage(2))
	rc := e.rawLogin(alice)
	size := len(multipartMessage)
	hdrLen := strings.Index(multipartMessage, "\r\n\r\n") + 4
	rc.run([]step{
		{send: "s SELECT INBOX", want: []string{`^s OK`}},
		{send: "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])", want: []string{
			`^\* 1 FETCH \(BODY\[HEADER.FIELDS \(Subject\)\] \{29\}`, `^Subject: Quarterly report`, `^a OK`}},
		{send: "b FETCH 1 FLAGS", want: []string{`^\* 1 FETCH \(FLAGS \(\)\)`, `^b OK`}}, // PEEK left \Seen alone
		{send: "c FETCH 1 BODY.PEEK[HEADER]", want: []string{fmt.Sprintf(`^\* 1 FETCH \(BODY\[HEADER\] \{%d\}`, hdrLen), `^From: Bob`, `^c OK`}},
		{send: "d FETCH 1 BODY.PEEK[1]", want: []string{`^\* 1 FETCH \(BODY\[1\] \{34\}`, `^The numbers are in the attachment.\)`, `^d OK`}},
		{send: "e FETCH 1 BODY.PEEK[2.MIME]", want: []string{`^\* 1 FETCH \(BODY\[2.MIME\] \{\d+\}`, `^Content-Type: application/octet-stream`, `^e OK`}},
		{send: "f FETCH 1 BODY.PEEK[]<0.4>", want: []string{`^\* 1 FETCH \(BODY\[\]<0> \{4\}`, `^From\)`, `^f OK`}},
		{send: "g FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])", want: []string{`^\* 1 FETCH \(BINARY\[2\] ~\{6\}`, `BINARY.SIZE\[2\] 6\)`, `^g OK`}},
		{send: "h FETCH 1 BODYSTRUCTURE", want: []string{
			`^\* 1 FETCH \(BODYSTRUCTURE \(\("text" "plain" \("charset" "utf-8"\) NIL NIL "7bit" 34 1 .*\)\("application" "octet-stream" \("name" "r.bin"\) NIL NIL "base64" 8 .*\) "mixed" \("boundary" "b1"\)`,
			`^h OK`}},
		{send: "i FETCH 1 BODY", want: []string{`^\* 1 FETCH \(BODY \(\("text" "plain" \("charset" "utf-8"\) NIL NIL "7bit" 34 1\)\("application" "octet-stream" \("name" "r.bin"\) NIL NIL "base64" 8\) "mixed"\)\)`, `^i OK`}},
		// Without .PEEK the message becomes \Seen, and the response says so.
		{send: "j FETCH 1 BODY[TEXT]", want: []string{fmt.Sprintf(`^\* 1 FETCH \(FLAGS \(\\Seen\) BODY\[TEXT\] \{%d\}`, size-hdrLen), `^j OK`}},
		{send: "k FETCH 1 (FLAGS RFC822.SIZE)", want: []string{fmt.Sprintf(`^\* 1 FETCH \(FLAGS \(\\Seen\) RFC822.SIZE %d\)`, size), `^k OK`}},
		{send: "l FETCH 2 RFC822", want: []string{`^\* 2 FETCH \(FLAGS \(\\Seen\) RFC822 \{\d+\}`, `^l OK`}},
		{send: "m FETCH 2 BODY[9]", want: []string{`^\* 2 FETCH \(BODY\[9\] (""|\{0\}|NIL)`, `^m OK`}},
		{send: "n UID FETCH 1 (UID BODY.PEEK[1.TEXT])", want: []string{`^n (OK|NO|BAD)`}},
		{send: "o EXAMINE INBOX", want: []string{`^o OK \[READ-ONLY\]`}},
		// EXAMINE: no \Seen change.
		{send: "p STORE 1 -FLAGS (\\Seen)", want: []string{`^p NO`}},
	})
}

// TestSearch: SEARCH and ESEARCH with RETURN, SAVE and "$" (RFC 9051 6.4.4,
// RFC 4731, RFC 5182).
func TestSearch(t *testing.T) {
	e := newEnv(t, nil)
	for i := 1; i <= 5; i++ {
		e.deliver(e.alice, "", testMessage(i))
	}
	e.deliver(e.alice, "", multipartMessage)
	rc := e.rawLogin(alice)
	rc.run([]step{
		{send: "s SELECT INBOX", want: []string{`^s OK`}},
		{send: "a STORE 2,4 +FLAGS.SILENT (\\Flagged)", want: []string{`^a OK`}},
		{send: "b SEARCH FLAGGED", want: []string{`^\* SEARCH 2 4$`, `^b OK`}},
		{send: "c UID SEARCH UNFLAGGED", want: []string{`^\* SEARCH 1 3 5 6$`, `^c OK`}},
		{send: "d SEARCH SUBJECT \"test 3\"", want: []string{`^\* SEARCH 3$`, `^d OK`}},
		{send: "e SEARCH BODY attachment", want: []string{`^\* SEARCH 6$`, `^e OK`}},
		{send: "f SEARCH OR FLAGGED SUBJECT quarterly", want: []string{`^\* SEARCH 2 4 6$`, `^f OK`}},
		{send: "g SEARCH NOT (FLAGGED) 1:3", want: []string{`^\* SEARCH 1 3$`, `^g OK`}},
		{send: "h SEARCH RETURN (MIN MAX COUNT) ALL", want: []string{`^\* ESEARCH \(TAG "h"\) MIN 1 MAX 6 COUNT 6$`, `^h OK`}},
		{send: "i UID SEARCH RETURN (ALL) 2:*", want: []string{`^\* ESEARCH \(TAG "i"\) UID ALL 2:6$`, `^i OK`}},
		{send: "j SEARCH RETURN (SAVE) FLAGGED", want: []string{`^j OK`}},
		{send: "k FETCH $ UID", want: []string{`^\* 2 FETCH \(UID 2\)`, `^\* 4 FETCH \(UID 4\)`, `^k OK`}},
		{send: "l SEARCH $ SUBJECT \"test 4\"", want: []string{`^\* SEARCH 4$`, `^l OK`}},
		{send: "m SEARCH RETURN (COUNT) SUBJECT nothing-like-this", want: []string{`^\* ESEARCH \(TAG "m"\) COUNT 0$`, `^m OK`}},
		{send: "n SEARCH CHARSET UTF-8 TEXT numbers", want: []string{`^\* SEARCH 6$`, `^n OK`}},
		{send: "o SEARCH CHARSET KOI8-R TEXT x", want: []string{`^o NO \[BADCHARSET`}},
		{send: "p SEARCH LARGER 300 SMALLER 100000", want: []string{`^\* SEARCH 6$`, `^p OK`}},
		{send: "q SEARCH UID 4:*", want: []string{`^\* SEARCH 4 5 6$`, `^q OK`}},
		{send: "r SEARCH BOGUS", want: []string{`^r (BAD|NO)`}}, // go-imap: NO [SERVERBUG]
		{send: "t SEARCH (FLAGGED", want: []string{`^t BAD`}},
		{send: "u ENABLE IMAP4rev2", want: []string{`^u OK`}},
		{send: "v SEARCH FLAGGED", want: []string{`^\* ESEARCH \(TAG "v"\) ALL 2,4$`, `^v OK`}},
		// MOVE a saved message away: "$" forgets it (RFC 5182 2.1).
		{send: "w MOVE 2 Archive", want: []string{`^w OK`}},
		{send: "x FETCH $ UID", want: []string{`^\* 3 FETCH \(UID 4\)`, `^x OK`}},
	})
}

// TestDeepNesting: a message nested a thousand multiparts deep is
// answered (whatever storage's parser kept of it) and the connection goes
// on.
func TestDeepNesting(t *testing.T) {
	e := newEnv(t, nil)
	var b strings.Builder
	b.WriteString("Subject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	const depth = 1000
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i, i+1)
	}
	b.WriteString("--b1000\r\nContent-Type: text/plain\r\n\r\nbottom\r\n")
	for i := depth; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	e.deliver(e.alice, "", b.String())
	rc := e.rawLogin(alice)
	rc.run([]step{
		{send: "s SELECT INBOX", want: []string{`^s OK`}},
		{send: "a FETCH 1 BODYSTRUCTURE", want: []string{`^a (OK|NO)`}},
		{send: "b FETCH 1 BODY.PEEK[" + strings.Repeat("1.", 200) + "1]", want: []string{`^b (OK|NO)`}},
		{send: "c SEARCH BODY bottom", want: []string{`^c OK`}},
		{send: "d NOOP", want: []string{`^d OK`}},
	})
}

// TestLargeMessageRoundTrip: an 8 MB message goes in by APPEND and comes
// back by FETCH BODY[] byte for byte, streamed both ways.
func TestLargeMessageRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	line := strings.Repeat("0123456789", 10) + "\r\n"
	for b.Len() < 8<<20 {
		b.WriteString(line)
	}
	msg := b.String()
	rc := e.rawLogin(alice)
	rc.send(fmt.Sprintf("a APPEND INBOX {%d+}\r\n", len(msg)))
	rc.send(msg + "\r\n")
	rc.until(`^a OK \[APPENDUID`)
	rc.do(step{send: "s SELECT INBOX", want: []string{`^s OK`}})
	rc.send("f FETCH 1 BODY.PEEK[]\r\n")
	head := rc.line()
	if want := fmt.Sprintf("* 1 FETCH (BODY[] {%d}", len(msg)); head != want {
		t.Fatalf("got %q, want %q", head, want)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(rc.r, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != msg {
		t.Fatal("the fetched message differs from the appended one")
	}
	rc.until(`^f OK`)
}
