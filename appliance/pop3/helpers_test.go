package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"postroom/appliance/authguard"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// Accounts every test starts with; storagetest gives them the password
// "password-" + name.
const (
	alice = "alice@example.test"
	bob   = "bob@example.test"
)

func password(name string) string { return "password-" + name }

// env is a real server on 127.0.0.1:0 (plain with STLS, and implicit TLS)
// over a real Badger store in a temp dir; storagetest runs Check at cleanup.
type env struct {
	t       testing.TB
	st      *storage.Store
	srv     *Server
	addr    string // Serve: plain, STLS
	tlsAddr string // ServeTLS: implicit TLS
	logs    *testutil.SyncBuffer
	alice   storage.Account
	bob     storage.Account
	ended   chan struct{} // one value per session that ended
	clock   *testutil.Clock
}

// newEnv starts a server; tweak adjusts the options before New. By default
// plaintext logins are allowed on loopback, so transcripts can log in
// without TLS; tests of the refusal turn it off.
func newEnv(t testing.TB, tweak func(*Options)) *env {
	t.Helper()
	st := storagetest.Open(t)
	e := &env{t: t, st: st, logs: &testutil.SyncBuffer{}, ended: make(chan struct{}, 100),
		clock: testutil.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))}
	e.alice = storagetest.Account(t, st, alice)
	e.bob = storagetest.Account(t, st, bob)
	var w io.Writer = e.logs
	if testing.Verbose() {
		w = io.MultiWriter(e.logs, testutil.LogWriter{TB: t})
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := Options{
		Hostname:          "pop.example.test",
		Store:             st,
		Logger:            logger,
		TLSConfig:         testTLSConfig(t),
		Guard:             authguard.New(authguard.Options{Logger: logger, FailureDelay: time.Millisecond}),
		AllowPlaintextLAN: true,
		Now:               e.clock.Now,
	}
	if tweak != nil {
		tweak(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv.sessionEnded = func() { e.ended <- struct{}{} }
	e.srv = srv
	e.addr = e.serve(srv.Serve, nil)
	if opts.TLSConfig != nil {
		e.tlsAddr = e.serve(srv.ServeTLS, nil)
	}
	t.Cleanup(func() { srv.Close() })
	return e
}

// serve runs fn on a new loopback listener (wrapped by wrap, if set) and
// checks at cleanup that it returned ErrServerClosed.
func (e *env) serve(fn func(net.Listener) error, wrap func(net.Listener) net.Listener) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	addr := l.Addr().String()
	if wrap != nil {
		l = wrap(l)
	}
	done := make(chan error, 1)
	go func() { done <- fn(l) }()
	e.t.Cleanup(func() {
		e.srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			e.t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return addr
}

// waitEnded waits until n more sessions have ended and released their
// maildrop locks.
func (e *env) waitEnded(n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-e.ended:
		case <-time.After(20 * time.Second):
			e.t.Fatalf("session did not end")
		}
	}
}

// deliver stores msg (LF or CRLF) in acct's INBOX and returns its UID.
func (e *env) deliver(acct storage.Account, msg string) uint32 {
	e.t.Helper()
	d, err := e.st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: acct.ID}}},
		strings.NewReader(msg))
	if err != nil {
		e.t.Fatalf("deliver: %v", err)
	}
	return d[0].UID
}

func (e *env) inbox(acct storage.Account) (storage.Mailbox, []storage.Message) {
	e.t.Helper()
	mb, err := e.st.Mailbox(acct.ID, storage.InboxName)
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.st.Messages(acct.ID, mb.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return mb, msgs
}

// client is a raw POP3 connection for transcripts.
type client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func (e *env) dial() *client { return e.dialAddr(e.addr, false) }

func (e *env) dialTLS() *client { return e.dialAddr(e.tlsAddr, true) }

func (e *env) dialAddr(addr string, useTLS bool) *client {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	// A bound on the whole conversation, so a bug hangs nothing.
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	e.t.Cleanup(func() { conn.Close() })
	if useTLS {
		conn = clientTLS(e.t, conn)
	}
	c := &client{t: e.t, conn: conn, br: bufio.NewReader(conn)}
	if g := c.line(); !strings.HasPrefix(g, "+OK") {
		e.t.Fatalf("greeting %q", g)
	}
	return c
}

func clientTLS(t testing.TB, conn net.Conn) net.Conn {
	t.Helper()
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "pop.example.test"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return tc
}

// startTLS sends STLS and switches the client to TLS.
func (c *client) startTLS() {
	c.t.Helper()
	if r := c.cmd("STLS"); !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("STLS: %q", r)
	}
	c.conn = clientTLS(c.t, c.conn)
	c.br = bufio.NewReader(c.conn)
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// line reads one reply line without CRLF.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read reply: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// cmd sends one command and returns the first reply line.
func (c *client) cmd(s string) string {
	c.t.Helper()
	c.send(s + "\r\n")
	return c.line()
}

// multi reads the rest of a multi-line reply, dot-unstuffed (RFC 1939
// section 3), without the terminating ".".
func (c *client) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

// login logs in with USER/PASS and fails the test unless it works.
func (c *client) login(name string) {
	c.t.Helper()
	if r := c.cmd("USER " + name); !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("USER: %q", r)
	}
	if r := c.cmd("PASS " + password(name)); !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("PASS: %q", r)
	}
}

// step is one exchange of a transcript: send (CRLF added), then the first
// reply line must start with expect; with lines set, a multi-line reply is
// read and must equal lines (nil means "read and ignore" when multi).
type step struct {
	send   string
	expect string
	multi  bool
	lines  []string
}

func (c *client) run(steps []step) {
	c.t.Helper()
	for i, s := range steps {
		got := c.cmd(s.send)
		if !strings.HasPrefix(got, s.expect) {
			c.t.Fatalf("step %d %q: got %q, want %q...", i, s.send, got, s.expect)
		}
		if !s.multi {
			continue
		}
		body := c.multi()
		if s.lines != nil && strings.Join(body, "\n") != strings.Join(s.lines, "\n") {
			c.t.Fatalf("step %d %q: got lines\n%s\nwant\n%s", i, s.send, strings.Join(body, "\n"), strings.Join(s.lines, "\n"))
		}
	}
}

// expectClosed checks that the server hung up.
func (c *client) expectClosed() {
	c.t.Helper()
	if l, err := c.br.ReadString('\n'); err == nil {
		c.t.Fatalf("connection still open, got %q", l)
	}
}

// testTLSConfig is a server config with a throwaway certificate.
func testTLSConfig(t testing.TB) *tls.Config {
	s, _ := testutil.TLS(t, "pop.example.test")
	return s
}

// msgText is a small test message with CRLF line endings, body lines
// "line 1".."line n", and a line starting with a dot to test stuffing.
func msgText(subject string, n int) string {
	var b strings.Builder
	b.WriteString("From: Sender <sender@example.org>\r\nTo: alice@example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@example.org>\r\n\r\n")
	b.WriteString(".leading dot\r\n")
	for i := 1; i <= n; i++ {
		b.WriteString("line " + itoa(i) + "\r\n")
	}
	return b.String()
}

// lines splits CRLF text into lines, as a client sees them.
func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") }

func newReader(conn net.Conn) *bufio.Reader { return bufio.NewReader(conn) }
