package pop3

import (
	"strings"
	"testing"
	"time"

	"postroom/internal/front"
	"postroom/internal/testutil"
)

// dialFrom connects from the loopback address ip and returns the client
// and its first line.
func (e *env) dialFrom(ip string) (*client, string) {
	e.t.Helper()
	c := testutil.DialFrom(e.t, ip, e.addr)
	return &client{t: e.t, conn: c, br: c.R}, c.First
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
func TestIdleFloodLeavesRoom(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MaxConnections, o.MaxConnectionsPerIP = 20, 10
		// 20 slots: 4 kept for known clients, stress from 15 open.
		o.Limits = front.Limits{MaxPerNet: 40, PreLoginIdle: time.Hour, StressIdle: 50 * time.Millisecond}
	})
	// How many get in depends on how fast the first ones are cut: the
	// reserve itself is TestKnownClientsReserve's.
	idle, _ := testutil.IdleFlood(t, e.addr, 30, 10, "+OK", "-ERR [SYS/TEMP] too many connections")
	for i, c := range idle {
		if r := c.Line(); r != "-ERR autologout: idle for too long" || !c.Closed() {
			t.Fatalf("idle connection %d under stress: %q", i, r)
		}
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

// TestEndSessions: "log out everywhere" ends alice's POP3 session with
// -ERR [AUTH], deletes nothing she marked, and leaves bob's session alone.
func TestEndSessions(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, "Subject: one\r\n\r\nbody\r\n")
	a := e.dial()
	a.login(alice)
	if r := a.cmd("DELE 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("DELE: %q", r)
	}
	b := e.dial()
	b.login(bob)
	if n := e.srv.EndSessions("Alice@Example.test"); n != 1 {
		t.Fatalf("EndSessions = %d, want 1", n)
	}
	if r := a.line(); r != "-ERR [AUTH] logged out: the password was changed or removed, log in again" {
		t.Fatalf("ended session: %q", r)
	}
	a.expectClosed()
	e.waitEnded(1)
	if _, msgs := e.inbox(e.alice); len(msgs) != 1 {
		t.Errorf("after the end: %d messages, want 1 (no UPDATE state)", len(msgs))
	}
	if r := b.cmd("NOOP"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("bob's session: %q", r)
	}
}

// TestReconnectAfterQuit: the maildrop is free once QUIT's +OK arrives, so
// a client that logs in again at once (a phone; quick with the credential
// cache) never finds it [IN-USE].
func TestReconnectAfterQuit(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 20; i++ {
		c := e.dial()
		c.login(alice)
		if r := c.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("round %d: QUIT: %q", i, r)
		}
	}
}
