package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestGoSMTPClientSTARTTLS delivers with go-smtp's client over STARTTLS and
// reads the message back from the store byte for byte.
func TestGoSMTPClientSTARTTLS(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TLSConfig = testTLSConfig(t) })
	msg := []byte("From: Sender <sender@remote.test>\r\nTo: <alice@example.test>\r\n" +
		"Subject: over TLS\r\nMessage-ID: <1@remote.test>\r\n\r\n" +
		"Hello over TLS.\r\n.Starts with a dot.\r\n\r\n-- \r\nsig\r\n")

	// go-smtp v0.25's client has no exported StartTLS: DialStartTLS says
	// EHLO, checks that STARTTLS is offered and starts TLS; after TLS the
	// client must say EHLO again (RFC 3207 4.2), which Hello does.
	c, err := smtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.test"})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if st, ok := c.TLSConnectionState(); !ok || !st.HandshakeComplete {
		t.Fatal("not in TLS after STARTTLS")
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered again inside TLS")
	}
	if size, ok := c.MaxMessageSize(); !ok || size != 50<<20 {
		t.Errorf("SIZE = %d, %v", size, ok)
	}
	if err := c.Mail("sender@remote.test", &smtp.MailOptions{Size: int64(len(msg)), Body: smtp.Body8BitMIME}); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt(alice, nil); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	// A second message on the same connection, after RSET.
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("somebody@remote.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Errorf("relay over TLS: %v, want 554 5.7.1", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	rp, rcv := e.wantOne(alice, msg)
	if rp != "Return-Path: <sender@remote.test>" {
		t.Errorf("Return-Path %q", rp)
	}
	if !strings.Contains(rcv, "\t(using TLS 1.3 with cipher TLS_") || !strings.Contains(rcv, " with ESMTPS id ") {
		t.Errorf("Received does not record TLS (RFC 3848):\n%s", rcv)
	}
	if !strings.Contains(e.logs.String(), "tls=true") {
		t.Error("log does not record TLS")
	}
}

// TestShutdownTLSIdle: draining also ends an idle session inside TLS,
// where the wake-up reaches the reader through the *tls.Conn.
func TestShutdownTLSIdle(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TLSConfig = testTLSConfig(t) })
	c, err := smtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an idle TLS session: %v", err)
	}
	if err := c.Noop(); err == nil {
		t.Error("session still served after Shutdown")
	}
}

// TestPythonSmtplib: an independent client implementation, with STARTTLS.
func TestPythonSmtplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newEnv(t, func(o *Options) { o.TLSConfig = testTLSConfig(t) })
	const script = `
import smtplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
msg = (b"From: py@sender.test\r\nTo: alice@example.test\r\nSubject: from python\r\n\r\n"
       b"Hello from smtplib.\r\n.leading dot\r\n\xc3\xa9t\xc3\xa9\r\n")
with smtplib.SMTP(host, int(port), local_hostname="python.test", timeout=20) as s:
    s.ehlo()
    for ext in ("pipelining", "8bitmime", "smtputf8", "chunking", "enhancedstatuscodes", "starttls", "size"):
        assert s.has_extn(ext), ext
    assert not s.has_extn("auth")
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo()
    refused = s.sendmail("py@sender.test", ["alice@example.test", "nobody@example.test"], msg,
                         mail_options=["BODY=8BITMIME"])
    assert set(refused) == {"nobody@example.test"}, refused
    assert refused["nobody@example.test"][0] == 550, refused
    try:
        s.sendmail("py@sender.test", ["someone@remote.test"], msg)
        raise SystemExit("relay accepted")
    except smtplib.SMTPRecipientsRefused as e:
        assert e.recipients["someone@remote.test"][0] == 554, e.recipients
sys.stdout.write("ok")
`
	out, err := exec.Command(py, "-c", script, e.addr).CombinedOutput()
	if err != nil || string(out) != "ok" {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	e.wantOne(alice, []byte("From: py@sender.test\r\nTo: alice@example.test\r\nSubject: from python\r\n\r\n"+
		"Hello from smtplib.\r\n.leading dot\r\n\xc3\xa9t\xc3\xa9\r\n"))
}

// TestSwaks: the Swiss Army Knife for SMTP, the tool the README tells
// people to use against the dev port. The Makefile installs it.
func TestSwaks(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks not installed (the Makefile installs it: apt-get install swaks)")
	}
	e := newEnv(t, nil)
	cmd := exec.Command(swaks, "--server", e.addr, "--helo", "swaks.test",
		"--from", "swaks@sender.test", "--to", alice,
		"--header", "Subject: from swaks", "--body", "Hello from swaks.",
		"--timeout", "20")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	msgs := e.inbox(alice)
	if len(msgs) != 1 {
		t.Fatalf("alice has %d messages\n%s", len(msgs), out)
	}
	rp, rcv, rest := splitTrace(t, msgs[0])
	if rp != "Return-Path: <swaks@sender.test>" || !strings.Contains(rcv, "from swaks.test ([127.0.0.1])") {
		t.Errorf("trace fields:\n%s\n%s", rp, rcv)
	}
	if !bytes.Contains(rest, []byte("Subject: from swaks\r\n")) || !bytes.Contains(rest, []byte("\r\n\r\nHello from swaks.\r\n")) {
		t.Errorf("message:\n%s", rest)
	}
}

// TestPythonSubmission: smtplib logs in (it picks PLAIN or LOGIN itself)
// over STARTTLS on 587 and over SMTP_SSL on 465, and sends to a local and a
// remote recipient; a wrong password is SMTPAuthenticationError (535).
func TestPythonSubmission(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newSubEnv(t, nil)
	const script = `
import smtplib, ssl, sys
ctx = ssl._create_unverified_context()
def hp(a):
    h, p = a.rsplit(":", 1)
    return h, int(p)
msg = b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: from python\r\n\r\nHello from smtplib.\r\n"
h, p = hp(sys.argv[1])
with smtplib.SMTP(h, p, local_hostname="python.test", timeout=20) as s:
    s.ehlo()
    assert not s.has_extn("auth"), "AUTH before TLS"
    s.starttls(context=ctx)
    s.ehlo()
    assert s.has_extn("auth"), "no AUTH under TLS"
    try:
        s.login("alice@example.test", "wrong")
        raise SystemExit("wrong password accepted")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535, e
with smtplib.SMTP(h, p, local_hostname="python.test", timeout=20) as s:
    s.starttls(context=ctx)
    s.login("alice@example.test", "password-alice@example.test")
    s.sendmail("alice@example.test", ["bob@example.test", "far@remote.test"], msg)
h, p = hp(sys.argv[2])
with smtplib.SMTP_SSL(h, p, local_hostname="python.test", timeout=20, context=ctx) as s:
    s.login("alice@example.test", "password-alice@example.test")
    try:
        s.sendmail("bob@example.test", ["alice@example.test"], msg)
        raise SystemExit("foreign sender accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 553, e
    s.sendmail("alice@example.test", ["bob@example.test"], msg)
sys.stdout.write("ok")
`
	out, err := exec.Command(py, "-c", script, e.addr, e.tls.addr).CombinedOutput()
	if err != nil || string(out) != "ok" {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	if n := len(e.inbox(bob)); n != 2 {
		t.Errorf("bob has %d messages, want 2", n)
	}
	if q := e.out.all(); len(q) != 1 || q[0].to[0] != "far@remote.test" {
		t.Errorf("queued %+v", q)
	}
}

// TestSwaksSubmission: swaks with AUTH LOGIN and PLAIN over STARTTLS and
// over TLS-on-connect (needs libio-socket-ssl-perl, libauthen-sasl-perl).
func TestSwaksSubmission(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks not installed")
	}
	if err := exec.Command("perl", "-MIO::Socket::SSL", "-MAuthen::SASL", "-e1").Run(); err != nil {
		t.Skip("swaks cannot do TLS and AUTH: apt-get install libio-socket-ssl-perl libauthen-sasl-perl")
	}
	e := newSubEnv(t, nil)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"starttls login", []string{"--server", e.addr, "--tls", "--auth", "LOGIN"}},
		{"tls-on-connect plain", []string{"--server", e.tls.addr, "--tlsc", "--auth", "PLAIN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--helo", "swaks.test", "--from", alice, "--to", bob,
				"--auth-user", alice, "--auth-password", password(alice),
				"--header", "From: alice@example.test", "--header", "Subject: from swaks", "--body", "Hello from swaks.",
				"--timeout", "20")
			out, err := exec.Command(swaks, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("swaks: %v\n%s", err, out)
			}
		})
	}
	if n := len(e.inbox(bob)); n != 2 {
		t.Errorf("bob has %d messages, want 2", n)
	}
	// Without TLS swaks cannot log in: the server offers no AUTH.
	out, err := exec.Command(swaks, "--server", e.addr, "--auth", "PLAIN", "--auth-user", alice,
		"--auth-password", password(alice), "--from", alice, "--to", bob, "--timeout", "20").CombinedOutput()
	if err == nil {
		t.Fatalf("swaks logged in without TLS:\n%s", out)
	}
}
