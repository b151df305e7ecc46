package imapd

import (
	"strings"
	"testing"
	"time"

	"postroom/appliance/authguard"
	"postroom/internal/front"
	"postroom/internal/testutil"
)

// dialFrom connects from the loopback address ip and returns the
// connection and its first line.
func (e *testEnv) dialFrom(ip string) (*rawConn, string) {
	e.t.Helper()
	c := testutil.DialFrom(e.t, ip, e.addr)
	return &rawConn{t: e.t, c: c, r: c.R}, c.First
}

// TestPreLoginIdleLimit: a connection that does not log in is told BYE
// after the front's pre-login idle limit; a logged-in one keeps
// IdleTimeout (35 minutes). The limit applies to the client that logs in
// too, between its greeting and its LOGIN: a second, not 100 ms, so that
// a loaded machine (the race detector, CI's two cores) does not cut it
// off before it speaks.
func TestPreLoginIdleLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Limits = front.Limits{PreLoginIdle: time.Second} })
	in := e.rawLogin(alice)
	idle := e.raw()
	if got := readAll(t, idle.c); !strings.HasPrefix(got, "* BYE Autologout") {
		t.Fatalf("idle before login got %q, want BYE", got)
	}
	in.do(step{send: "n NOOP", want: []string{`^n OK`}})
}

// TestIdleFloodLeavesRoom: idle connections from a few addresses fill the
// slots; from StressAt open the pre-login limit tightens, they go, and a
// fresh client logs in.
func TestIdleFloodLeavesRoom(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MaxConnections, o.MaxConnectionsPerIP = 20, 10
		o.Limits = front.Limits{MaxPerNet: 40, PreLoginIdle: time.Hour, StressIdle: 50 * time.Millisecond}
	})
	idle, _ := testutil.IdleFlood(t, e.addr, 30, 10, "* OK ", "* BYE imap.example.test: Too many connections")
	for i, c := range idle {
		if r := c.Line(); !strings.HasPrefix(r, "* BYE Autologout") || !c.Closed() {
			t.Fatalf("idle connection %d under stress got %q", i, r)
		}
	}
	rc, first := e.dialFrom("127.0.0.99")
	if !strings.HasPrefix(first, "* OK ") {
		t.Fatalf("a fresh client after the flood: %q", first)
	}
	rc.do(step{send: "L LOGIN " + alice + " password-" + alice, want: []string{`^L OK `}})
}

// TestKnownClientsReserve: strangers cannot take the reserved slots; an
// address that logged in before can.
func TestKnownClientsReserve(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MaxConnections, o.MaxConnectionsPerIP = 5, 5
		o.Limits = front.Limits{KnownReserve: 2, PreLoginIdle: time.Hour, StressAt: 100}
	})
	known, _ := e.dialFrom("127.0.0.7")
	known.do(step{send: "L LOGIN " + alice + " password-" + alice, want: []string{`^L OK `}})
	for range 2 {
		if _, first := e.dialFrom("127.0.1.1"); !strings.HasPrefix(first, "* OK ") {
			t.Fatalf("a stranger below the reserve: %q", first)
		}
	}
	if _, first := e.dialFrom("127.0.1.2"); !strings.HasPrefix(first, "* BYE imap.example.test: Too many connections, try again later") {
		t.Fatalf("a stranger into the reserve: %q", first)
	}
	if _, first := e.dialFrom("127.0.0.7"); !strings.HasPrefix(first, "* OK ") {
		t.Fatalf("the known address: %q", first)
	}
}

// TestLockoutIsPerAccount: a stale password for alice on a shared machine
// locks alice from that address, not bob (authguard locks the pair first).
func TestLockoutIsPerAccount(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Guard = authguard.New(authguard.Options{FailureDelay: time.Millisecond, MaxFailures: 3})
	})
	rc := e.raw()
	for _, tag := range []string{"a", "b", "c"} {
		rc.do(step{send: tag + " LOGIN alice@example.test stale", want: []string{`^` + tag + ` NO \[AUTHENTICATIONFAILED\]`}})
	}
	rc.do(step{send: "d LOGIN alice@example.test password-alice@example.test", want: []string{`^d NO \[UNAVAILABLE\]`}})
	rc.do(step{send: "e LOGIN bob@example.test password-bob@example.test", want: []string{`^e OK `}})
}
