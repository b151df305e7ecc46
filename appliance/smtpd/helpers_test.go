package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// testEnv is a real server on 127.0.0.1:0 over a real Badger store in a temp
// dir (STYLE convention 6). storagetest runs Check at cleanup.
type testEnv struct {
	t    testing.TB
	st   *storage.Store
	srv  *Server
	addr string
	logs *testutil.SyncBuffer // everything the server logged
}

// The accounts every test starts with.
const (
	alice = "alice@example.test"
	bob   = "bob@example.test"
)

// newEnv starts a server. tweak, if not nil, adjusts the options before New;
// it may replace Store (to inject faults) — the real store stays reachable
// through env.st.
func newEnv(t testing.TB, tweak func(*Options)) *testEnv {
	t.Helper()
	st := storagetest.Open(t)
	storagetest.Account(t, st, alice)
	storagetest.Account(t, st, bob)
	return startServer(t, st, tweak)
}

func startServer(t testing.TB, st *storage.Store, tweak func(*Options)) *testEnv {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	var w io.Writer = logs
	if tl, ok := t.(*testing.T); ok && testing.Verbose() {
		w = io.MultiWriter(logs, testutil.LogWriter{TB: tl})
	}
	opts := Options{
		Hostname: "mx.example.test",
		Store:    st,
		Logger:   slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &testEnv{t: t, st: st, srv: srv, addr: l.Addr().String(), logs: logs}
}

// step is one exchange of a transcript. send is written followed by CRLF
// (unless raw); then, if expect is not "", one complete reply is read and
// its last line must start with expect. A multi-line reply counts as one.
type step struct {
	send   string
	expect string
	raw    bool   // send exactly these bytes, no CRLF added
	group  []step // several steps in one (see mailSteps), run in order
}

// client is a raw SMTP connection for transcripts.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *testEnv) dial() *client {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	// A bound on the whole test conversation, so a bug hangs nothing.
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	e.t.Cleanup(func() { conn.Close() })
	return &client{t: e.t, conn: conn, r: bufio.NewReader(conn)}
}

// reply reads one complete, possibly multi-line, reply.
func (c *client) reply() ([]string, error) {
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return lines, err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return lines, nil
		}
	}
}

func (c *client) run(steps []step) {
	c.t.Helper()
	for i, s := range steps {
		if s.group != nil {
			c.run(s.group)
			continue
		}
		if s.send != "" || s.raw {
			data := s.send
			if !s.raw {
				data += "\r\n"
			}
			if _, err := io.WriteString(c.conn, data); err != nil {
				c.t.Fatalf("step %d: send %q: %v", i, trunc(s.send), err)
			}
		}
		if s.expect == "" {
			continue
		}
		lines, err := c.reply()
		if err != nil {
			c.t.Fatalf("step %d: after %q: want %q, read error %v (got %q)", i, trunc(s.send), s.expect, err, lines)
		}
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, s.expect) {
			c.t.Fatalf("step %d: after %q: got %q, want prefix %q", i, trunc(s.send), lines, s.expect)
		}
	}
}

// expectClosed checks that the server has hung up.
func (c *client) expectClosed() {
	c.t.Helper()
	lines, err := c.reply()
	if err == nil || len(lines) > 0 {
		c.t.Fatalf("want connection closed, got %q, %v", lines, err)
	}
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// transcript dials and runs steps, starting with the greeting and EHLO.
func (e *testEnv) transcript(steps ...step) *client {
	e.t.Helper()
	c := e.dial()
	c.run(append([]step{{expect: "220 "}, {send: "EHLO client.test", expect: "250 "}}, steps...))
	return c
}

// inbox returns every message in the account's INBOX, bytes as stored.
func (e *testEnv) inbox(name string) [][]byte {
	e.t.Helper()
	return readInbox(e.t, e.st, name)
}

func readInbox(t testing.TB, st *storage.Store, name string) [][]byte {
	t.Helper()
	return readMailbox(t, st, name, storage.InboxName)
}

// readMailbox returns every message of one mailbox, bytes as stored.
func readMailbox(t testing.TB, st *storage.Store, name, mailbox string) [][]byte {
	t.Helper()
	acct, err := st.Account(name)
	if err != nil {
		t.Fatalf("account %s: %v", name, err)
	}
	mb, err := st.Mailbox(acct.ID, mailbox)
	if err != nil {
		t.Fatalf("%s of %s: %v", mailbox, name, err)
	}
	msgs, err := st.Messages(acct.ID, mb.ID)
	if err != nil {
		t.Fatalf("messages of %s: %v", name, err)
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := st.OpenBody(m.Object)
		if err != nil {
			t.Fatalf("open body %d: %v", m.Object, err)
		}
		data, err := io.ReadAll(b.Reader())
		if err != nil {
			t.Fatalf("read body %d: %v", m.Object, err)
		}
		if int64(len(data)) != m.Size || b.Size() != m.Size {
			t.Errorf("message %d: read %d bytes, Size %d, Body.Size %d", m.UID, len(data), m.Size, b.Size())
		}
		out = append(out, data)
	}
	return out
}

// splitTrace separates our Return-Path and Received fields from the
// message as the client sent it, checking that they come first and in
// that order (RFC 5321 4.4).
func splitTrace(t testing.TB, msg []byte) (returnPath, received string, rest []byte) {
	t.Helper()
	s := string(msg)
	if !strings.HasPrefix(s, "Return-Path: ") {
		t.Fatalf("message does not start with Return-Path: %q", trunc(s))
	}
	i := strings.Index(s, "\r\n")
	returnPath, s = s[:i], s[i+2:]
	if !strings.HasPrefix(s, "Received: ") {
		t.Fatalf("Received does not follow Return-Path: %q", trunc(s))
	}
	end := 0
	for {
		j := strings.Index(s[end:], "\r\n")
		if j < 0 {
			t.Fatalf("unterminated Received field: %q", s)
		}
		end += j + 2
		if end >= len(s) || (s[end] != '\t' && s[end] != ' ') {
			break
		}
	}
	return returnPath, s[:end], []byte(s[end:])
}

// wantOne checks that the account got exactly one message whose content
// after the trace fields is want.
func (e *testEnv) wantOne(name string, want []byte) (returnPath, received string) {
	e.t.Helper()
	msgs := e.inbox(name)
	if len(msgs) != 1 {
		e.t.Fatalf("%s has %d messages, want 1", name, len(msgs))
	}
	rp, rcv, rest := splitTrace(e.t, msgs[0])
	if !bytes.Equal(rest, want) {
		e.t.Fatalf("%s: stored body differs\n got %q\nwant %q", name, trunc(string(rest)), trunc(string(want)))
	}
	return rp, rcv
}

// crlf turns every bare LF into CRLF: how storage normalises line endings.
func crlf(b []byte) []byte {
	var out bytes.Buffer
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// testTLSConfig is a server config with a throwaway certificate for
// mx.example.test and 127.0.0.1.
func testTLSConfig(t testing.TB) *tls.Config {
	s, _ := testutil.TLS(t, "mx.example.test")
	return s
}

// faultStore wraps the real store and fails chosen calls.
type faultStore struct {
	Store
	deliverErr error // returned by Deliver after reading the whole body
	diskErr    error // returned by CheckDiskSpace
	resolveErr error // returned by Resolve
	quotaErr   error // returned by CheckQuota
}

func (f *faultStore) Deliver(ctx context.Context, d storage.Delivery, body io.Reader) ([]storage.Delivered, error) {
	if f.deliverErr != nil {
		if _, err := io.Copy(io.Discard, body); err != nil {
			return nil, err
		}
		return nil, f.deliverErr
	}
	return f.Store.Deliver(ctx, d, body)
}

func (f *faultStore) CheckDiskSpace(size int64) error {
	if f.diskErr != nil {
		return f.diskErr
	}
	return f.Store.CheckDiskSpace(size)
}

func (f *faultStore) Resolve(addr string) (storage.AccountID, error) {
	if f.resolveErr != nil {
		return 0, f.resolveErr
	}
	return f.Store.Resolve(addr)
}

func (f *faultStore) CheckQuota(acct storage.AccountID, size int64) error {
	if f.quotaErr != nil {
		return f.quotaErr
	}
	return f.Store.CheckQuota(acct, size)
}
