package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/authguard"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// recordingOutbound is the queue as a list: what submission handed over,
// byte for byte.
type recordingOutbound struct {
	mu   sync.Mutex
	msgs []queued
	err  error // returned by Enqueue after reading the body
}

type queued struct {
	from string
	to   []string
	body []byte
}

func (r *recordingOutbound) EnqueueStaged(ctx context.Context, from string, to []string, body *storage.Staged, prefix []byte) (string, error) {
	b, err := io.ReadAll(io.MultiReader(bytes.NewReader(prefix), body.Reader()))
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return "", r.err
	}
	r.msgs = append(r.msgs, queued{from, append([]string(nil), to...), b})
	return "q" + string(rune('0'+len(r.msgs))), nil
}

func (r *recordingOutbound) all() []queued {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]queued(nil), r.msgs...)
}

// Accounts of the submission tests, besides alice and bob: alice has the
// alias "a.liddell@example.test"; carol has the catch-all of other.test,
// where dave has his own account.
const (
	aliceAlias = "a.liddell@example.test"
	carol      = "carol@other.test"
	dave       = "dave@other.test" // a colleague in carol's catch-all domain
)

func password(name string) string { return "password-" + name }

// subEnv is a submission server on 587 (STARTTLS) and one on 465
// (implicit TLS) over one store, sharing one Guard and one Outbound.
type subEnv struct {
	*testEnv          // port 587
	tls      *testEnv // port 465
	out      *recordingOutbound
	guard    *authguard.Guard
	tlsConf  *tls.Config
}

func newSubEnv(t testing.TB, tweak func(*Options)) *subEnv {
	t.Helper()
	st := storagetest.Open(t)
	storagetest.Account(t, st, alice)
	storagetest.Account(t, st, bob)
	storagetest.Account(t, st, carol)
	if err := st.AddAddress(alice, aliceAlias); err != nil {
		t.Fatal(err)
	}
	if err := st.AddAddress(carol, "@other.test"); err != nil {
		t.Fatal(err)
	}
	storagetest.Account(t, st, dave)
	e := &subEnv{
		out: &recordingOutbound{},
		guard: authguard.New(authguard.Options{FailureDelay: time.Millisecond, MaxFailures: 3, MaxStrikes: 1000,
			Logger: slog.New(slog.DiscardHandler)}),
		tlsConf: testTLSConfig(t),
	}
	opts := func(implicit bool) func(*Options) {
		return func(o *Options) {
			o.TLSConfig = e.tlsConf
			o.ImplicitTLS = implicit
			o.Submission = &Submission{Accounts: st, Guard: e.guard, Outbound: e.out}
			if tweak != nil {
				tweak(o)
			}
		}
	}
	e.testEnv = startServer(t, st, opts(false))
	e.tls = startServer(t, st, opts(true))
	return e
}

var clientTLS = &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.test"}

// dialSubmission connects to 587 with STARTTLS, or to 465, and logs in.
func (e *subEnv) dialSubmission(t testing.TB, implicit bool, auth sasl.Client) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	var err error
	if implicit {
		c, err = smtp.DialTLS(e.tls.addr, clientTLS)
	} else {
		c, err = smtp.DialStartTLS(e.addr, clientTLS)
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			t.Fatalf("AUTH: %v", err)
		}
	}
	return c
}

func send(t testing.TB, c *smtp.Client, from string, to []string, msg []byte) error {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

func wantCode(t testing.TB, err error, code int, enh smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code || se.EnhancedCode != enh {
		t.Fatalf("got %v, want %d %v", err, code, enh)
	}
}

func submitted(from string) []byte {
	return []byte("From: Alice <" + from + ">\r\nTo: <bob@example.test>, <friend@remote.test>\r\n" +
		"Subject: submitted\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <m1@example.test>\r\n\r\n" +
		"Hello Bob and friend.\r\n.leading dot\r\n")
}

// TestSubmissionSTARTTLSPlain: AUTH PLAIN after STARTTLS on 587; a local
// recipient lands in INBOX, a remote one reaches the queue byte-exact
// after our Received field; nothing in Sent by default.
func TestSubmissionSTARTTLSPlain(t *testing.T) {
	e := newSubEnv(t, nil)
	c := e.dialSubmission(t, false, sasl.NewPlainClient("", alice, password(alice)))
	msg := submitted(alice)
	if err := send(t, c, alice, []string{bob, "friend@Remote.TEST."}, msg); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	rp, rcv := e.wantOne(bob, msg)
	if rp != "Return-Path: <alice@example.test>" {
		t.Errorf("Return-Path %q", rp)
	}
	if !strings.Contains(rcv, " with ESMTPSA id ") || !strings.Contains(rcv, "(using TLS 1.3") {
		t.Errorf("Received does not record TLS + AUTH (RFC 3848):\n%s", rcv)
	}
	q := e.out.all()
	if len(q) != 1 || q[0].from != alice || len(q[0].to) != 1 || q[0].to[0] != "friend@remote.test" {
		t.Fatalf("queued %+v", q)
	}
	i := bytes.Index(q[0].body, []byte("From: Alice"))
	if i < 0 || !bytes.Equal(q[0].body[i:], msg) || !bytes.HasPrefix(q[0].body, []byte("Received: from client.test ([127.0.0.1])")) {
		t.Fatalf("queued body is not Received + the message byte-exact:\n%q", q[0].body)
	}
	if bytes.Contains(q[0].body[:i], []byte("Return-Path")) || bytes.Contains(q[0].body[:i], []byte("Message-ID")) {
		t.Errorf("queued header adds more than Received:\n%s", q[0].body[:i])
	}
	for _, secret := range []string{password(alice), base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + password(alice)))} {
		if strings.Contains(e.logs.String(), secret) || bytes.Contains(q[0].body, []byte(secret)) {
			t.Errorf("the password leaked into the log or the message")
		}
	}
	if n := len(readMailbox(t, e.st, alice, "Sent")); n != 0 {
		t.Errorf("Sent has %d messages without SentCopy", n)
	}
	if !strings.Contains(e.logs.String(), `msg="smtp login"`) || !strings.Contains(e.logs.String(), "user=alice@example.test") {
		t.Errorf("login not logged:\n%s", e.logs.String())
	}
}

// TestSubmissionImplicitTLSLogin: AUTH LOGIN on 465; Date and Message-ID
// added when missing (RFC 6409 8.2, 8.3), to local and queued copies alike.
func TestSubmissionImplicitTLSLogin(t *testing.T) {
	e := newSubEnv(t, nil)
	c := e.dialSubmission(t, true, sasl.NewLoginClient(alice, password(alice)))
	if st, ok := c.TLSConnectionState(); !ok || !st.HandshakeComplete {
		t.Fatal("465 is not TLS")
	}
	msg := []byte("From: " + aliceAlias + "\r\nSubject: bare\r\n\r\nno date, no id\r\n")
	if err := send(t, c, aliceAlias, []string{bob, "x@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	msgs := e.inbox(bob)
	if len(msgs) != 1 {
		t.Fatalf("bob has %d messages", len(msgs))
	}
	_, rcv, rest := splitTrace(t, msgs[0])
	if !strings.Contains(rcv, " with ESMTPSA ") {
		t.Errorf("Received:\n%s", rcv)
	}
	if !bytes.HasPrefix(rest, []byte("Date: ")) || !bytes.Contains(rest, []byte("\r\nMessage-ID: <")) || !bytes.HasSuffix(rest, msg) {
		t.Errorf("Date/Message-ID not added before the message:\n%s", rest)
	}
	q := e.out.all()
	if len(q) != 1 || !bytes.HasSuffix(q[0].body, rest) {
		t.Fatalf("queued copy differs from the local one")
	}
}

// TestSubmissionNeedsTLS: before STARTTLS, AUTH is neither offered nor
// accepted (RFC 4954 4, RFC 8314), and nothing is accepted without it.
func TestSubmissionNeedsTLS(t *testing.T) {
	e := newSubEnv(t, nil)
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + password(alice)))
	c := e.dial()
	c.run([]step{s("", "220 ")})
	io.WriteString(c.conn, "EHLO client.test\r\n")
	lines, _ := c.reply()
	if caps := strings.Join(lines, "\n"); strings.Contains(caps, "AUTH") || !strings.Contains(caps, "STARTTLS") {
		t.Errorf("EHLO before TLS: %q", lines)
	}
	c.run([]step{
		s("AUTH PLAIN "+ir, "538 5.7.11 "),
		s("AUTH LOGIN", "538 5.7.11 "),
		s("MAIL FROM:<alice@example.test>", "530 5.7.0 "),
		s("RCPT TO:<bob@example.test>", "502 5.5.1 "),
		s("QUIT", "221 "),
	})
	// After STARTTLS it is offered.
	tc, err := smtp.DialStartTLS(e.addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.Hello("client.test")
	if ok, mechs := tc.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("AUTH under TLS: %v %q", ok, mechs)
	}
	// The MX role never offers it.
	mx := newEnv(t, func(o *Options) { o.TLSConfig = testTLSConfig(t) })
	mx.transcript(s("AUTH PLAIN "+ir, "502 5.5.1 "))
	if len(e.out.all()) != 0 || len(e.inbox(bob)) != 0 {
		t.Error("mail went through without login")
	}
}

// TestSubmissionPlaintextLAN: with AllowPlaintextLAN a loopback client may
// log in without TLS (old office clients); the transcript covers the SASL
// details.
func TestSubmissionPlaintextLAN(t *testing.T) {
	e := newSubEnv(t, func(o *Options) { o.Submission.AllowPlaintextLAN = true })
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	e.transcript(
		// Malformed SASL: not base64, wrong PLAIN shape, cancel.
		s("AUTH PLAIN !!!", "454 4.7.0 "),
		s("AUTH PLAIN "+b64("no-nuls"), "501 5.5.2 "),
		s("AUTH LOGIN", "334 VXNlcm5hbWU6"),
		s("*", "501 5.0.0 "),
		s("AUTH CRAM-MD5", "504 5.5.4 "),
		// Acting as someone else (authorization identity) is refused.
		s("AUTH PLAIN "+b64(bob+"\x00"+alice+"\x00"+password(alice)), "535 5.7.8 "),
		// LOGIN with the user name as the initial response.
		s("AUTH LOGIN "+b64(alice), "334 UGFzc3dvcmQ6"),
		s(b64(password(alice)), "235 2.0.0 "),
		s("AUTH PLAIN "+b64("\x00"+alice+"\x00"+password(alice)), "503 5.5.1 "),
		s("MAIL FROM:<alice@example.test>", "250 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		s("DATA", "354 "),
		raw("From: alice@example.test\r\nSubject: lan\r\n\r\nx\r\n.\r\n", "250 2.0.0 OK: stored"),
		// The reply says where the message went: here and to the queue,
		// or only to the queue.
		s("MAIL FROM:<alice@example.test>", "250 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		s("RCPT TO:<carol@remote.test>", "250 "),
		s("DATA", "354 "),
		raw("From: alice@example.test\r\nSubject: both\r\n\r\nx\r\n.\r\n", "250 2.0.0 OK: stored and queued for the other servers"),
		s("MAIL FROM:<alice@example.test>", "250 "),
		s("RCPT TO:<dave@remote.test>", "250 "),
		s("DATA", "354 "),
		raw("From: alice@example.test\r\nSubject: away\r\n\r\nx\r\n.\r\n", "250 2.0.0 OK: queued for delivery"),
		s("QUIT", "221 "),
	)
	if n := len(e.inbox(bob)); n != 2 {
		t.Errorf("bob has %d messages", n)
	}
	_, rcv, _ := splitTrace(t, e.inbox(bob)[0])
	if !strings.Contains(rcv, " with ESMTPA ") {
		t.Errorf("Received without TLS, with AUTH: %s", rcv)
	}
}

// TestSubmissionWrongPassword: 535 5.7.8, then the Guard's lockout (454
// 4.7.0) even for the right password, and never the password in the log.
func TestSubmissionWrongPassword(t *testing.T) {
	e := newSubEnv(t, nil)
	for i := range 3 {
		c, err := smtp.DialStartTLS(e.addr, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Auth(sasl.NewPlainClient("", alice, "wrong-password-"+string(rune('a'+i))))
		wantCode(t, err, 535, smtp.EnhancedCode{5, 7, 8})
		c.Close()
	}
	c, err := smtp.DialTLS(e.tls.addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantCode(t, c.Auth(sasl.NewPlainClient("", alice, password(alice))), 454, smtp.EnhancedCode{4, 7, 0})
	logs := e.logs.String() + e.tls.logs.String()
	if strings.Contains(logs, "wrong-password") || strings.Contains(logs, password(alice)) {
		t.Errorf("a password in the log:\n%s", logs)
	}
	if !strings.Contains(logs, "code=535") || !strings.Contains(logs, "code=454") {
		t.Errorf("refusals not logged:\n%s", logs)
	}
}

// TestSubmissionSenders: MAIL FROM and the From:/Sender: fields must be the
// account's: its name, aliases, +tags, catch-all domains.
func TestSubmissionSenders(t *testing.T) {
	e := newSubEnv(t, nil)
	for _, tc := range []struct {
		user, from string
		header     string
		code       int
		enh        smtp.EnhancedCode
	}{
		{alice, alice, "From: alice@example.test\r\n", 250, smtp.EnhancedCode{2, 0, 0}},
		{alice, "ALICE@Example.Test.", "From: Alice <ALICE@EXAMPLE.TEST>\r\n", 250, smtp.EnhancedCode{2, 0, 0}},
		{alice, aliceAlias, "From: " + aliceAlias + "\r\nSender: alice@example.test\r\n", 250, smtp.EnhancedCode{2, 0, 0}},
		{alice, "alice+lists@example.test", "From: alice+lists@example.test\r\n", 250, smtp.EnhancedCode{2, 0, 0}},
		{alice, "", "From: alice@example.test\r\n", 250, smtp.EnhancedCode{2, 0, 0}}, // <> (RFC 8098 MDN)
		{carol, "anything@other.test", "From: Any <anyone@OTHER.test>\r\n", 250, smtp.EnhancedCode{2, 0, 0}},
		{alice, "\xc3\xa9\xc3\xa9=?@example.test", "", 553, smtp.EnhancedCode{5, 6, 7}},
		// Envelope not hers.
		{alice, bob, "From: alice@example.test\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{alice, "alice@other.test", "From: alice@example.test\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{carol, "carol@example.test", "From: carol@other.test\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{carol, dave, "From: carol@other.test\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{carol, "carol@other.test", "From: Dave <DAVE@other.test>\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{dave, "dave+x@other.test", "From: dave@other.test\r\n", 250, smtp.EnhancedCode{2, 0, 0}},
		// Header not hers.
		{alice, alice, "From: bob@example.test\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{alice, alice, "From: alice@example.test, bob@example.test\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{alice, alice, "From: alice@example.test\r\nSender: bob@example.test\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{alice, alice, "From: \"alice@example.test\" <ceo@bank.test>\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		{alice, alice, "From: alice@example.test\r\nFrom: bob@example.test\r\n", 553, smtp.EnhancedCode{5, 7, 1}},
		// No From:, or one that is not an address.
		{alice, alice, "Subject: no from\r\n", 550, smtp.EnhancedCode{5, 6, 0}},
		{alice, alice, "From: undisclosed-recipients:;\r\n", 550, smtp.EnhancedCode{5, 6, 0}},
		{alice, alice, "From: <alice@example.test\r\n", 550, smtp.EnhancedCode{5, 6, 0}},
	} {
		t.Run(tc.user+"/"+tc.from+"/"+strings.TrimSpace(tc.header), func(t *testing.T) {
			c := e.dialSubmission(t, false, sasl.NewPlainClient("", tc.user, password(tc.user)))
			err := send(t, c, tc.from, []string{bob}, []byte(tc.header+"Subject: s\r\n\r\nbody\r\n"))
			if tc.code == 250 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code, tc.enh)
		})
	}
	if n := len(e.inbox(bob)); n != 7 {
		t.Errorf("bob has %d messages, want 7", n)
	}
}

// TestSubmissionRelayMatrix: without login nothing gets through 587, in
// any spelling; with login the relay tricks on a local domain are still
// refused, source routes are judged by their final mailbox, and only true
// remote addresses are queued, with the local part's case kept.
func TestSubmissionRelayMatrix(t *testing.T) {
	e := newSubEnv(t, func(o *Options) { o.Submission.AllowPlaintextLAN = true })
	cases := []struct{ rcpt, authed, queued string }{
		{"<user@remote.test>", "250 ", "user@remote.test"},
		{"<User@Remote.TEST.>", "250 ", "User@remote.test"},
		{"<@example.test:user@remote.test>", "250 ", "user@remote.test"},
		{"<@example.test,@mx.example.test:User@REMOTE.test>", "250 ", "User@remote.test"},
		{"<@remote.test:bob@example.test>", "250 ", ""},
		{"<user%remote.test@example.test>", "554 5.7.1 ", ""},
		{"<USER%REMOTE.TEST@EXAMPLE.TEST.>", "554 5.7.1 ", ""},
		{"<remote.test!user@example.test>", "554 5.7.1 ", ""},
		{`<"user@remote.test"@example.test>`, "554 5.7.1 ", ""},
		{`<"user%remote.test"@example.test.>`, "554 5.7.1 ", ""},
		{`<"user@remote.test">`, "501 5.5.2 ", ""},
		{"<user@[192.0.2.1]>", "553 5.1.2 ", ""},
		{"<Bob@EXAMPLE.test.>", "250 ", ""},
		{`<"bob"@example.test>`, "250 ", ""},
		{"<nobody@example.test>", "550 5.1.1 ", ""},
		{"<user@example..test>", "553 5.1.3 ", ""},
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + password(alice)))
	for _, tc := range cases {
		t.Run(tc.rcpt, func(t *testing.T) {
			// Without login: refused at MAIL, RCPT has no transaction,
			// and a pipelined DATA finds nothing to send.
			before := len(e.out.all())
			e.transcript(
				s("MAIL FROM:<alice@example.test>", "530 5.7.0 "),
				s("RCPT TO:"+tc.rcpt, "502 5.5.1 "),
				s("DATA", "502 5.5.1 "),
				s("QUIT", "221 "),
			)
			if len(e.out.all()) != before {
				t.Fatal("queued without login")
			}
			steps := []step{
				s("AUTH PLAIN "+b64, "235 "),
				s("MAIL FROM:<alice@example.test>", "250 "),
				s("RCPT TO:"+tc.rcpt, tc.authed),
			}
			if tc.authed == "250 " {
				steps = append(steps, s("DATA", "354 "), raw("From: alice@example.test\r\n\r\nx\r\n.\r\n", "250 "))
			}
			e.transcript(append(steps, s("QUIT", "221 "))...)
			q := e.out.all()[before:]
			switch {
			case tc.queued == "" && len(q) != 0:
				t.Errorf("queued %+v", q)
			case tc.queued != "" && (len(q) != 1 || len(q[0].to) != 1 || q[0].to[0] != tc.queued):
				t.Errorf("queued %+v, want %q", q, tc.queued)
			}
		})
	}
	if n := len(e.inbox(bob)); n != 3 {
		t.Errorf("bob has %d messages, want 3", n)
	}
}

// TestSubmissionNoOutbound: without a queue remote recipients are refused
// with a temporary error and local ones still work.
func TestSubmissionNoOutbound(t *testing.T) {
	e := newSubEnv(t, func(o *Options) { o.Submission.Outbound = nil })
	c := e.dialSubmission(t, false, sasl.NewPlainClient("", alice, password(alice)))
	if err := c.Mail(alice, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("x@remote.test", nil), 451, smtp.EnhancedCode{4, 3, 0})
	c.Reset()
	if err := send(t, c, alice, []string{bob}, submitted(alice)); err != nil {
		t.Fatal(err)
	}
}

// TestSubmissionQueueFails: the queue's failure is a 451 (the client keeps
// the message), the detail in the log only.
func TestSubmissionQueueFails(t *testing.T) {
	e := newSubEnv(t, nil)
	e.out.err = errors.New("queue disk on fire")
	c := e.dialSubmission(t, false, sasl.NewPlainClient("", alice, password(alice)))
	err := send(t, c, alice, []string{"x@remote.test"}, submitted(alice))
	wantCode(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	var se *smtp.SMTPError
	if errors.As(err, &se) && strings.Contains(se.Message, "fire") {
		t.Errorf("internal detail on the wire: %q", se.Message)
	}
	if !strings.Contains(e.logs.String(), "queue disk on fire") {
		t.Errorf("detail not logged")
	}
}

// TestSubmissionSentCopy: with SentCopy the sender's Sent folder gets the
// message, \Seen.
func TestSubmissionSentCopy(t *testing.T) {
	e := newSubEnv(t, func(o *Options) { o.Submission.SentCopy = true })
	c := e.dialSubmission(t, false, sasl.NewPlainClient("", alice, password(alice)))
	msg := submitted(alice)
	if err := send(t, c, alice, []string{"x@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	acct, _ := e.st.Account(alice)
	mb, err := e.st.Mailbox(acct.ID, "Sent")
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := e.st.Messages(acct.ID, mb.ID)
	if len(ms) != 1 || ms[0].Flags&storage.FlagSeen == 0 {
		t.Fatalf("Sent: %+v", ms)
	}
	sent := readMailbox(t, e.st, alice, "Sent")
	if !bytes.HasSuffix(sent[0], msg) {
		t.Errorf("Sent copy:\n%s", sent[0])
	}
	if len(e.inbox(alice)) != 0 {
		t.Error("copy went to INBOX")
	}
}

// TestSubmissionRateLimit: one token per recipient; the bucket refills
// with time (a fake clock: no sleeping).
func TestSubmissionRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	lim := NewRateLimiter(3600, 2, clock) // one a second, two at once
	e := newSubEnv(t, func(o *Options) { o.Submission.Limiter = lim })
	c := e.dialSubmission(t, false, sasl.NewPlainClient("", alice, password(alice)))
	if err := c.Mail(alice, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(bob, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("x@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("y@remote.test", nil), 451, smtp.EnhancedCode{4, 7, 1})
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if err := c.Rcpt("y@remote.test", nil); err != nil {
		t.Fatalf("after a second: %v", err)
	}
	// Another account has its own bucket.
	c2 := e.dialSubmission(t, true, sasl.NewPlainClient("", bob, password(bob)))
	if err := send(t, c2, bob, []string{alice}, []byte("From: bob@example.test\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if NewRateLimiter(0, 0, nil) != nil || !(*RateLimiter)(nil).Allow(1) {
		t.Error("no limit must allow everything")
	}
}

// TestSubmissionBadInput: malformed commands and content on an
// authenticated session get clear replies and leave nothing behind.
func TestSubmissionBadInput(t *testing.T) {
	e := newSubEnv(t, func(o *Options) {
		o.Submission.AllowPlaintextLAN = true
		o.MaxMessageBytes = 2000
	})
	b64 := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + password(alice)))
	big := "From: alice@example.test\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 40)
	eight := "From: J\xc3\xb6rg \xe9 <alice@example.test>\r\nSubject: caf\xe9 \xc3\xa9\r\n\r\n\xff\xfe 8-bit body\r\n"
	e.transcript(
		s("AUTH PLAIN "+b64, "235 "),
		s("MAIL FROM:<alice@@example.test>", "553 5.7.1 "),
		s("MAIL FROM:<alice@example.test", "501 5.5.2 "),
		s("MAIL FROM:<alice@example.test> FOO=BAR", "500 5.5.4 "),
		s("MAIL FROM:<alice@example.test> SIZE=abc", "501 5.5.4 "),
		s("MAIL FROM:<alice@example.test> SIZE=2001", "552 5.3.4 "),
		s("MAIL FROM:<alice@example.test> BODY=9BIT", "501 5.5.4 "),
		s("MAIL FROM:<alice@example.test>", "250 "),
		s("RCPT TO:<bob@example.test> NOTIFY=NEVER", "504 5.5.4 "),
		s("RCPT TO:<bob@example.test", "501 5.5.2 "),
		s("RCPT TO:<bob@example.test>", "250 "),
		s("DATA", "354 "),
		raw(big+".\r\n", "552 5.3.4 "),
		// 8-bit header fields without SMTPUTF8, 8-bit body without
		// BODY=8BITMIME: accepted as sent (see the package comment).
		mailSteps("<alice@example.test>", "<bob@example.test>", eight),
		// Bare LF in a submitted message: stored with CRLF.
		s("MAIL FROM:<alice@example.test>", "250 "),
		s("RCPT TO:<x@remote.test>", "250 "),
		s("DATA", "354 "),
		raw("From: alice@example.test\nSubject: lf\n\nline\r\n.\r\n", "250 "),
		s("QUIT", "221 "),
	)
	got := e.inbox(bob)
	if len(got) != 1 || !bytes.HasSuffix(got[0], []byte(eight)) {
		t.Fatalf("bob: %q", got)
	}
	q := e.out.all()
	// The queue shares the staged body, CRLF-normalised like every stored one.
	if len(q) != 1 || !bytes.HasSuffix(q[0].body, []byte("From: alice@example.test\r\nSubject: lf\r\n\r\nline\r\n")) {
		t.Fatalf("queued %q", q)
	}
}

// TestSubmissionStrikes: MAIL without login, again and again, counts as
// protocol errors (authguard.Strike) until the client is sent away.
func TestSubmissionStrikes(t *testing.T) {
	e := newSubEnv(t, nil)
	e.guard = authguard.New(authguard.Options{MaxStrikes: 3, Logger: slog.New(slog.DiscardHandler)})
	st := e.st
	srv := startServer(t, st, func(o *Options) {
		o.TLSConfig = e.tlsConf
		o.Submission = &Submission{Accounts: st, Guard: e.guard, Outbound: e.out}
	})
	c := srv.transcript(
		s("MAIL FROM:<alice@example.test>", "530 5.7.0 "),
		s("MAIL FROM:<alice@example.test>", "530 5.7.0 "),
		s("MAIL FROM:<alice@example.test>", "421 4.7.0 "),
	)
	c.expectClosed()
}

// TestSubmissionStoreFault: a store that cannot resolve the sender is our
// fault, a 451, not a 553 that would tell the user their address is wrong.
func TestSubmissionStoreFault(t *testing.T) {
	e := newSubEnv(t, nil)
	fs := &faultStore{Store: e.st, resolveErr: errors.New("index unreadable")}
	srv := startServer(t, e.st, func(o *Options) {
		o.Store = fs
		o.TLSConfig = e.tlsConf
		o.Submission = &Submission{Accounts: e.st, Guard: e.guard, Outbound: e.out, AllowPlaintextLAN: true}
	})
	b64 := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + password(alice)))
	srv.transcript(
		s("AUTH PLAIN "+b64, "235 "),
		s("MAIL FROM:<alice@example.test>", "451 4.3.0 "),
	)
	if !strings.Contains(srv.logs.String(), "index unreadable") {
		t.Error("fault not logged")
	}
}

// TestSubmissionEndSessions: "log out everywhere" ends alice's submission
// sessions, on 587 and 465 (both under TLS), with 421; bob's goes on.
func TestSubmissionEndSessions(t *testing.T) {
	e := newSubEnv(t, nil)
	a := e.dialSubmission(t, false, sasl.NewPlainClient("", alice, password(alice)))
	a465 := e.dialSubmission(t, true, sasl.NewPlainClient("", alice, password(alice)))
	b := e.dialSubmission(t, false, sasl.NewPlainClient("", bob, password(bob)))
	if n := e.srv.EndSessions(alice) + e.tls.srv.EndSessions(alice); n != 2 {
		t.Fatalf("EndSessions = %d, want 2", n)
	}
	for _, c := range []*smtp.Client{a, a465} {
		wantCode(t, c.Noop(), 421, smtp.EnhancedCode{4, 4, 2})
	}
	if err := b.Noop(); err != nil {
		t.Errorf("bob's session: %v", err)
	}
}
