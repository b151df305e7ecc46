package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// s is shorthand for a step with a command line.
func s(send, expect string) step { return step{send: send, expect: expect} }

// raw is a step that sends bytes as they are.
func raw(send, expect string) step { return step{send: send, expect: expect, raw: true} }

// mailSteps is one accepted transaction: MAIL FROM:from, RCPT TO:to, DATA
// with msg, each answered with a 2xx/3xx (from and to include the angle
// brackets and any parameters).
func mailSteps(from, to, msg string) step {
	return step{group: []step{
		s("MAIL FROM:"+from, "250 "),
		s("RCPT TO:"+to, "250 "),
		s("DATA", "354 "),
		raw(msg+".\r\n", "250 "),
	}}
}

func TestEHLOCapabilities(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TLSConfig = testTLSConfig(t) })
	c := e.dial()
	c.run([]step{s("", "220 mx.example.test ESMTP")})
	io.WriteString(c.conn, "EHLO client.test\r\n")
	lines, err := c.reply()
	if err != nil {
		t.Fatal(err)
	}
	caps := map[string]bool{}
	for i, l := range lines {
		if i == 0 {
			if l != "250-Hello client.test" {
				t.Errorf("first EHLO line %q", l)
			}
			continue
		}
		caps[l[4:]] = true
	}
	for _, want := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING",
		"ENHANCEDSTATUSCODES", "STARTTLS", "SIZE 52428800", "LIMITS RCPTMAX=100"} {
		if !caps[want] {
			t.Errorf("EHLO lacks %q; got %q", want, lines)
		}
	}
	for c := range caps {
		if strings.HasPrefix(c, "AUTH") {
			t.Errorf("MX role advertises %q: no AUTH on port 25", c)
		}
	}

	// Without a certificate there is no STARTTLS to offer.
	e2 := newEnv(t, func(o *Options) { o.MaxMessageBytes = 1000 })
	c2 := e2.dial()
	c2.run([]step{s("", "220 ")})
	io.WriteString(c2.conn, "EHLO client.test\r\n")
	lines, _ = c2.reply()
	joined := strings.Join(lines, "\n")
	if strings.Contains(joined, "STARTTLS") || !strings.Contains(joined, "SIZE 1000") {
		t.Errorf("EHLO without TLS, SIZE 1000: %q", lines)
	}
	c2.run([]step{s("STARTTLS", "502 5.5.1")})
}

func TestHappyPath(t *testing.T) {
	e := newEnv(t, nil)
	body := "From: Sender <sender@remote.test>\r\nTo: alice@example.test\r\nSubject: hello\r\n\r\nHello Alice.\r\n.. a line that began with a dot\r\n"
	c := e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 2.0.0"),
		s("RCPT TO:<alice@example.test>", "250 2.0.0"),
		s("DATA", "354 "),
		raw(body+".\r\n", "250 2.0.0 OK: stored"),
		s("QUIT", "221 "),
	)
	c.expectClosed()
	want := strings.Replace(body, "\r\n..", "\r\n.", 1) // un-dot-stuffed, RFC 5321 4.5.2
	rp, rcv := e.wantOne(alice, []byte(want))
	if rp != "Return-Path: <sender@remote.test>" {
		t.Errorf("Return-Path %q", rp)
	}
	for _, part := range []string{"Received: from client.test ([127.0.0.1])\r\n",
		"\tby mx.example.test with ESMTP id ", "\r\n\tfor <alice@example.test>;\r\n\t"} {
		if !strings.Contains(rcv, part) {
			t.Errorf("Received lacks %q:\n%s", part, rcv)
		}
	}
	if len(e.inbox(bob)) != 0 {
		t.Error("bob got mail")
	}
	// One log line for the delivery, with its fields, and never content.
	logs := e.logs.String()
	for _, part := range []string{`msg="smtp delivered"`, "remote=127.0.0.1", "helo=client.test",
		"from=sender@remote.test", "rcpts=1", fmt.Sprintf("size=%d", len(want)), "code=250", "duration="} {
		if !strings.Contains(logs, part) {
			t.Errorf("log lacks %q:\n%s", part, logs)
		}
	}
	if strings.Contains(logs, "Hello Alice") {
		t.Errorf("message content in the log:\n%s", logs)
	}
}

func TestUnknownUser(t *testing.T) {
	e := newEnv(t, nil)
	e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<nobody@example.test>", "550 5.1.1 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: x\r\n\r\nbody\r\n.\r\n", "250 "),
	)
	e.wantOne(bob, []byte("Subject: x\r\n\r\nbody\r\n"))
	if !strings.Contains(e.logs.String(), "code=550 status=5.1.1") {
		t.Errorf("refusal not logged with its code:\n%s", e.logs.String())
	}
}

// TestRelay: we accept mail for our own domains only, whatever the spelling,
// and refuse every old trick that routes through us (RFC 5321 3.6.1, RFC
// 2505).
func TestRelay(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ rcpt, want string }{
		{"<user@remote.test>", "554 5.7.1 "},
		{"<USER@Remote.TEST>", "554 5.7.1 "},
		{"<user@remote.test.>", "554 5.7.1 "},
		{"<user@REMOTE.test.>", "554 5.7.1 "},
		{"<user@sub.example.test>", "554 5.7.1 "},
		{"<user@example.test.remote.test>", "554 5.7.1 "},
		{"<user@[192.0.2.1]>", "554 5.7.1 "},
		{"<user@[127.0.0.1]>", "554 5.7.1 "},
		{"<user@[IPv6:::1]>", "554 5.7.1 "},
		// % hack and bang path with a local domain (RFC 2505 2.6.1).
		{"<user%remote.test@example.test>", "554 5.7.1 "},
		{"<USER%REMOTE.TEST@EXAMPLE.TEST>", "554 5.7.1 "},
		{"<remote.test!user@example.test>", "554 5.7.1 "},
		// Quoted local parts hiding another address.
		{`<"user@remote.test"@example.test>`, "554 5.7.1 "},
		{`<"user%remote.test"@example.test>`, "554 5.7.1 "},
		{`<"user@remote.test"@example.test.>`, "554 5.7.1 "},
		// Source routes: go-smtp drops the route and we judge the final
		// mailbox, as RFC 5321 3.6.1 says a server SHOULD.
		{"<@example.test:user@remote.test>", "554 5.7.1 "},
		{"<@example.test,@mx.example.test:user@remote.test>", "554 5.7.1 "},
		{"<@remote.test:alice@example.test>", "250 "},
		// Our own domain in any spelling is ours.
		{"<alice@example.test>", "250 "},
		{"<Alice@EXAMPLE.Test>", "250 "},
		{"<alice@example.test.>", "250 "},
		{"<ALICE@example.test.>", "250 "},
		{`<"alice"@example.test>`, "250 "},
		{`<"Alice"@Example.Test.>`, "250 "},
		{"<nobody@example.test.>", "550 5.1.1 "},
		// Not addresses at all.
		{"<alice@example..test>", "553 5.1.3 "},
		{"<alice@example.test..>", "553 5.1.3 "},
		{"<alice@.>", "553 5.1.3 "},
	} {
		t.Run(tc.rcpt, func(t *testing.T) {
			e.transcript(
				s("MAIL FROM:<sender@remote.test>", "250 "),
				s("RCPT TO:"+tc.rcpt, tc.want),
				s("QUIT", "221 "),
			)
		})
	}
	if n := len(e.inbox(alice)); n != 0 {
		t.Errorf("alice has %d messages; no DATA was sent", n)
	}
}

func TestSize(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxMessageBytes = 1000 })
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 20)
	small := "Subject: small\r\n\r\nfits\r\n"
	e.transcript(
		// SIZE= over the limit is refused at MAIL (RFC 1870 6.1).
		s("MAIL FROM:<sender@remote.test> SIZE=1001", "552 5.3.4 "),
		s("MAIL FROM:<sender@remote.test> SIZE=1000", "250 "),
		s("RSET", "250 "),
		// A client that lies or omits SIZE is cut off during DATA; go-smtp
		// drains the rest and the session carries on.
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw(big+".\r\n", "552 5.3.4 "),
		// Same over BDAT: go-smtp refuses the chunk by its declared size.
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		raw(fmt.Sprintf("BDAT %d LAST\r\n%s", len(big), big), "552 5.3.4 "),
		// And the connection is still good for a message that fits.
		mailSteps("<sender@remote.test>", "<alice@example.test>", small),
		s("QUIT", "221 "),
	)
	e.wantOne(alice, []byte(small))
	if !strings.Contains(e.logs.String(), "code=552") {
		t.Errorf("552 not logged:\n%s", e.logs.String())
	}
}

func TestTooManyRecipients(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxRecipients = 2 })
	e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		// RFC 5321 4.5.3.1.10: 452 tells the client to send the rest later.
		s("RCPT TO:<alice@example.test>", "452 4.5.3 "),
		s("DATA", "354 "),
		raw("Subject: two\r\n\r\nx\r\n.\r\n", "250 "),
	)
	e.wantOne(alice, []byte("Subject: two\r\n\r\nx\r\n"))
	_, rcv := e.wantOne(bob, []byte("Subject: two\r\n\r\nx\r\n"))
	if strings.Contains(rcv, "for <") {
		t.Errorf("Received names a recipient of a two-recipient message (RFC 5321 7.2):\n%s", rcv)
	}
}

func TestDuplicateRecipients(t *testing.T) {
	e := newEnv(t, nil)
	e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("RCPT TO:<ALICE@Example.Test>", "250 "),
		s("RCPT TO:<alice@example.test.>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: once\r\n\r\nx\r\n.\r\n", "250 "),
	)
	e.wantOne(alice, []byte("Subject: once\r\n\r\nx\r\n"))
}

// TestOutOfOrder: commands out of sequence. RFC 5321 4.3.2 answers these
// with 503; go-smtp v0.25.1 answers 502 5.5.1 for the ones it checks
// itself (upstream keeps it so: emersion/go-smtp PR #293), and we answer
// 503 5.5.1 for the nested MAIL that go-smtp lets through.
func TestOutOfOrder(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	c.run([]step{
		s("", "220 "),
		s("MAIL FROM:<sender@remote.test>", "502 5.5.1 "),
		s("RCPT TO:<alice@example.test>", "502 5.5.1 "),
		s("DATA", "502 5.5.1 "),
		s("EHLO client.test", "250 "),
		s("RCPT TO:<alice@example.test>", "502 5.5.1 "),
		s("DATA", "502 5.5.1 "),
		// The chunk of a refused BDAT is still read and thrown away.
		raw("BDAT 5 LAST\r\nhello", "502 5.5.1 "),
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("MAIL FROM:<other@remote.test>", "503 5.5.1 "),
		s("DATA", "502 5.5.1 "),
		s("RCPT TO:<nobody@example.test>", "550 "),
		// Every recipient refused: nothing to send to.
		s("DATA", "502 5.5.1 "),
		s("RSET", "250 "),
		s("MAIL FROM:<other@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: in order\r\n\r\nx\r\n.\r\n", "250 "),
		s("QUIT", "221 "),
	})
	rp, _ := e.wantOne(alice, []byte("Subject: in order\r\n\r\nx\r\n"))
	if rp != "Return-Path: <other@remote.test>" {
		t.Errorf("Return-Path %q: the nested MAIL must not replace the sender", rp)
	}
}

func TestOverlongLine(t *testing.T) {
	t.Run("command", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.transcript(s("NOOP "+strings.Repeat("x", 10000), "500 5.4.0 "))
		c.expectClosed()
	})
	t.Run("data", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.transcript(
			s("MAIL FROM:<sender@remote.test>", "250 "),
			s("RCPT TO:<alice@example.test>", "250 "),
			s("DATA", "354 "),
			raw("Subject: long\r\n\r\n"+strings.Repeat("y", 10000)+"\r\n.\r\n", "554 5.6.0 "),
			s("", "500 5.4.0 "),
		)
		c.expectClosed()
		if n := len(e.inbox(alice)); n != 0 {
			t.Errorf("alice has %d messages", n)
		}
	})
	// go-smtp lifts the limit while it copies a BDAT chunk, but counts the
	// part of the chunk read together with the command line, and carries
	// the count of an unfinished line over to the next command. The
	// default MaxLineLength is large enough that neither bites.
	t.Run("bdat has no line limit", func(t *testing.T) {
		e := newEnv(t, nil)
		msg := "Subject: long\r\n\r\n" + strings.Repeat("z", 20000) + "\r\n"
		partial := "Subject: partial\r\n\r\n" + strings.Repeat("p", 4000)
		e.transcript(
			s("MAIL FROM:<sender@remote.test>", "250 "),
			s("RCPT TO:<alice@example.test>", "250 "),
			raw(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg), "250 "),
			s("MAIL FROM:<sender@remote.test>", "250 "),
			s("RCPT TO:<bob@example.test>", "250 "),
			raw(fmt.Sprintf("BDAT %d\r\n%s", len(partial), partial), "250 "),
			raw("BDAT 2 LAST\r\n\r\n", "250 "),
			s("NOOP", "250 "),
		)
		e.wantOne(alice, []byte(msg))
		e.wantOne(bob, []byte(partial+"\r\n"))
	})
}

// TestBDAT: CHUNKING (RFC 3030). Chunks are binary-clean: no dot-stuffing,
// no end marker, and the message need not end with a line break.
func TestBDAT(t *testing.T) {
	e := newEnv(t, nil)
	c1 := "Subject: chunked\r\n\r\n.leading dot stays\r\n.\r\n"
	c2 := ""
	c3 := "no newline at the end"
	e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		raw(fmt.Sprintf("BDAT %d\r\n%s", len(c1), c1), "250 2.0.0 "),
		raw(fmt.Sprintf("BDAT %d\r\n%s", len(c2), c2), "250 2.0.0 "),
		raw(fmt.Sprintf("BDAT %d LAST\r\n%s", len(c3), c3), "250 2.0.0 OK: stored"),
		// Pipelined (RFC 2920): a whole transaction in one write.
		raw("MAIL FROM:<sender@remote.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 9 LAST\r\nSubject:x", ""),
		s("", "250 "), s("", "250 "), s("", "250 "),
		// RSET in the middle of a chunked message abandons it.
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		raw("BDAT 4\r\nlost", "250 "),
		s("RSET", "250 "),
		s("QUIT", "221 "),
	)
	e.wantOne(alice, []byte(c1+c2+c3))
	e.wantOne(bob, []byte("Subject:x"))
}

func TestNullSender(t *testing.T) {
	e := newEnv(t, nil)
	e.transcript(
		s("MAIL FROM:<>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: bounce\r\n\r\nundeliverable\r\n.\r\n", "250 "),
	)
	rp, _ := e.wantOne(alice, []byte("Subject: bounce\r\n\r\nundeliverable\r\n"))
	if rp != "Return-Path: <>" {
		t.Errorf("Return-Path %q, want <>", rp)
	}
}

func TestEightBitBody(t *testing.T) {
	e := newEnv(t, nil)
	var b bytes.Buffer
	b.WriteString("Subject: caf\xc3\xa9 \xe9t\xe9\r\n\r\n")
	for i := 0x80; i <= 0xff; i++ {
		b.WriteByte(byte(i))
	}
	b.WriteString("\r\n\xff\xfe broken UTF-8 \xc3\r\n")
	msg := b.String()
	e.transcript(
		mailSteps("<sender@remote.test> BODY=8BITMIME", "<alice@example.test>", msg),
	)
	e.wantOne(alice, []byte(msg))
}

// TestBareLF: bare LF is stored as CRLF, and only CRLF.CRLF ends DATA, so
// "\n.\r\n" cannot smuggle a second message past us (SMTP smuggling,
// CVE-2023-51766 and friends; RFC 5321 4.1.1.4).
func TestBareLF(t *testing.T) {
	e := newEnv(t, nil)
	sent := "Subject: lf\n\nline1\nline2\r\nsmuggle1\n.\r\nMAIL FROM:<evil@remote.test>\r\n" +
		"smuggle2\r\n.\nRCPT TO:<bob@example.test>\r\nend\r\n"
	// go-smtp's DATA reader drops a dot at the start of a line, also in
	// ".\n": that is dot-unstuffing of a malformed line, not an end.
	unstuffed := strings.Replace(sent, "\r\n.\nRCPT", "\r\n\nRCPT", 1)
	c := e.transcript(
		mailSteps("<sender@remote.test>", "<alice@example.test>", sent),
		s("QUIT", "221 "),
	)
	c.expectClosed()
	e.wantOne(alice, crlf([]byte(unstuffed)))
	if n := len(e.inbox(bob)); n != 0 {
		t.Errorf("a smuggled message reached bob (%d)", n)
	}
}

func TestNULBytes(t *testing.T) {
	e := newEnv(t, nil)
	msg := "Subject: nul\x00\r\n\r\nbefore\x00after\r\n\x00\r\n\x00\x00\x00\r\n"
	e.transcript(
		mailSteps("<sender@remote.test>", "<alice@example.test>", msg),
	)
	e.wantOne(alice, []byte(msg))
}

// TestNoTrailingNewline: over DATA the CRLF before the final dot belongs to
// the message (RFC 5321 4.1.1.4), so only BDAT can send a message that does
// not end in a line break; TestBDAT covers that. An empty DATA message is
// the other extreme.
func TestNoTrailingNewline(t *testing.T) {
	e := newEnv(t, nil)
	e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		raw("BDAT 11 LAST\r\nSubject: nl", "250 "),
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		s("DATA", "354 "),
		raw(".\r\n", "250 "),
	)
	e.wantOne(alice, []byte("Subject: nl"))
	e.wantOne(bob, []byte(""))
}

func TestSMTPUTF8(t *testing.T) {
	e := newEnv(t, nil)
	e.transcript(
		// RFC 6531 3.4: a non-ASCII address without SMTPUTF8 is refused.
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<jos\xc3\xa9@example.test>", "553 5.6.7 "),
		s("RSET", "250 "),
		s("MAIL FROM:<s\xc3\xa9nder@remote.test>", "553 5.6.7 "),
		s("MAIL FROM:<s\xc3\xa9nder@remote.test> SMTPUTF8", "250 "),
		s("RCPT TO:<jos\xc3\xa9@example.test>", "550 5.1.1 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: \xc3\xa9\r\n\r\nx\r\n.\r\n", "250 "),
	)
	rp, rcv := e.wantOne(alice, []byte("Subject: \xc3\xa9\r\n\r\nx\r\n"))
	if rp != "Return-Path: <s\xc3\xa9nder@remote.test>" {
		t.Errorf("Return-Path %q", rp)
	}
	if !strings.Contains(rcv, " with UTF8SMTP id ") {
		t.Errorf("Received without UTF8SMTP (RFC 6531 3.7.3):\n%s", rcv)
	}
}

func TestHeaderInjection(t *testing.T) {
	e := newEnv(t, nil)
	e.transcript(
		// A quoted local part can carry a bare CR into the reverse-path;
		// it would end up in Return-Path.
		s("MAIL FROM:<\"a\rX-Evil: 1\"@remote.test>", "553 5.1.7 "),
		s("MAIL FROM:<\"with space\\\"quote\"@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: q\r\n\r\nx\r\n.\r\n", "250 "),
	)
	rp, _ := e.wantOne(alice, []byte("Subject: q\r\n\r\nx\r\n"))
	if rp != `Return-Path: <"with space\"quote"@remote.test>` {
		t.Errorf("Return-Path %q", rp)
	}
}

func TestHeloInReceived(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	c.run([]step{
		s("", "220 "),
		s("EHLO (evil)", "250 "), // control characters are refused: TestHeloControlCharacters
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: h\r\n\r\nx\r\n.\r\n", "250 "),
		s("EHLO [127.0.0.1]", "250 "),
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: h\r\n\r\nx\r\n.\r\n", "250 "),
	})
	msgs := e.inbox(alice)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	_, rcv, _ := splitTrace(t, msgs[0])
	if !strings.HasPrefix(rcv, "Received: from [127.0.0.1] ([127.0.0.1]) (HELO ?evil?)\r\n") {
		t.Errorf("invalid HELO not neutralised:\n%q", rcv)
	}
	_, rcv, _ = splitTrace(t, msgs[1])
	if !strings.HasPrefix(rcv, "Received: from [127.0.0.1] ([127.0.0.1])\r\n") {
		t.Errorf("address-literal HELO:\n%q", rcv)
	}
}

// TestQuota uses the real store's quota. A SIZE= hint that does not fit is
// refused at RCPT; without one the size is known only after DATA, and a
// message that does not fit gets 452 there, with nothing stored. When only
// one of several recipients is full, everyone gets the message (one reply
// answers for all), and from then on the full account refuses at RCPT.
func TestQuota(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.SetQuota(alice, 1000); err != nil {
		t.Fatal(err)
	}
	small := "Subject: fits\r\n\r\nsmall\r\n"
	big := "Subject: q\r\n\r\n" + strings.Repeat("quota\r\n", 200)
	e.transcript(
		s("MAIL FROM:<sender@remote.test> SIZE=5000", "250 "),
		s("RCPT TO:<alice@example.test>", "452 4.2.2 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		s("RSET", "250 "),
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw(big+".\r\n", "452 4.2.2 "),
		mailSteps("<sender@remote.test>", "<alice@example.test>", small),
	)
	e.wantOne(alice, []byte(small))
	e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		s("DATA", "354 "),
		raw(big+".\r\n", "250 "),
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "452 4.2.2 "),
	)
	if n := len(e.inbox(alice)); n != 2 {
		t.Errorf("alice has %d messages, want 2", n)
	}
	if n := len(e.inbox(bob)); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
}

// TestMailLoop: a message that has passed more than MaxHops servers is
// refused for good (it would loop again), nothing is stored, and the
// connection goes on.
func TestMailLoop(t *testing.T) {
	e := newEnv(t, nil)
	hops := func(n int) string {
		return strings.Repeat("Received: from a.test by b.test; Thu, 26 Nov 2026 12:00:00 +0000\r\n", n) + "Subject: loop\r\n\r\nround and round\r\n"
	}
	e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw(hops(MaxHops+1)+".\r\n", "554 5.4.6 "),
		mailSteps("<sender@remote.test>", "<alice@example.test>", hops(MaxHops)),
	)
	e.wantOne(alice, []byte(hops(MaxHops)))
}

// TestDiskFull uses the real store's reserve: with more reserve than any
// disk has, a full box refuses at MAIL, before the client sends anything.
func TestDiskFull(t *testing.T) {
	st := storagetest.OpenOptions(t, storage.Options{MinFreeBytes: 1 << 60})
	storagetest.Account(t, st, alice)
	e := startServer(t, st, nil)
	e.transcript(
		s("MAIL FROM:<sender@remote.test>", "452 4.3.1 "),
	)
}

// TestFaultMapping: internal faults answer 4xx so the sender retries, and
// never go-smtp's permanent 554 for a non-SMTPError (STYLE convention 3).
func TestFaultMapping(t *testing.T) {
	plain := errors.New("disk controller on fire")
	data := []step{
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
	}
	for _, tc := range []struct {
		name  string
		fault faultStore
		steps []step
	}{
		{"deliver plain error", faultStore{deliverErr: plain},
			append(data, raw("Subject: f\r\n\r\nx\r\n.\r\n", "451 4.3.0 Internal error, try again later"))},
		{"deliver wrapped plain error", faultStore{deliverErr: fmt.Errorf("commit: %w", plain)},
			append(data, raw("Subject: f\r\n\r\nx\r\n.\r\n", "451 4.3.0 "))},
		{"deliver disk full", faultStore{deliverErr: fmt.Errorf("stage: %w", storage.ErrDiskFull)},
			append(data, raw("Subject: f\r\n\r\nx\r\n.\r\n", "452 4.3.1 "))},
		{"deliver over quota", faultStore{deliverErr: storage.ErrOverQuota},
			append(data, raw("Subject: f\r\n\r\nx\r\n.\r\n", "452 4.2.2 "))},
		{"deliver too large", faultStore{deliverErr: storage.ErrTooLarge},
			append(data, raw("Subject: f\r\n\r\nx\r\n.\r\n", "552 5.3.4 "))},
		{"deliver closed store", faultStore{deliverErr: storage.ErrClosed},
			append(data, raw("Subject: f\r\n\r\nx\r\n.\r\n", "451 4.3.0 "))},
		{"bdat plain error", faultStore{deliverErr: plain}, []step{
			s("MAIL FROM:<sender@remote.test>", "250 "),
			s("RCPT TO:<alice@example.test>", "250 "),
			raw("BDAT 5\r\nhello", "250 "),
			raw("BDAT 5 LAST\r\nworld", "451 4.3.0 "),
		}},
		{"disk full at MAIL", faultStore{diskErr: storage.ErrDiskFull}, []step{
			s("MAIL FROM:<sender@remote.test>", "452 4.3.1 "),
		}},
		{"disk check fails", faultStore{diskErr: plain}, []step{
			s("MAIL FROM:<sender@remote.test>", "451 4.3.0 "),
		}},
		{"resolve fails", faultStore{resolveErr: plain}, []step{
			s("MAIL FROM:<sender@remote.test>", "250 "),
			s("RCPT TO:<alice@example.test>", "451 4.3.0 "),
		}},
		{"quota check fails", faultStore{quotaErr: plain}, []step{
			s("MAIL FROM:<sender@remote.test>", "250 "),
			s("RCPT TO:<alice@example.test>", "451 4.3.0 "),
		}},
		{"over quota at RCPT", faultStore{quotaErr: fmt.Errorf("acct 1: %w", storage.ErrOverQuota)}, []step{
			s("MAIL FROM:<sender@remote.test>", "250 "),
			s("RCPT TO:<alice@example.test>", "452 4.2.2 "),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.fault
			e := newEnv(t, func(o *Options) { fs.Store = o.Store; o.Store = &fs })
			e.transcript(append(tc.steps, s("QUIT", "221 "))...)
			if n := len(e.inbox(alice)); n != 0 {
				t.Errorf("alice has %d messages", n)
			}
			logs := e.logs.String()
			if errors.Is(tc.fault.deliverErr, plain) || errors.Is(tc.fault.resolveErr, plain) {
				// Detail in the log, generic text on the wire.
				if !strings.Contains(logs, "disk controller on fire") || !strings.Contains(logs, "level=WARN") {
					t.Errorf("internal error not logged as a warning with its detail:\n%s", logs)
				}
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	const max = 3
	e := newEnv(t, func(o *Options) { o.MaxConnections = max })
	var open []*client
	for range max {
		c := e.dial()
		c.run([]step{s("", "220 ")})
		open = append(open, c)
	}
	extra := e.dial()
	extra.run([]step{s("", "421 4.7.0 ")})
	extra.expectClosed()

	// A connection that ends frees its slot: once the client sees the
	// close, the next one is admitted.
	open[0].run([]step{s("QUIT", "221 ")})
	open[0].expectClosed()
	again := e.dial()
	again.run([]step{s("", "220 "), s("EHLO client.test", "250 ")})
	// The others still work.
	open[1].run([]step{s("EHLO client.test", "250 "), s("NOOP", "250 ")})
	if !strings.Contains(e.logs.String(), "too many connections") {
		t.Errorf("refusal not logged:\n%s", e.logs.String())
	}
}

// TestShutdownDrains: Shutdown ends idle connections with 421 at once, lets
// a transaction in progress finish with 250, then ends that connection too.
func TestShutdownDrains(t *testing.T) {
	e := newEnv(t, nil)
	idle := e.transcript()
	busy := e.transcript(
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: drain\r\n\r\nfirst half\r\n", ""),
	)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	// The idle connection is told at once; this also proves Shutdown runs.
	idle.run([]step{s("", "421 4.4.2 ")})
	idle.expectClosed()
	// No new connections.
	if conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second); err == nil {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		n, _ := conn.Read(make([]byte, 1))
		conn.Close()
		if n != 0 {
			t.Error("a new connection was served during shutdown")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a transaction in progress", err)
	default:
	}
	busy.run([]step{
		raw("second half\r\n.\r\n", "250 "),
		s("", "421 4.4.2 "),
	})
	busy.expectClosed()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	e.wantOne(alice, []byte("Subject: drain\r\n\r\nfirst half\r\nsecond half\r\n"))
}

// TestShutdownDeadline: a client that holds a transaction open past the
// deadline is cut off and Shutdown reports the deadline.
func TestShutdownDeadline(t *testing.T) {
	e := newEnv(t, nil)
	busy := e.transcript(s("MAIL FROM:<sender@remote.test>", "250 "))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	busy.expectClosed()
}

func TestServeAfterClose(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close = %v", err)
	}
}

func TestNewOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without a Store succeeded")
	}
	st := &faultStore{}
	if _, err := New(Options{Store: st, Hostname: "bad host"}); err == nil {
		t.Error("New with a bad hostname succeeded")
	}
	if _, err := New(Options{Store: st, MaxConnections: -1}); err == nil {
		t.Error("New with a negative limit succeeded")
	}
	srv, err := New(Options{Store: st, Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.opts
	d := DefaultOptions
	if got.MaxMessageBytes != d.MaxMessageBytes || got.MaxRecipients != d.MaxRecipients ||
		got.ReadTimeout != d.ReadTimeout || got.WriteTimeout != d.WriteTimeout ||
		got.MaxLineLength != d.MaxLineLength || d.MaxLineLength < 4608 || got.MaxConnections != d.MaxConnections || got.Logger == nil {
		t.Errorf("defaults not applied: %+v", got)
	}
	if d.MaxMessageBytes != 50<<20 || d.MaxRecipients < 100 || d.ReadTimeout < 5*time.Minute {
		t.Errorf("DefaultOptions below RFC 5321 4.5.3 minimums: %+v", d)
	}
}
