package smtpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestThousandConnections: 1,000 simultaneous connections against a limit
// of 50 are each answered — 50 with the greeting, the rest with 421 4.7.0
// (or, past the refusal bound, closed) — and the server carries on.
func TestThousandConnections(t *testing.T) {
	const total, max = 1000, 50
	e := newEnv(t, func(o *Options) { o.MaxConnections = max; o.MaxConnectionsPerIP = total })
	conns := make([]net.Conn, 0, total)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range total { // bounded: exactly total dials
		c, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		conns = append(conns, c)
	}
	greeted, refused, closed := 0, 0, 0
	var admitted []net.Conn
	for _, c := range conns {
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case strings.HasPrefix(line, "220 "):
			greeted++
			admitted = append(admitted, c)
		case strings.HasPrefix(line, "421 4.7.0 "):
			refused++
		case line == "" && errors.Is(err, io.EOF):
			closed++
		default:
			t.Fatalf("connection got %q, %v", line, err)
		}
	}
	if greeted != max || refused == 0 || greeted+refused+closed != total {
		t.Fatalf("greeted %d, refused %d, closed %d", greeted, refused, closed)
	}
	t.Logf("greeted %d, refused with 421 %d, closed silently %d", greeted, refused, closed)
	// The admitted ones still work, and once they leave others get in.
	io.WriteString(admitted[0], "NOOP\r\n")
	if line, _ := bufio.NewReader(admitted[0]).ReadString('\n'); !strings.HasPrefix(line, "250 ") {
		t.Fatalf("NOOP: %q", line)
	}
	for _, c := range admitted {
		c.Close()
	}
	waitFor(t, func() bool { return e.srv.open() == 0 })
	e.transcript(s("NOOP", "250 "))
}

// waitFor polls cond (bounded); the server notices closed connections
// asynchronously.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPerIPLimit: one address cannot take every slot.
func TestPerIPLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConnectionsPerIP = 2 })
	a, b := e.dial(), e.dial()
	a.run([]step{s("", "220 ")})
	b.run([]step{s("", "220 ")})
	c := e.dial()
	c.run([]step{s("", "421 4.7.0 mx.example.test too many connections from your address")})
	c.expectClosed()
	a.run([]step{s("QUIT", "221 ")})
	a.expectClosed()
	waitFor(t, func() bool { return e.srv.open() == 1 })
	e.transcript(s("NOOP", "250 "))
	if !strings.Contains(e.logs.String(), "max_per_ip=2") {
		t.Errorf("refusal not logged:\n%s", e.logs.String())
	}
}

// TestMessagesPerConnection: after the limit the next MAIL gets 421 and
// the connection ends.
func TestMessagesPerConnection(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxMessagesPerConnection = 2 })
	one := []step{
		s("MAIL FROM:<sender@remote.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw("Subject: n\r\n\r\nx\r\n.\r\n", "250 "),
	}
	c := e.transcript(append(append(one, s("RSET", "250 ")), one...)...)
	c.run([]step{s("MAIL FROM:<sender@remote.test>", "421 4.7.0 ")})
	c.expectClosed()
	if n := len(e.inbox(alice)); n != 2 {
		t.Errorf("alice has %d messages", n)
	}
	// A new connection starts counting afresh.
	e.transcript(one...)
}

// TestSlowClients: a silent client is told 421 4.4.2 and dropped after
// ReadTimeout; on the implicit-TLS port a client that never starts the
// handshake is dropped too.
func TestSlowClients(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ReadTimeout = 200 * time.Millisecond })
	c := e.transcript()
	c.run([]step{s("", "421 4.4.2 ")})
	c.expectClosed()

	tlsEnv := newEnv(t, func(o *Options) {
		o.ReadTimeout = 200 * time.Millisecond
		o.TLSConfig = testTLSConfig(t)
		o.ImplicitTLS = true
	})
	silent := tlsEnv.dial()
	if n, err := silent.conn.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("silent TLS client: read %d, %v", n, err)
	}
}

// TestImplicitTLSRefusal: over the limit on 465 the 421 comes inside TLS.
func TestImplicitTLSRefusal(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.TLSConfig = testTLSConfig(t)
		o.ImplicitTLS = true
		o.MaxConnections = 1
	})
	first, err := tls.Dial("tcp", e.addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(20 * time.Second))
	if line, _ := bufio.NewReader(first).ReadString('\n'); !strings.HasPrefix(line, "220 ") {
		t.Fatalf("first: %q", line)
	}
	second, err := tls.Dial("tcp", e.addr, clientTLS)
	if err != nil {
		t.Fatalf("TLS to a refused connection: %v", err)
	}
	defer second.Close()
	second.SetDeadline(time.Now().Add(20 * time.Second))
	if line, _ := bufio.NewReader(second).ReadString('\n'); !strings.HasPrefix(line, "421 4.7.0 ") {
		t.Fatalf("second: %q", line)
	}
}
