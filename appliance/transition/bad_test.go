package transition

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"postroom/storage/storagetest"
)

// badServer is an old server that misbehaves: a listener on 127.0.0.1
// that answers every connection with script (greeting and one answer per
// line read), or says nothing at all when script is nil.
func badServer(t *testing.T, script func(w *bufio.Writer, r *bufio.Reader)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if script == nil {
					c.SetDeadline(time.Now().Add(30 * time.Second))
					c.Read(make([]byte, 1)) // hang until the client gives up
					return
				}
				w := bufio.NewWriter(c)
				script(w, bufio.NewReader(c))
				w.Flush()
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBadOldServers: an old server that answers nonsense, closes the
// connection or never answers is said in plain words, quickly, and adds
// nothing.
func TestBadOldServers(t *testing.T) {
	st := storagetest.Open(t)
	storagetest.Account(t, st, ours)
	m, err := New(Options{Store: st, Dir: t.TempDir(), AllowPlain: true, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, protocol string
		script         func(w *bufio.Writer, r *bufio.Reader)
		want           string
	}{
		{"pop3 greeting nonsense", POP3, func(w *bufio.Writer, r *bufio.Reader) { w.WriteString("HELLO THERE\r\n") }, "does not understand"},
		{"pop3 closes", POP3, func(w *bufio.Writer, r *bufio.Reader) {}, "closed the connection without answering"},
		{"pop3 overlong line", POP3, func(w *bufio.Writer, r *bufio.Reader) { w.WriteString("+OK " + strings.Repeat("x", 5000) + "\r\n") }, "over 4096"},
		{"pop3 refuses", POP3, func(w *bufio.Writer, r *bufio.Reader) {
			w.WriteString("+OK hi\r\n")
			w.Flush()
			r.ReadString('\n')
			w.WriteString("-ERR [SYS/TEMP] try later\r\n")
			w.Flush()
			r.ReadString('\n')
		}, "refused the user name or password"},
		{"pop3 silent", POP3, nil, "stopped answering"},
		{"imap greeting nonsense", IMAP, func(w *bufio.Writer, r *bufio.Reader) { w.WriteString("* WHAT is this\r\n") }, "old server"},
		{"imap closes", IMAP, func(w *bufio.Writer, r *bufio.Reader) {}, "old server"},
		{"imap no", IMAP, func(w *bufio.Writer, r *bufio.Reader) {
			// A server that refuses the login (and answers what a
			// client asks before it), until the client goes.
			w.WriteString("* OK ready\r\n")
			w.Flush()
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				f := strings.Fields(line)
				if len(f) < 2 {
					return
				}
				switch strings.ToUpper(f[1]) {
				case "CAPABILITY":
					w.WriteString("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + f[0] + " OK done\r\n")
				case "LOGIN", "AUTHENTICATE":
					w.WriteString(f[0] + " NO [AUTHENTICATIONFAILED] nope\r\n")
				default:
					w.WriteString(f[0] + " BAD what\r\n")
				}
				w.Flush()
			}
		}, "refused the user name or password"},
		{"imap silent", IMAP, nil, "old server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port := badServer(t, tc.script)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := m.Add(ctx, NewSource{Account: ours, Protocol: tc.protocol, Host: "127.0.0.1", Port: port, Security: Plain, Username: "u", Password: "p"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Add: %v, want %q", err, tc.want)
			}
			if ctx.Err() != nil {
				t.Error("the check hung")
			}
		})
	}
	if len(m.List()) != 0 {
		t.Errorf("a bad server was kept: %+v", m.List())
	}
}
