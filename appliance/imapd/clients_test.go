package imapd

import (
	"context"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"postroom/appliance/smtpd"
	"postroom/internal/testutil"
)

// TestTLS: implicit TLS (993) and STARTTLS (143) with a client that checks
// the certificate; without the LAN exception a password is taken only
// after STARTTLS.
func TestTLS(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowPlaintextLAN = false })
	opts := &imapclient.Options{TLSConfig: e.clientTL}

	c, err := imapclient.DialTLS(e.tlsAddr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Caps().Has(imap.CapStartTLS) || !c.Caps().Has(imap.Cap("AUTH=PLAIN")) {
		t.Errorf("implicit TLS capabilities %v: want AUTH=PLAIN, no STARTTLS", c.Caps())
	}
	if err := c.Login(alice, "password-"+alice).Wait(); err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
	if _, err := c.List("", "*", nil).Collect(); err != nil {
		t.Fatal(err)
	}

	plain, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if !plain.Caps().Has(imap.CapLoginDisabled) {
		t.Errorf("plain capabilities %v: want LOGINDISABLED", plain.Caps())
	}
	if err := plain.Login(alice, "password-"+alice).Wait(); err == nil {
		t.Error("login without TLS succeeded")
	}

	st, err := imapclient.DialStartTLS(e.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Login(alice, "password-"+alice).Wait(); err != nil {
		t.Fatalf("login after STARTTLS: %v", err)
	}
	if _, err := st.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestPythonImaplib drives the server with Python's imaplib, a second
// client written by other people: STARTTLS, login, folders, APPEND,
// SEARCH, FETCH, STORE, COPY, EXPUNGE.
func TestPythonImaplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newEnv(t, func(o *Options) { o.AllowPlaintextLAN = false })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	srvTLS, _ := testTLS(t)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvTLS.Certificates[0].Certificate[0]})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(e.addr)
	_, tlsPort, _ := net.SplitHostPort(e.tlsAddr)
	script := `
import imaplib, ssl, sys, time
host, port, tls_port, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
def ok(r):
    typ, data = r
    assert typ == 'OK', (typ, data)
    return data
M = imaplib.IMAP4(host, port)
assert 'LOGINDISABLED' in M.capabilities, M.capabilities
ok(M.starttls(ssl_context=ctx))
ok(M.login('alice@example.test', 'password-alice@example.test'))
ok(M.create('Py/Sub'))
names = ok(M.list('""', '*'))
assert any(b'"Py/Sub"' in n for n in names), names
msg = b'From: py@example.test\r\nSubject: from python\r\n\r\nhello imaplib\r\n'
typ, data = M.append('INBOX', r'(\Flagged)', imaplib.Time2Internaldate(time.time()), msg)
assert typ == 'OK' and b'APPENDUID' in data[0], (typ, data)
count = ok(M.select('INBOX'))
assert count == [b'1'], count
data = ok(M.search(None, 'SUBJECT', '"from python"'))
assert data == [b'1'], data
data = ok(M.fetch('1', '(FLAGS BODY.PEEK[TEXT])'))
assert data[0][1] == b'hello imaplib\r\n', data
assert b'\\Flagged' in data[0][0], data
data = ok(M.uid('FETCH', '1', '(UID RFC822.SIZE)'))
assert b'RFC822.SIZE %d' % len(msg) in data[0], data
ok(M.store('1', '+FLAGS', r'(\Seen)'))
data = ok(M.copy('1', 'Py/Sub'))
ok(M.store('1', '+FLAGS', r'(\Deleted)'))
data = ok(M.expunge())
assert data == [b'1'], data
data = ok(M.status('Py/Sub', '(MESSAGES UNSEEN)'))
assert b'MESSAGES 1 UNSEEN 0' in data[0], data
ok(M.close())
M.logout()
S = imaplib.IMAP4_SSL(host, tls_port, ssl_context=ctx)
try:
    S.login('alice@example.test', 'wrong')
    raise SystemExit('login with a wrong password succeeded')
except imaplib.IMAP4.error as err:
    assert 'AUTHENTICATIONFAILED' in str(err), err
ok(S.login('alice@example.test', 'password-alice@example.test'))
ok(S.select('Py/Sub', readonly=True))
S.logout()
print('python imaplib ok')
`
	cmd := exec.Command(py, "-c", script, host, port, tlsPort, ca)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "python imaplib ok") {
		t.Fatalf("python imaplib: %v\n%s", err, out)
	}
}

// TestSMTPDeliveryReachesIdle: a message accepted by the real SMTP server
// (appliance/smtpd) on the same store reaches an IMAP client in IDLE.
func TestSMTPDeliveryReachesIdle(t *testing.T) {
	e := newEnv(t, nil)
	mx, err := smtpd.New(smtpd.Options{
		Hostname: "mx.example.test", Store: e.st,
		Logger: slog.New(slog.NewTextHandler(testutil.LogWriter{TB: t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go mx.Serve(l)
	t.Cleanup(func() { mx.Shutdown(context.Background()) })

	p := newPushes()
	c := e.client(alice, p.handler())
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := smtp.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.SendMail("sender@example.org", []string{alice}, strings.NewReader(testMessage(1))); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	p.expect(t, "EXISTS 1")
	mustWait(t, idle.Close())
	mustWait(t, idle.Wait())
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "test 1" {
		t.Fatalf("FETCH ENVELOPE after SMTP: %+v, %v", msgs, err)
	}
}
