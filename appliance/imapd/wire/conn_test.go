package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// serveEcho is a minimal server on Reader and Writer: it answers each
// command "tag OK NAME nargs", reports each literal it read as
// "* SIZE n", and answers rejected commands as the reader says.
func serveEcho(t *testing.T, c net.Conn, opt Options) {
	defer c.Close()
	w := NewWriter(c, 0)
	opt.Continue = func() error {
		w.Continuation("Ready")
		return w.Flush()
	}
	r := NewReader(bufio.NewReader(c), opt)
	w.Status("*", OK, "", "ready")
	w.Flush()
	for {
		cmd, err := r.ReadCommand()
		var ce *CommandError
		switch {
		case errors.As(err, &ce):
			w.Error(ce)
		case err != nil:
			if !errors.Is(err, io.EOF) {
				w.Status("*", BYE, "", "protocol error")
				w.Flush()
			}
			return
		default:
			var walk func([]Node)
			walk = func(ns []Node) {
				for _, n := range ns {
					if n.Kind == Literal {
						w.Untagged().Atom("SIZE").Number(uint64(n.Size))
						if n.Binary {
							w.Atom("binary")
						}
						w.End()
					}
					walk(n.List)
				}
			}
			walk(cmd.Args)
			if cmd.Name == "CAPABILITY" {
				w.Untagged().Atom("CAPABILITY").Atom("IMAP4rev1").Atom("LITERAL+").End()
			}
			w.Status(cmd.Tag, OK, "", fmt.Sprintf("%s %d", cmd.Name, len(cmd.Args)))
			if cmd.Name == "LOGOUT" {
				w.Flush()
				return
			}
		}
		// One flush per command: the cork.
		if err := w.Flush(); err != nil {
			return
		}
	}
}

type step struct {
	send   string
	expect []string
}

// startEcho serves one connection with serveEcho on 127.0.0.1:0.
func startEcho(t *testing.T, opt Options) (addr string, done <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		serveEcho(t, c, opt)
	}()
	return ln.Addr().String(), ch
}

func runTranscript(t *testing.T, opt Options, steps []step) {
	addr, done := startEcho(t, opt)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A safety net so that a broken reader fails the test instead of
	// hanging it; no step depends on time.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	for i, s := range steps {
		if s.send != "" {
			if _, err := io.WriteString(c, s.send); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		for _, want := range s.expect {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("step %d (%q): waiting for %q: %v", i, s.send, want, err)
			}
			if got := strings.TrimSuffix(line, "\r\n"); got != want {
				t.Fatalf("step %d (%q): got %q, want %q", i, s.send, got, want)
			}
		}
	}
	c.Close()
	<-done
}

func TestTranscriptLoopback(t *testing.T) {
	runTranscript(t, Options{MaxLiteral: 1000}, []step{
		{"", []string{"* OK ready"}},
		{"a1 NOOP\r\na2 noop\r\n", []string{"a1 OK NOOP 0", "a2 OK NOOP 0"}},
		// Synchronising literals: the client waits for "+" each time.
		{"a3 LOGIN {4}\r\n", []string{"+ Ready"}},
		{"user {4}\r\n", []string{"+ Ready"}},
		{"pass\r\n", []string{"* SIZE 4", "* SIZE 4", "a3 OK LOGIN 2"}},
		// Too big: refused before the client sends a byte of it.
		{"a4 APPEND INBOX {100000}\r\n", []string{"a4 NO [TOOBIG] Literal too big"}},
		{"a5 NOOP\r\n", []string{"a5 OK NOOP 0"}},
		// Pipelined, with bad commands between good ones and literals inside.
		{"a6 FETCH (\r\na7 APPEND INBOX {3+}\r\nabc\r\na8 X ) {5+}\r\nhello\r\na9 NOOP\r\n",
			[]string{"a6 BAD Missing )", "* SIZE 3", "a7 OK APPEND 2", "a8 BAD Unexpected )", "a9 OK NOOP 0"}},
		// A missing quote is answered at once, not after a timeout.
		{"b1 LOGIN \"abc\r\n", []string{"b1 BAD Unterminated quoted string"}},
		{"b2 APPEND INBOX (\\Seen) ~{3}\r\n", []string{"+ Ready"}},
		{"a\x00b\r\n", []string{"* SIZE 3 binary", "b2 OK APPEND 3"}},
		{"b3 LOGOUT\r\n", []string{"b3 OK LOGOUT 0"}},
	})
}

func TestTranscriptLiteralMinus(t *testing.T) {
	runTranscript(t, Options{MaxNonSync: 4096, MaxLiteral: 1 << 20}, []step{
		{"", []string{"* OK ready"}},
		// RFC 7888 4: a LITERAL- server reads and refuses a larger {n+}.
		{"c1 APPEND INBOX {5000+}\r\n" + strings.Repeat("x", 5000) + "\r\nc2 NOOP\r\n",
			[]string{"c1 BAD [TOOBIG] Literal too big", "c2 OK NOOP 0"}},
		{"c3 APPEND INBOX {5000}\r\n", []string{"+ Ready"}},
		{strings.Repeat("y", 5000) + "\r\n", []string{"* SIZE 5000", "c3 OK APPEND 2"}},
	})
}

func TestTranscriptFatal(t *testing.T) {
	runTranscript(t, Options{MaxLine: 100, MaxDiscard: 1000}, []step{
		{"", []string{"* OK ready"}},
		{"d1 X " + strings.Repeat("z", 200) + "\r\n", []string{"d1 BAD Command line too long"}},
		{"d2 X " + strings.Repeat("z", 5000) + "\r\n", []string{"* BYE protocol error"}},
	})
}

// Python's imaplib sends APPEND's message as a synchronising literal and
// waits for "+": a real client's view of the continuation handling.
func TestImaplibLiteral(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	addr, done := startEcho(t, Options{})
	host, port, _ := net.SplitHostPort(addr)
	script := `
import imaplib, sys
c = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=30)
typ, _ = c.login("alice", "pa ss\\\"word")
assert typ == "OK", typ
msg = b"Subject: hi\r\n\r\n" + bytes(b for b in range(1, 256) if b not in (10, 13)) + b"\r\n"
typ, data = c.append("INBOX", "(\\Seen)", None, msg)
assert typ == "OK" and data == [b"APPEND 3"], (typ, data)
sizes = c.untagged_responses.get("SIZE")
assert sizes == [str(len(msg)).encode()], sizes
typ, _ = c.noop()
assert typ == "OK"
c.logout()
print("ok")
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	<-done
}
