package imapd

import (
	"context"
	"strings"
	"testing"
	"time"

	"postroom/appliance/authguard"
)

// TestShutdown: Shutdown says BYE to an idling client and to one waiting
// between commands, returns, and later connections are refused.
func TestShutdown(t *testing.T) {
	e := newEnv(t, nil)
	a := e.rawLogin(alice)
	a.do(step{send: "s SELECT INBOX", want: []string{`^s OK`}})
	a.send("i IDLE\r\n")
	a.until(`^\+ `)
	b := e.rawLogin(bob)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, rc := range []*rawConn{a, b} {
		if got := readAll(t, rc.c); !strings.Contains(got, "* BYE Server shutting down") {
			t.Errorf("a client got %q at shutdown, want BYE", got)
		}
	}
	if c, err := netDial(e.addr); err == nil {
		got := readAll(t, c)
		c.Close()
		if strings.HasPrefix(got, "* OK") {
			t.Errorf("a connection after Shutdown was greeted %q", got)
		}
	}
}

// TestConnectionLimits: over MaxConnections, or MaxConnectionsPerIP from
// one address, a client is greeted with BYE; a freed slot is reused.
func TestConnectionLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConnections = 3; o.MaxConnectionsPerIP = 2 })
	first := e.raw()
	e.raw()
	c, err := netDial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, c); !strings.HasPrefix(got, "* BYE imap.example.test: Too many connections from your address") {
		t.Fatalf("third connection from one address got %q", got)
	}
	c.Close()
	first.do(step{send: "q LOGOUT", want: []string{`^\* BYE`, `^q OK`}})
	readAll(t, first.c)
	// The slot is free once the server has closed its side; a connection
	// refused meanwhile would say so, so retry until one gets in.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := netDial(e.addr)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, _ := c.Read(buf)
		c.Close()
		if string(buf[:n]) == "* OK" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the freed slot never came back")
		}
	}
}

// TestLoginLockout: after MaxFailures failures from one address even the
// right password is refused for a while (NO [UNAVAILABLE]), on any
// connection.
func TestLoginLockout(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Guard = authguard.New(authguard.Options{FailureDelay: time.Millisecond, MaxFailures: 3})
	})
	rc := e.raw()
	for _, tag := range []string{"a", "b", "c"} {
		rc.do(step{send: tag + " LOGIN alice@example.test wrong", want: []string{`^` + tag + ` NO \[AUTHENTICATIONFAILED\]`}})
	}
	rc.do(step{send: "d LOGIN alice@example.test password-alice@example.test", want: []string{`^d NO \[UNAVAILABLE\]`}})
	other := e.raw()
	other.do(step{send: "e AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC1hbGljZUBleGFtcGxlLnRlc3Q=", want: []string{`^e NO \[UNAVAILABLE\]`}})
	if strings.Contains(e.logs.String(), "password-alice") {
		t.Error("a password reached the log")
	}
}

// TestLiteralNeverFinishes: an APPEND whose literal stops half-way and
// whose client goes away stores nothing, and the server goes on serving.
func TestLiteralNeverFinishes(t *testing.T) {
	e := newEnv(t, nil)
	rc := e.rawLogin(alice)
	rc.send("a APPEND INBOX {1000}\r\n")
	rc.until(`^\+ `)
	rc.send(strings.Repeat("x", 500))
	rc.c.Close()
	other := e.rawLogin(alice)
	other.do(step{send: "s STATUS INBOX (MESSAGES)", want: []string{`^\* STATUS INBOX \(MESSAGES 0\)`, `^s OK`}})
	// Shutdown waits for every session: the aborted one has ended.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestNonSyncLiteralTooBig: LITERAL+ over APPENDLIMIT is refused with NO
// [TOOBIG]; the bytes the client sends anyway are read past, not stored,
// and the next command is answered.
func TestNonSyncLiteralTooBig(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AppendLimit = 100 })
	rc := e.rawLogin(alice)
	rc.send("a APPEND INBOX {200+}\r\n" + strings.Repeat("y", 198) + "\r\n\r\n")
	lines := rc.until(`^a (OK|NO|BAD)`)
	if !strings.HasPrefix(lines[len(lines)-1], "a NO [TOOBIG]") {
		t.Fatalf("got %q, want NO [TOOBIG]", lines)
	}
	rc.do(step{send: "b NOOP", want: []string{`^b OK`}})
	inbox, _ := e.st.Mailbox(e.alice.ID, "INBOX")
	if inbox.Messages != 0 {
		t.Errorf("INBOX has %d messages after a refused APPEND", inbox.Messages)
	}
}

// TestIdleTimeout: a logged-in client silent for longer than IdleTimeout
// is disconnected.
func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 2 * time.Second })
	rc := e.rawLogin(alice)
	rc.do(step{send: "s SELECT INBOX", want: []string{`^s OK`}})
	rc.send("i IDLE\r\n")
	rc.until(`^\+ `)
	got := readAll(t, rc.c) // returns when the server hangs up
	if !strings.HasPrefix(got, "* BYE Autologout") {
		t.Errorf("an idle client got %q before the server hung up, want BYE", got)
	}
}
