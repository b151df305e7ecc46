package pop3

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"postroom/appliance/authguard"
	"postroom/storage"
	"postroom/storage/storagetest"
)

var fuzzSeeds = []string{
	"CAPA\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nNOOP\r\n",
	"DELE 1\r\nDELE 2\r\nDELE 3\r\nQUIT\r\n",
	"DELE 2\r\nRSET\r\nDELE 3\r\nquit\r\n",
	"LIST 0\r\nLIST 4\r\nRETR -1\r\nTOP 1 99999999999\r\nUIDL x\r\nDELE 1 1\r\n",
	"USER x\r\nPASS y\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN =\r\nSTLS\r\nAPOP a b\r\n",
	"RETR 1\nRETR 2\nRETR 3\n",
	"\x00\r\n" + strings.Repeat("x", 3000) + "\r\nNOOP\r\n",
	"TOP 1 0\r\nTOP 3 1000\r\nLIST 3\r\nUIDL 3\r\n",
}

// FuzzParse feeds arbitrary bytes to the line reader and every parser and
// checks what they promise: lines are bounded, free of NUL and line ends;
// numbers are plain decimals; PLAIN yields a login and a password.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Add("AUTH PLAIN " + b64("\x00a\x00b"))
	f.Add(b64("a\x00a\x00pw"))
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), maxLine)
		for {
			line, err := readLine(br)
			if err == errLineTooLong || err == errNUL {
				continue
			}
			if err != nil {
				break
			}
			if len(line) >= maxLine || strings.ContainsAny(line, "\n\x00") {
				t.Fatalf("readLine returned %q", line)
			}
			cmd, rest := parseCommand(line)
			if strings.ContainsRune(cmd, ' ') || cmd != strings.ToUpper(cmd) {
				t.Fatalf("command %q", cmd)
			}
			if as, ok := args(rest); ok {
				for _, a := range as {
					if a == "" || len(a) > 40 {
						t.Fatalf("argument %q", a)
					}
					if n, ok := parseNumber(a); ok && (n < 0 || strings.TrimLeft(a, "0") != strings.TrimLeft(strconv.Itoa(n), "0")) {
						t.Fatalf("number %q parsed as %d", a, n)
					}
				}
			}
			if login, pw, ok := decodePlain(rest); ok && (login == "" || pw == "" || strings.ContainsRune(login+pw, 0)) {
				t.Fatalf("PLAIN %q gave %q %q", rest, login, pw)
			}
		}
	})
}

// scriptConn is a connection whose client sends a script and then EOF;
// the replies collect in w.
type scriptConn struct {
	r io.Reader
	w bytes.Buffer
}

func (c *scriptConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// quickAuth is the real store with a cheap password check: argon2 would
// make each fuzz run cost 50 ms. Every other call goes to the store.
type quickAuth struct{ *storage.Store }

func (q quickAuth) Authenticate(login, pw string) (storage.Account, error) {
	a, err := q.Store.Account(login)
	if err != nil || pw != password(a.Name) {
		return storage.Account{}, storage.ErrAuthFailed
	}
	return a, nil
}

// FuzzSession drives the state machine with random command sequences over
// an in-memory connection against a real store, after a valid login. It checks that the
// session never panics, always ends and releases its lock, and that
// nothing is deleted unless the input said QUIT.
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	st := storagetest.Open(f)
	a := storagetest.Account(f, st, alice)
	e := &env{t: f, st: st, alice: a}
	for i := range 3 {
		e.deliver(a, msgText("m"+strconv.Itoa(i), i*3))
	}
	srv, err := New(Options{
		Hostname: "pop.example.test", Store: quickAuth{st},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Guard:  authguard.New(authguard.Options{FailureDelay: time.Microsecond, MaxFailures: 1 << 30, MaxStrikes: 1 << 30}),
	})
	if err != nil {
		f.Fatal(err)
	}
	ended := make(chan struct{}, 1)
	srv.sessionEnded = func() { ended <- struct{}{} }
	defer srv.Close()

	f.Fuzz(func(t *testing.T, in string) {
		e := &env{t: t, st: st, alice: a}
		_, before := e.inbox(a)
		conn := &scriptConn{r: strings.NewReader("USER " + alice + "\r\nPASS " + password(alice) + "\r\n" + in)}
		fc, reason := srv.front.Admit(conn, false)
		if fc == nil {
			t.Fatalf("not admitted: %s", reason)
		}
		sess := newSession(srv, fc)
		sess.isTLS = true // as after STLS: the password may be sent
		go func() {
			sess.run()
			srv.sessionEnded()
		}()
		select {
		case <-ended:
		case <-time.After(20 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("session did not end on %q\n%s", in, buf[:runtime.Stack(buf, true)])
		}
		out := &conn.w
		if !strings.Contains(out.String(), "+OK "+alice+" has") {
			t.Fatalf("login failed: %q", out.String())
		}
		srv.mu.Lock()
		locked := len(srv.inUse)
		srv.mu.Unlock()
		if locked != 0 {
			t.Fatal("maildrop lock not released")
		}
		_, after := e.inbox(a)
		if len(after) != len(before) {
			if !strings.Contains(strings.ToUpper(in), "QUIT") {
				t.Fatalf("%d messages deleted without QUIT", len(before)-len(after))
			}
			for i := len(after); i < 3; i++ {
				e.deliver(a, msgText("refill", i))
			}
		}
	})
}

// FuzzDotWriter checks that dotWriter's output is byte for byte that of
// net/textproto's DotWriter, for any text cut into any two writes.
func FuzzDotWriter(f *testing.F) {
	for _, s := range []string{"", ".", "..\r\n", "a\r\n.b\r\n.\r\n", "a\nb\n.c", "x\r", "\r\r\n.", "\r.\r\n\n.", "line\r\n",
		"a\r\nb\r\n.c\r\n\nd\r\r\n", "x\r\n\r\n..\r\n\r", "a\r\n\n\r\n.\n.\r\n"} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, in string, cut uint8) {
		var want bytes.Buffer
		tw := textproto.NewWriter(bufio.NewWriter(&want))
		dw := tw.DotWriter()
		io.WriteString(dw, in)
		dw.Close()

		var got bytes.Buffer
		bw := bufio.NewWriterSize(&got, 16)
		ours := &dotWriter{w: bw}
		k := min(int(cut), len(in))
		for _, part := range []string{in[:k], in[k:]} {
			if n, err := ours.Write([]byte(part)); n != len(part) || err != nil {
				t.Fatalf("Write: %d, %v", n, err)
			}
		}
		ours.Close()
		bw.Flush()
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("input %q cut %d:\ngot  %q\nwant %q", in, k, got.Bytes(), want.Bytes())
		}
	})
}
