package front

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"postroom/internal/testutil"
)

var errTestClosed = errors.New("test server closed")

// lineServer is a small line protocol over a real Front on 127.0.0.1:
// "HELLO" greets; LOGIN [account] marks the connection logged in; WORK marks it busy
// until DONE; PING answers PONG. A read that times out says "BYE draining"
// or "BYE idle" and hangs up; a refusal is "NO <reason>".
type lineServer struct {
	t    *testing.T
	f    *Front
	addr string
	tls  *tls.Config // client side, for implicit TLS
}

func startLineServer(t *testing.T, opts Options, implicitTLS bool) *lineServer {
	t.Helper()
	opts.Name = "test"
	if opts.Logger == nil {
		opts.Logger = testutil.Logger(t)
	}
	opts.Refusal = func(reason string) string { return "NO " + reason }
	opts.ErrClosed = errTestClosed
	var clientTLS *tls.Config
	if implicitTLS {
		opts.TLSConfig, clientTLS = testutil.TLS(t, "front.test")
	}
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Serve(l, implicitTLS, func(c *Conn) { serveLines(c, opts.TLSConfig) }) }()
	t.Cleanup(func() {
		f.Stop()
		f.CloseAll()
		if err := <-done; err != errTestClosed {
			t.Errorf("Serve = %v, want the closed error", err)
		}
	})
	return &lineServer{t: t, f: f, addr: l.Addr().String(), tls: clientTLS}
}

func serveLines(c *Conn, tlsConfig *tls.Config) {
	defer c.Close()
	var rw net.Conn = c
	if c.ImplicitTLS() {
		tc := tls.Server(c, tlsConfig)
		if tc.Handshake() != nil {
			return
		}
		rw = tc
	}
	rw.Write([]byte("HELLO\r\n"))
	br := bufio.NewReader(rw)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if c.Ended() {
					rw.Write([]byte("BYE ended\r\n"))
				} else if c.Front().Draining() {
					rw.Write([]byte("BYE draining\r\n"))
				} else {
					rw.Write([]byte("BYE idle\r\n"))
				}
			}
			return
		}
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "LOGIN "); ok {
			c.LoggedIn()
			c.SetAccount(name)
			line = "LOGIN"
		}
		if name, ok := strings.CutPrefix(line, "CLIENT "); ok {
			c.SetClient(name)
			line = "PING"
		}
		switch line {
		case "LOGIN":
			c.LoggedIn()
		case "WORK":
			c.SetBusy(true)
		case "DONE":
			c.SetBusy(false)
		case "PING":
		default:
			rw.Write([]byte("ERR\r\n"))
			continue
		}
		rw.Write([]byte("OK\r\n"))
	}
}

type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dial connects from the local address from (any 127.0.0.0/8 address
// works on Linux loopback) and returns the first line the server sends.
func (s *lineServer) dial(from string) (*client, string) {
	s.t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("dial from %s: %v", from, err)
	}
	if s.tls != nil {
		nc = tls.Client(nc, s.tls)
	}
	// Bounds every wait of the test: a bug hangs nothing.
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	s.t.Cleanup(func() { nc.Close() })
	c := &client{t: s.t, nc: nc, br: bufio.NewReader(nc)}
	return c, c.line()
}

func (c *client) line() string {
	l, err := c.br.ReadString('\n')
	if err != nil && l == "" {
		return "<" + err.Error() + ">"
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *client) cmd(s string) string {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s + "\r\n")); err != nil {
		return "<" + err.Error() + ">"
	}
	return c.line()
}

// closed waits for the server's last line and its hang-up.
func (c *client) closed() string {
	c.t.Helper()
	l := c.line()
	if _, err := c.br.ReadByte(); err == nil {
		c.t.Fatalf("after %q the connection is still open", l)
	}
	return l
}

// TestAdmission: the per-address, per-/24, total and reserved-for-known
// bounds, each with its reason, from real addresses on loopback.
func TestAdmission(t *testing.T) {
	known := map[string]bool{"127.0.0.9": true, "127.0.2.9": true}
	s := startLineServer(t, Options{
		MaxConns: 10, MaxPerAddr: 3,
		Limits: Limits{MaxPerNet: 5, KnownReserve: 2, StressAt: 100},
		Known:  func(a netip.Addr) bool { return known[a.String()] },
	}, false)

	steps := []struct {
		from, want string
	}{
		{"127.0.0.1", "HELLO"}, {"127.0.0.1", "HELLO"}, {"127.0.0.1", "HELLO"},
		{"127.0.0.1", "NO " + ReasonAddr},
		{"127.0.0.2", "HELLO"}, {"127.0.0.2", "HELLO"},
		// 127.0.0.0/24 has 5 connections of strangers now.
		{"127.0.0.3", "NO " + ReasonNet},
		// A known address is not held to its /24.
		{"127.0.0.9", "HELLO"}, {"127.0.0.9", "HELLO"}, {"127.0.0.9", "HELLO"},
		// 8 open: the last 2 slots are for known addresses.
		{"127.0.1.1", "NO " + ReasonBusy},
		{"127.0.2.9", "HELLO"}, {"127.0.2.9", "HELLO"},
		{"127.0.2.9", "NO " + ReasonBusy},
	}
	var first *client
	for i, st := range steps {
		c, got := s.dial(st.from)
		if got != st.want {
			t.Fatalf("step %d from %s: %q, want %q", i, st.from, got, st.want)
		}
		if first == nil {
			first = c
		}
		if strings.HasPrefix(got, "NO ") {
			c.closed()
		}
	}
	// A closed connection frees its slot at once (for a known client:
	// 9 open leaves only reserved slots).
	first.nc.Close()
	waitFor(t, func() bool { return s.f.Open() == 9 })
	if _, got := s.dial("127.0.2.9"); got != "HELLO" {
		t.Fatalf("after a close: %q", got)
	}

	// A banned address is refused; others are not.
	s.f.Ban(netip.MustParseAddr("127.0.3.3"), time.Hour)
	if c, got := s.dial("127.0.3.3"); got != "NO "+ReasonBanned {
		t.Fatalf("banned: %q", got)
	} else {
		c.closed()
	}
}

// TestPreLoginIdle: a connection that does not log in is hung up on after
// PreLoginIdle of silence; one that logged in keeps the server's own
// (here: no) limit.
func TestPreLoginIdle(t *testing.T) {
	s := startLineServer(t, Options{MaxConns: 10, MaxPerAddr: 10,
		Limits: Limits{PreLoginIdle: 100 * time.Millisecond, StressAt: 100}}, false)
	in, _ := s.dial("127.0.0.1")
	if r := in.cmd("LOGIN"); r != "OK" {
		t.Fatal(r)
	}
	idle, _ := s.dial("127.0.0.1")
	if r := idle.closed(); r != "BYE idle" {
		t.Fatalf("idle before login: %q", r)
	}
	if r := in.cmd("PING"); r != "OK" {
		t.Fatalf("logged-in connection after the other timed out: %q", r)
	}
}

// TestPreLoginTotal: bytes trickling in do not keep a connection that never
// logs in: PreLoginTotal ends it however active it is.
func TestPreLoginTotal(t *testing.T) {
	s := startLineServer(t, Options{MaxConns: 10, MaxPerAddr: 10,
		Limits: Limits{PreLoginIdle: time.Hour, PreLoginTotal: 200 * time.Millisecond, StressAt: 100}}, false)
	c, _ := s.dial("127.0.0.1")
	for range 500 { // bounded: at 10 ms apart, well past PreLoginTotal
		if r := c.cmd("PING"); r != "OK" {
			if r != "BYE idle" {
				t.Fatalf("got %q, want BYE idle", r)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("a trickling client that never logs in was never hung up on")
}

// TestStress: the case in small. Idle connections from many
// addresses fill the slots; once StressAt are open, every connection that
// has not logged in gets StressIdle, those already waiting included, and a
// client from a fresh address gets in. A logged-in client stays.
func TestStress(t *testing.T) {
	s := startLineServer(t, Options{MaxConns: 10, MaxPerAddr: 2,
		Limits: Limits{MaxPerNet: 100, PreLoginIdle: time.Hour, StressAt: 6, StressIdle: 50 * time.Millisecond}}, false)
	user, _ := s.dial("127.0.0.100")
	if r := user.cmd("LOGIN"); r != "OK" {
		t.Fatal(r)
	}
	var idle []*client
	for i := range 4 { // 5 open: under StressAt, nobody is hurried
		c, got := s.dial("127.0.0." + string(rune('1'+i)))
		if got != "HELLO" {
			t.Fatalf("idle client %d: %q", i, got)
		}
		idle = append(idle, c)
	}
	if r := idle[0].cmd("PING"); r != "OK" {
		t.Fatalf("an idle client before stress: %q", r)
	}
	// The sixth: stress. Those waiting an hour are cut short.
	c, _ := s.dial("127.0.0.6")
	idle = append(idle, c)
	for i, c := range idle {
		if r := c.closed(); r != "BYE idle" {
			t.Fatalf("idle client %d under stress: %q", i, r)
		}
	}
	waitFor(t, func() bool { return s.f.Open() == 1 })
	fresh, got := s.dial("127.0.0.200")
	if got != "HELLO" || fresh.cmd("LOGIN") != "OK" {
		t.Fatalf("a fresh client after the idle ones went: %q", got)
	}
	if r := user.cmd("PING"); r != "OK" {
		t.Fatalf("the logged-in client: %q", r)
	}
}

// TestDrain: Drain stops accepting, says goodbye to idle connections at
// once and lets a busy one finish its command first; Wait returns when all
// are gone.
func TestDrain(t *testing.T) {
	s := startLineServer(t, Options{MaxConns: 10, MaxPerAddr: 10, Limits: Limits{StressAt: 100}}, false)
	idle, _ := s.dial("127.0.0.1")
	busy, _ := s.dial("127.0.0.1")
	if r := busy.cmd("LOGIN"); r != "OK" {
		t.Fatal(r)
	}
	if r := busy.cmd("WORK"); r != "OK" {
		t.Fatal(r)
	}
	s.f.Drain()
	if r := idle.closed(); r != "BYE draining" {
		t.Fatalf("idle at drain: %q", r)
	}
	if r := busy.cmd("DONE"); r != "OK" {
		t.Fatalf("busy at drain: %q", r)
	}
	if r := busy.closed(); r != "BYE draining" {
		t.Fatalf("busy after its command: %q", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second); err == nil {
		nc.Close()
		t.Fatal("still accepting after Drain")
	}
}

// TestImplicitTLSRefusal: on a TLS-from-the-first-byte port the refusal is
// readable by a TLS client.
func TestImplicitTLSRefusal(t *testing.T) {
	s := startLineServer(t, Options{MaxConns: 1, MaxPerAddr: 1, Limits: Limits{StressAt: 100}}, true)
	if _, got := s.dial("127.0.0.1"); got != "HELLO" {
		t.Fatalf("first: %q", got)
	}
	if c, got := s.dial("127.0.0.2"); got != "NO "+ReasonBusy {
		t.Fatalf("second: %q", got)
	} else {
		c.closed()
	}
}

// TestRefusalLogBounded: a flood of refused connections is answered, but
// logged at most maxRefusalLogs lines a second, not once per connection.
func TestRefusalLogBounded(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	s := startLineServer(t, Options{MaxConns: 1, MaxPerAddr: 1, Limits: Limits{StressAt: 100},
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, false)
	s.dial("127.0.0.1")
	const n = 300
	for i := range n {
		if c, got := s.dial("127.0.0.2"); got != "NO "+ReasonBusy {
			t.Fatalf("connection %d: %q", i, got)
		} else {
			c.nc.Close()
		}
	}
	if lines := strings.Count(logs.String(), "connection refused"); lines == 0 || lines >= n {
		t.Fatalf("%d refusal lines for %d refusals", lines, n)
	}
}

func TestAddrKey(t *testing.T) {
	for _, c := range []struct{ addr, key string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
	} {
		if got := AddrKey(netip.MustParseAddr(c.addr)).String(); got != c.key {
			t.Errorf("AddrKey(%s) = %s, want %s", c.addr, got, c.key)
		}
	}
	if k, ok := netKey(netip.MustParseAddr("192.0.2.7")); !ok || k.String() != "192.0.2.0/24" {
		t.Errorf("netKey(192.0.2.7) = %v %v", k, ok)
	}
	if _, ok := netKey(netip.MustParseAddr("2001:db8::1")); ok {
		t.Error("IPv6 has a /24 key")
	}
}

// waitFor polls cond until it holds, for at most 20 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition never held")
}

// TestEndSessions: EndSessions ends the sessions of one account (without
// case), an idle one at once and a busy one after its command, each with
// the server's goodbye, and leaves other accounts' sessions alone.
func TestEndSessions(t *testing.T) {
	logins := make(chan string, 10)
	s := startLineServer(t, Options{
		MaxConns: 10, MaxPerAddr: 10,
		Limits: Limits{StressAt: 100, OnLogin: func(c *Conn) { logins <- c.Account() + " " + c.Client() }},
	}, false)
	idle, _ := s.dial("127.0.0.1")
	busy, _ := s.dial("127.0.0.1")
	other, _ := s.dial("127.0.0.1")
	anon, _ := s.dial("127.0.0.1")
	for _, st := range []struct {
		c    *client
		cmd  string
		want string
	}{
		{idle, "LOGIN Anna@Example.com", "OK"},
		{busy, "LOGIN anna@example.com", "OK"},
		{busy, "WORK", "OK"},
		{other, "LOGIN bob@example.com", "OK"},
		{other, "CLIENT Bob's phone", "OK"},
		{anon, "CLIENT before login", "OK"},
		{anon, "PING", "OK"},
	} {
		if got := st.c.cmd(st.cmd); got != st.want {
			t.Fatalf("%s: %q, want %q", st.cmd, got, st.want)
		}
	}
	// SetClient after login reports the device again; before login not.
	for _, want := range []string{"anna@example.com ", "anna@example.com ", "bob@example.com ", "bob@example.com Bob's phone"} {
		if got := <-logins; got != want {
			t.Errorf("OnLogin saw %q, want %q", got, want)
		}
	}
	select {
	case got := <-logins:
		t.Errorf("OnLogin before login: %q", got)
	default:
	}
	if n := s.f.EndSessions(" ANNA@example.COM"); n != 2 {
		t.Fatalf("EndSessions = %d, want 2", n)
	}
	if got := idle.closed(); got != "BYE ended" {
		t.Errorf("idle session: %q, want BYE ended", got)
	}
	// The busy one finishes its command, then goes.
	if got := busy.cmd("DONE"); got != "OK" {
		t.Errorf("busy session's command: %q", got)
	}
	if got := busy.closed(); got != "BYE ended" {
		t.Errorf("busy session: %q, want BYE ended", got)
	}
	for _, c := range []*client{other, anon} {
		if got := c.cmd("PING"); got != "OK" {
			t.Errorf("another session: %q, want OK", got)
		}
	}
	if n := s.f.EndSessions(""); n != 0 {
		t.Errorf("EndSessions(\"\") = %d, want 0", n)
	}
}
