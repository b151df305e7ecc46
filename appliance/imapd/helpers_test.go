package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/appliance/authguard"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchStop != nil {
		benchStop()
	}
	storagetest.CleanupPrefilled()
	os.Exit(code)
}

// The accounts every test starts with; storagetest gives each the password
// "password-" + name.
const (
	alice = "alice@example.test"
	bob   = "bob@example.test"
)

// testEnv is a real server on 127.0.0.1:0 (STARTTLS and implicit TLS) over
// a real Badger store in a temp dir; storagetest runs Check at cleanup.
type testEnv struct {
	t        testing.TB
	st       *storage.Store
	srv      *Server
	addr     string // STARTTLS / plain
	tlsAddr  string // implicit TLS
	logs     *testutil.SyncBuffer
	alice    storage.Account
	bob      storage.Account
	clientTL *tls.Config
}

// newEnv starts a server. Plain-text login from loopback is allowed unless
// tweak says otherwise; failed logins wait 1 ms, not a second.
func newEnv(t testing.TB, tweak func(*Options)) *testEnv {
	t.Helper()
	st := storagetest.Open(t)
	e := &testEnv{t: t, st: st, logs: &testutil.SyncBuffer{}}
	e.alice = storagetest.Account(t, st, alice)
	e.bob = storagetest.Account(t, st, bob)
	e.start(tweak)
	return e
}

func (e *testEnv) start(tweak func(*Options)) {
	t := e.t
	var w io.Writer = e.logs
	if tl, ok := t.(*testing.T); ok && testing.Verbose() {
		w = io.MultiWriter(e.logs, testutil.LogWriter{TB: tl})
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	serverTLS, clientTLS := testTLS(t)
	e.clientTL = clientTLS
	opts := Options{
		Hostname:          "imap.example.test",
		Store:             e.st,
		Logger:            log,
		TLSConfig:         serverTLS,
		AllowPlaintextLAN: true,
		Guard:             authguard.New(authguard.Options{Logger: log, FailureDelay: time.Millisecond}),
		Location:          time.UTC,
	}
	if tweak != nil {
		tweak(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = srv
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr, e.tlsAddr = l1.Addr().String(), l2.Addr().String()
	done := make(chan error, 2)
	go func() { done <- srv.Serve(l1) }()
	go func() { done <- srv.ServeTLS(l2) }()
	t.Cleanup(func() {
		srv.Close()
		for range 2 {
			if err := <-done; err != ErrServerClosed {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}
		// The engine's message, not go-imap's "imap internal error",
		// which nothing has logged since the engine replaced it.
		if strings.Contains(e.logs.String(), logCommandFailed) {
			t.Errorf("server logged an internal error:\n%s", e.logs.String())
		}
	})
}

// testTLS is a throwaway certificate for imap.example.test and 127.0.0.1.
func testTLS(t testing.TB) (server, client *tls.Config) {
	return testutil.TLS(t, "imap.example.test")
}

// testInternalDate is every test delivery's INTERNALDATE: fixed, so that
// transcripts pass on every day and in every time zone, and on a day with
// one digit, so that RFC 9051's date-day-fixed (" 5-Nov-2026") is checked.
var testInternalDate = time.Date(2026, time.November, 5, 9, 7, 3, 0, time.UTC)

// deliver stores a message for an account's mailbox as SMTP would.
func (e *testEnv) deliver(acct storage.Account, mailbox, msg string) storage.Delivered {
	e.t.Helper()
	dv, err := e.st.Deliver(context.Background(), storage.Delivery{
		Recipients:   []storage.Recipient{{Account: acct.ID, Mailbox: mailbox}},
		InternalDate: testInternalDate,
	}, strings.NewReader(msg))
	if err != nil {
		e.t.Fatalf("deliver: %v", err)
	}
	return dv[0]
}

// testMessage is a small message whose Subject names i.
func testMessage(i int) string {
	return fmt.Sprintf("From: Sender <sender@example.org>\r\nTo: alice@example.test\r\n"+
		"Subject: test %d\r\nMessage-ID: <%d@example.org>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n"+
		"Content-Type: text/plain\r\n\r\nHello number %d.\r\n", i, i, i)
}

// client connects imapclient (plain text from loopback) and logs in as
// name, with h receiving unsolicited responses.
func (e *testEnv) client(name string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{UnilateralDataHandler: h})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Login(name, "password-"+name).Wait(); err != nil {
		e.t.Fatalf("login %s: %v", name, err)
	}
	return c
}

// rawConn is a client that speaks the wire protocol by hand.
type rawConn struct {
	t       testing.TB
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration // for one response line; 0 means a minute
}

// raw connects to addr (the plain port by default) and reads the greeting.
func (e *testEnv) raw() *rawConn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: e.t, c: c, r: bufio.NewReader(c)}
	if g := rc.line(); !strings.HasPrefix(g, "* OK ") {
		e.t.Fatalf("greeting %q", g)
	}
	return rc
}

// rawLogin is raw plus LOGIN as name.
func (e *testEnv) rawLogin(name string) *rawConn {
	rc := e.raw()
	rc.do(step{send: "L LOGIN " + name + " password-" + name, want: []string{`^L OK `}})
	return rc
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("send: %v", err)
	}
}

// line reads one response line (without CRLF); a test that waits longer
// than a minute for the server has failed.
func (rc *rawConn) line() string {
	rc.t.Helper()
	d := rc.timeout
	if d == 0 {
		d = time.Minute
	}
	rc.c.SetReadDeadline(time.Now().Add(d))
	l, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// until reads lines up to and including the first that matches re.
func (rc *rawConn) until(re string) []string {
	rc.t.Helper()
	rx := regexp.MustCompile(re)
	var out []string
	for {
		l := rc.line()
		out = append(out, l)
		if rx.MatchString(l) {
			return out
		}
	}
}

// step is one command and what must come back: want are regular
// expressions that must match response lines in this order (the last
// usually the tagged completion); none must match no line.
type step struct {
	send string
	want []string
	none []string
}

// do sends a step's command (CRLF added) and checks the responses up to
// the tagged one.
func (rc *rawConn) do(s step) []string {
	rc.t.Helper()
	tag, _, _ := strings.Cut(s.send, " ")
	rc.send(s.send + "\r\n")
	lines := rc.until(`^` + regexp.QuoteMeta(tag) + ` (OK|NO|BAD)`)
	checkLines(rc.t, s, lines)
	return lines
}

func checkLines(t testing.TB, s step, lines []string) {
	t.Helper()
	i := 0
	for _, w := range s.want {
		rx := regexp.MustCompile(w)
		for i < len(lines) && !rx.MatchString(lines[i]) {
			i++
		}
		if i == len(lines) {
			t.Fatalf("%q: no response matches %q (in order); got:\n%s", s.send, w, strings.Join(lines, "\n"))
		}
		i++
	}
	for _, n := range s.none {
		rx := regexp.MustCompile(n)
		for _, l := range lines {
			if rx.MatchString(l) {
				t.Fatalf("%q: response %q matches %q, which must not appear; got:\n%s", s.send, l, n, strings.Join(lines, "\n"))
			}
		}
	}
}

// run does the steps in order.
func (rc *rawConn) run(steps []step) {
	rc.t.Helper()
	for _, s := range steps {
		rc.do(s)
	}
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 10*time.Second) }

// readAll reads until the server closes the connection.
func readAll(t testing.TB, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}
