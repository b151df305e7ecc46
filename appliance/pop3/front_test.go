package pop3

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"postroom/internal/front"
)

// dialFrom connects from a loopback address of its own (Linux answers on
// all of 127.0.0.0/8) and returns the client and the first line.
func (e *env) dialFrom(ip string) (*client, string) {
	e.t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := d.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatalf("dial from %s: %v", ip, err)
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	e.t.Cleanup(func() { conn.Close() })
	c := &client{t: e.t, conn: conn, br: bufio.NewReader(conn)}
	return c, c.line()
}

// TestPreLoginIdleLimit: a connection that does not log in gets the short
// pre-login idle limit (autologout, as RFC 1939's timer says it), while a
// logged-in one keeps IdleTimeout (10 minutes here).
func TestPreLoginIdleLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Limits = front.Limits{PreLoginIdle: 100 * time.Millisecond}
	})
	in := e.dial()
	in.login(alice)
	idle := e.dial()
	if r := idle.line(); r != "-ERR autologout: idle for too long" {
		t.Fatalf("idle before login: %q", r)
	}
	idle.expectClosed()
	if r := in.cmd("NOOP"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("logged-in session after the other timed out: %q", r)
	}
}

// TestIdleFloodLeavesRoom is the case in small: idle connections
// from a few addresses fill every slot; the pre-login limit tightens once
// StressAt are open, so they go, and a fresh client gets in and logs in.
// Slots kept for known clients stay free for someone who logged in before.
func TestIdleFloodLeavesRoom(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MaxConnections, o.MaxConnectionsPerIP = 20, 10
		// 20 slots: 4 kept for known clients, stress from 15 open.
		o.Limits = front.Limits{MaxPerNet: 40, PreLoginIdle: time.Hour, StressIdle: 50 * time.Millisecond}
	})
	// bob logged in from 127.0.0.50 yesterday: that address is known.
	old, _ := e.dialFrom("127.0.0.50")
	old.login(bob)
	old.run([]step{{send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)

	var idle []*client
	refused := 0
	for i := range 30 { // bounded: more than the slots
		c, first := e.dialFrom("127.0.0." + string(rune('1'+i/10)))
		switch {
		case strings.HasPrefix(first, "+OK"):
			idle = append(idle, c)
		case first == "-ERR [SYS/TEMP] too many connections, try again later",
			first == "-ERR [SYS/TEMP] too many connections from your address, try again later":
			refused++
		default:
			t.Fatalf("connection %d: %q", i, first)
		}
	}
	if len(idle) > 16 || refused == 0 {
		t.Fatalf("%d admitted, %d refused: strangers got the reserved slots", len(idle), refused)
	}
	for i, c := range idle {
		if r := c.line(); r != "-ERR autologout: idle for too long" {
			t.Fatalf("idle connection %d under stress: %q", i, r)
		}
		c.expectClosed()
	}
	fresh, first := e.dialFrom("127.0.0.99")
	if !strings.HasPrefix(first, "+OK") {
		t.Fatalf("a fresh client after the flood: %q", first)
	}
	fresh.login(alice)
	if !strings.Contains(e.logs.String(), "idle limit before login tightened") {
		t.Error("the stress mode is not logged")
	}
}

// TestKnownClientsReserve: with every unreserved slot taken by strangers,
// a client whose address logged in before still gets in.
func TestKnownClientsReserve(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MaxConnections, o.MaxConnectionsPerIP = 5, 5
		o.Limits = front.Limits{KnownReserve: 2, PreLoginIdle: time.Hour, StressAt: 100}
	})
	known, _ := e.dialFrom("127.0.0.7")
	known.login(alice)
	for range 2 {
		if _, first := e.dialFrom("127.0.1.1"); !strings.HasPrefix(first, "+OK") {
			t.Fatalf("a stranger below the reserve: %q", first)
		}
	}
	if _, first := e.dialFrom("127.0.1.2"); first != "-ERR [SYS/TEMP] too many connections, try again later" {
		t.Fatalf("a stranger into the reserve: %q", first)
	}
	if _, first := e.dialFrom("127.0.0.7"); !strings.HasPrefix(first, "+OK") {
		t.Fatalf("the known address: %q", first)
	}
}
