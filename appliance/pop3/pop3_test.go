package pop3

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"postroom/appliance/authguard"
	"postroom/storage"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestTranscriptEveryCommand runs every command in every state, with good
// and bad arguments, and checks each reply (RFC 1939, RFC 2449).
func TestTranscriptEveryCommand(t *testing.T) {
	e := newEnv(t, nil)
	m1, m2, m3 := msgText("one", 3), msgText("two", 5), msgText("three", 1)
	u1 := e.deliver(e.alice, m1)
	u2 := e.deliver(e.alice, m2)
	u3 := e.deliver(e.alice, m3)
	mb, _ := e.inbox(e.alice)
	uidl := func(uid uint32) string { return fmt.Sprintf("%08x%08x", mb.UIDValidity, uid) }
	total := len(m1) + len(m2) + len(m3)
	header1 := m1[:strings.Index(m1, "\r\n\r\n")+4]

	c := e.dial()
	c.run([]step{
		// AUTHORIZATION state.
		{send: "CAPA", expect: "+OK", multi: true, lines: []string{
			"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN", "STLS",
			"EXPIRE NEVER", "IMPLEMENTATION Postroom"}},
		{send: "capa", expect: "+OK", multi: true},
		{send: "NOOP", expect: "-ERR log in first"},
		{send: "STAT", expect: "-ERR log in first"},
		{send: "LIST", expect: "-ERR log in first"},
		{send: "LIST 1", expect: "-ERR log in first"},
		{send: "UIDL", expect: "-ERR log in first"},
		{send: "RETR 1", expect: "-ERR log in first"},
		{send: "TOP 1 0", expect: "-ERR log in first"},
		{send: "DELE 1", expect: "-ERR log in first"},
		{send: "RSET", expect: "-ERR log in first"},
		{send: "XYZZY", expect: "-ERR unknown command"},
		{send: "", expect: "-ERR unknown command"},
		{send: "APOP alice@example.test 0123456789abcdef0123456789abcdef", expect: "-ERR APOP is not supported"},
		{send: "PASS secret", expect: "-ERR give USER first"},
		{send: "USER", expect: "-ERR USER needs a name"},
		{send: "USER " + alice, expect: "+OK"},
		{send: "PASS wrong", expect: "-ERR [AUTH] authentication failed"},
		{send: "PASS " + password(alice), expect: "-ERR give USER first"}, // a failed PASS resets USER
		{send: "USER nobody@example.test", expect: "+OK"},                 // unknown users look the same
		{send: "PASS " + password(alice), expect: "-ERR [AUTH] authentication failed"},
		{send: "AUTH", expect: "+OK", multi: true, lines: []string{"PLAIN"}},
		{send: "AUTH CRAM-MD5", expect: "-ERR unsupported SASL mechanism"},
		{send: "USER " + alice, expect: "+OK"},
		{send: "PASS " + password(alice), expect: fmt.Sprintf("+OK %s has 3 messages (%d octets)", alice, total)},

		// TRANSACTION state.
		{send: "CAPA", expect: "+OK", multi: true, lines: []string{
			"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "EXPIRE NEVER", "IMPLEMENTATION Postroom"}},
		{send: "USER " + alice, expect: "-ERR not allowed after login"},
		{send: "PASS x", expect: "-ERR not allowed after login"},
		{send: "AUTH PLAIN", expect: "-ERR not allowed after login"},
		{send: "STLS", expect: "-ERR not allowed after login"},
		{send: "APOP a b", expect: "-ERR not allowed after login"},
		{send: "XYZZY", expect: "-ERR unknown command"},
		{send: "NOOP", expect: "+OK"},
		{send: "NOOP 1", expect: "-ERR NOOP takes no argument"},
		{send: "STAT", expect: fmt.Sprintf("+OK 3 %d", total)},
		{send: "STAT 1", expect: "-ERR"},
		{send: "LIST", expect: "+OK 3 messages", multi: true, lines: []string{
			fmt.Sprintf("1 %d", len(m1)), fmt.Sprintf("2 %d", len(m2)), fmt.Sprintf("3 %d", len(m3))}},
		{send: "LIST 2", expect: fmt.Sprintf("+OK 2 %d", len(m2))},
		{send: "LIST 0", expect: "-ERR no such message"},
		{send: "LIST 4", expect: "-ERR no such message"},
		{send: "LIST 99999999999", expect: "-ERR message number expected"},
		{send: "LIST -1", expect: "-ERR message number expected"},
		{send: "LIST x", expect: "-ERR message number expected"},
		{send: "LIST +1", expect: "-ERR message number expected"},
		{send: "LIST 1 2", expect: "-ERR at most one message number"},
		{send: "LIST  1", expect: "-ERR at most one message number"},
		{send: "UIDL", expect: "+OK", multi: true, lines: []string{
			"1 " + uidl(u1), "2 " + uidl(u2), "3 " + uidl(u3)}},
		{send: "UIDL 3", expect: "+OK 3 " + uidl(u3)},
		{send: "UIDL 9", expect: "-ERR no such message"},
		{send: "RETR 1", expect: fmt.Sprintf("+OK %d octets", len(m1)), multi: true, lines: lines(m1)},
		{send: "retr 2", expect: fmt.Sprintf("+OK %d octets", len(m2)), multi: true, lines: lines(m2)},
		{send: "RETR", expect: "-ERR RETR needs one message number"},
		{send: "RETR 0", expect: "-ERR no such message"},
		{send: "RETR 1 1", expect: "-ERR RETR needs one message number"},
		{send: "RETR one", expect: "-ERR message number expected"},
		{send: "TOP 1 0", expect: "+OK", multi: true, lines: lines(header1)},
		{send: "TOP 1 2", expect: "+OK", multi: true, lines: append(lines(header1), ".leading dot", "line 1")},
		{send: "TOP 3 100", expect: "+OK", multi: true, lines: lines(m3)},
		{send: "TOP 1", expect: "-ERR TOP needs a message number and a line count"},
		{send: "TOP 1 -1", expect: "-ERR line count must be a non-negative number"},
		{send: "TOP 1 x", expect: "-ERR line count must be a non-negative number"},
		{send: "TOP 7 1", expect: "-ERR no such message"},
		{send: "DELE", expect: "-ERR DELE needs one message number"},
		{send: "DELE 5", expect: "-ERR no such message"},
		{send: "DELE 1", expect: "+OK message 1 deleted"},
		{send: "DELE 1", expect: "-ERR message 1 already deleted"},
		{send: "RETR 1", expect: "-ERR message 1 already deleted"},
		{send: "TOP 1 0", expect: "-ERR message 1 already deleted"},
		{send: "LIST 1", expect: "-ERR message 1 already deleted"},
		{send: "UIDL 1", expect: "-ERR message 1 already deleted"},
		{send: "STAT", expect: fmt.Sprintf("+OK 2 %d", len(m2)+len(m3))},
		{send: "LIST", expect: "+OK 2 messages", multi: true, lines: []string{
			fmt.Sprintf("2 %d", len(m2)), fmt.Sprintf("3 %d", len(m3))}},
		{send: "UIDL", expect: "+OK", multi: true, lines: []string{"2 " + uidl(u2), "3 " + uidl(u3)}},
		{send: "RSET x", expect: "-ERR RSET takes no argument"},
		{send: "RSET", expect: fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", total)},
		{send: "STAT", expect: fmt.Sprintf("+OK 3 %d", total)},
		{send: "RETR 1", expect: "+OK", multi: true, lines: lines(m1)},
		{send: "DELE 3", expect: "+OK"},
		{send: "QUIT", expect: "+OK pop.example.test signing off (1 messages deleted)"},
	})
	c.expectClosed()
	e.waitEnded(1)

	_, msgs := e.inbox(e.alice)
	if len(msgs) != 2 || msgs[0].UID != u1 || msgs[1].UID != u2 {
		t.Fatalf("after QUIT INBOX holds %v, want UIDs %d %d", msgs, u1, u2)
	}
	// RETR marked both retrieved messages \Seen and downloaded; the TOP
	// of the whole message 3 counted too but it is gone.
	for _, m := range msgs {
		if m.Flags&storage.FlagSeen == 0 || !m.POPDownloaded.Equal(e.clock.Now()) {
			t.Errorf("message %d: flags %v downloaded %v, want \\Seen at %v", m.UID, m.Flags, m.POPDownloaded, e.clock.Now())
		}
	}

	// QUIT in AUTHORIZATION deletes nothing and says goodbye.
	c = e.dial()
	c.run([]step{{send: "QUIT", expect: "+OK pop.example.test signing off"}})
	c.expectClosed()
}

// TestTopDoesNotMarkPartial: TOP of part of a message is not a download.
func TestTopDoesNotMarkPartial(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, msgText("one", 3))
	c := e.dial()
	c.login(alice)
	c.run([]step{{send: "TOP 1 1", expect: "+OK", multi: true}, {send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)
	_, msgs := e.inbox(e.alice)
	if msgs[0].Flags&storage.FlagSeen != 0 || !msgs[0].POPDownloaded.IsZero() {
		t.Fatalf("TOP 1 1 marked the message: %+v", msgs[0])
	}
}

// TestAuthPlain covers RFC 5034 AUTH PLAIN: initial response, the
// continuation form, "=" (empty), cancel, bad base64 and a foreign
// authorization identity.
func TestAuthPlain(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, msgText("one", 1))
	good := b64("\x00" + alice + "\x00" + password(alice))

	c := e.dial()
	c.run([]step{
		{send: "AUTH PLAIN =", expect: "-ERR malformed PLAIN response"},
		{send: "AUTH PLAIN !!!", expect: "-ERR malformed PLAIN response"},
		{send: "AUTH PLAIN " + b64(alice+"\x00"+password(alice)), expect: "-ERR malformed PLAIN response"},
		{send: "AUTH PLAIN " + b64(bob+"\x00"+alice+"\x00"+password(alice)), expect: "-ERR malformed PLAIN response"},
		{send: "AUTH PLAIN " + b64("\x00"+alice+"\x00wrong"), expect: "-ERR [AUTH] authentication failed"},
		{send: "AUTH PLAIN", expect: "+ "},
		{send: "*", expect: "-ERR authentication cancelled"},
		{send: "AUTH PLAIN", expect: "+ "},
		{send: "not base64", expect: "-ERR malformed PLAIN response"},
		{send: "AUTH plain", expect: "+ "},
		{send: good, expect: "+OK " + alice + " has 1 messages"},
		{send: "STAT", expect: "+OK 1 "},
		{send: "QUIT", expect: "+OK"},
	})
	// The initial-response form, with the authorization identity equal to
	// the login.
	c = e.dial()
	c.run([]step{
		{send: "AUTH PLAIN " + b64(alice+"\x00"+alice+"\x00"+password(alice)), expect: "+OK"},
		{send: "QUIT", expect: "+OK"},
	})
}

// TestPlaintextRefusedBeforeTLS: without the LAN exception, passwords
// travel only under TLS (RFC 2595 section 4, RFC 8314). STLS and implicit
// TLS then log in.
func TestPlaintextRefusedBeforeTLS(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowPlaintextLAN = false })
	e.deliver(e.alice, msgText("one", 1))
	c := e.dial()
	c.run([]step{
		{send: "CAPA", expect: "+OK", multi: true, lines: []string{
			"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "EXPIRE NEVER", "IMPLEMENTATION Postroom"}},
		{send: "USER " + alice, expect: "-ERR [AUTH] log in over TLS"},
		{send: "PASS " + password(alice), expect: "-ERR [AUTH] log in over TLS"},
		{send: "AUTH PLAIN " + b64("\x00"+alice+"\x00"+password(alice)), expect: "-ERR [AUTH] log in over TLS"},
		{send: "AUTH", expect: "+OK", multi: true, lines: []string{}},
		{send: "STLS x", expect: "-ERR STLS takes no argument"},
	})
	c.startTLS()
	c.run([]step{
		{send: "CAPA", expect: "+OK", multi: true, lines: []string{
			"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN", "EXPIRE NEVER", "IMPLEMENTATION Postroom"}},
		{send: "STLS", expect: "-ERR TLS is on already"},
		{send: "USER " + alice, expect: "+OK"},
		{send: "PASS " + password(alice), expect: "+OK"},
		{send: "QUIT", expect: "+OK"},
	})

	c = e.dialTLS()
	c.run([]step{
		{send: "CAPA", expect: "+OK", multi: true, lines: []string{
			"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN", "EXPIRE NEVER", "IMPLEMENTATION Postroom"}},
		{send: "STLS", expect: "-ERR TLS is on already"},
		{send: "AUTH PLAIN " + b64("\x00"+alice+"\x00"+password(alice)), expect: "+OK"},
		{send: "QUIT", expect: "+OK"},
	})
}

// TestSTLSDropsPipelinedPlaintext: commands sent in the clear together
// with STLS could come from an attacker; they are discarded.
func TestSTLSDropsPipelinedPlaintext(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowPlaintextLAN = false })
	c := e.dial()
	c.send("STLS\r\nUSER " + alice + "\r\n")
	if r := c.line(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("STLS: %q", r)
	}
	c.conn = clientTLS(t, c.conn)
	c.br.Reset(c.conn)
	c.run([]step{{send: "PASS " + password(alice), expect: "-ERR give USER first"}})
	if !strings.Contains(e.logs.String(), "discarded plaintext sent after STLS") {
		t.Fatalf("not logged")
	}
}

// TestNoTLSConfigured: without a certificate there is no STLS and
// ServeTLS refuses to start.
func TestNoTLSConfigured(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TLSConfig = nil })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.ServeTLS(l); err == nil || !strings.Contains(err.Error(), "needs Options.TLSConfig") {
		t.Fatalf("ServeTLS without TLSConfig: %v", err)
	}
	c := e.dial()
	c.run([]step{
		{send: "STLS", expect: "-ERR TLS is not available"},
		{send: "CAPA", expect: "+OK", multi: true, lines: []string{
			"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN", "EXPIRE NEVER", "IMPLEMENTATION Postroom"}},
	})
}

// TestBadInput: overlong lines are drained and answered, NUL bytes refused,
// the session survives both; a line without end is cut off.
func TestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, msgText("one", 1))
	c := e.dial()
	c.send(strings.Repeat("A", 5000) + "\r\n")
	if r := c.line(); r != "-ERR line too long" {
		t.Fatalf("overlong: %q", r)
	}
	c.send("NO\x00OP\r\n")
	if r := c.line(); r != "-ERR NUL byte in command" {
		t.Fatalf("NUL: %q", r)
	}
	c.login(alice)
	c.send("LIST " + strings.Repeat("1", 2000) + "\r\n")
	if r := c.line(); r != "-ERR line too long" {
		t.Fatalf("overlong: %q", r)
	}
	c.run([]step{{send: "STAT", expect: "+OK 1 "}, {send: "LIST " + strings.Repeat("1", 41), expect: "-ERR at most one"}})
	// A line of 100 KB without end is not drained forever.
	c.send(strings.Repeat("B", 100<<10))
	if r := c.line(); r != "-ERR line far too long; disconnecting" {
		t.Fatalf("flood: %q", r)
	}
	c.expectClosed()
	e.waitEnded(1)
	if _, msgs := e.inbox(e.alice); len(msgs) != 1 {
		t.Fatalf("messages: %d", len(msgs))
	}
}

// TestPipelinedBurst: commands sent in one write are answered in order
// (RFC 2449 section 6.6), including one whose reply is many lines.
func TestPipelinedBurst(t *testing.T) {
	e := newEnv(t, nil)
	m := msgText("one", 2)
	e.deliver(e.alice, m)
	c := e.dial()
	c.send("USER " + alice + "\r\nPASS " + password(alice) + "\r\nSTAT\r\nRETR 1\r\nLIST 9\r\nDELE 1\r\nRSET\r\nNOOP\r\nQUIT\r\n")
	want := []string{"+OK send PASS", "+OK " + alice, "+OK 1 "}
	for _, w := range want {
		if r := c.line(); !strings.HasPrefix(r, w) {
			t.Fatalf("got %q, want %q", r, w)
		}
	}
	if r := c.line(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("RETR: %q", r)
	}
	if got := c.multi(); !slices.Equal(got, lines(m)) {
		t.Fatalf("RETR body %q", got)
	}
	for _, w := range []string{"-ERR no such message", "+OK message 1 deleted", "+OK maildrop has 1", "+OK", "+OK pop.example.test signing off (0 messages deleted)"} {
		if r := c.line(); !strings.HasPrefix(r, w) {
			t.Fatalf("got %q, want %q", r, w)
		}
	}
	c.expectClosed()
}

// TestStrikesDisconnect: a client that keeps sending garbage before login
// is disconnected (authguard.Strike).
func TestStrikesDisconnect(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Guard = authguard.New(authguard.Options{MaxStrikes: 3, FailureDelay: time.Millisecond})
	})
	c := e.dial()
	c.cmd("X")
	c.cmd("Y")
	if r := c.cmd("Z"); r != "-ERR unknown command" {
		t.Fatalf("%q", r)
	}
	if r := c.line(); r != "-ERR too many errors" {
		t.Fatalf("%q", r)
	}
	c.expectClosed()
}

// TestLockout: after too many failures the Guard locks the account and the
// reply says [LOGIN-DELAY], not [AUTH], so the client does not ask for a
// new password.
func TestLockout(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Guard = authguard.New(authguard.Options{MaxFailures: 2, FailureDelay: time.Millisecond})
	})
	c := e.dial()
	c.run([]step{
		{send: "USER " + alice, expect: "+OK"}, {send: "PASS a", expect: "-ERR [AUTH]"},
		{send: "USER " + alice, expect: "+OK"}, {send: "PASS b", expect: "-ERR [AUTH]"},
		{send: "USER " + alice, expect: "+OK"},
		{send: "PASS " + password(alice), expect: "-ERR [LOGIN-DELAY] too many failed logins"},
	})
	if strings.Contains(e.logs.String(), password(alice)) {
		t.Fatal("a password reached the log")
	}
}

// TestInUse: a second POP3 session on the same account gets [IN-USE]
// (RFC 2449 section 8.1.2) until the first ends, by QUIT or by a dropped
// connection; other accounts are not affected.
func TestInUse(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, msgText("one", 1))
	c1 := e.dial()
	c1.login(alice)
	c2 := e.dial()
	c2.run([]step{
		{send: "USER " + alice, expect: "+OK"},
		{send: "PASS " + password(alice), expect: "-ERR [IN-USE] maildrop in use"},
		{send: "AUTH PLAIN " + b64("\x00"+alice+"\x00"+password(alice)), expect: "-ERR [IN-USE]"},
	})
	c3 := e.dial()
	c3.login(bob)
	c1.run([]step{{send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)
	c2.login(alice)
	// Dropping the connection releases the lock too.
	c2.conn.Close()
	e.waitEnded(1)
	c4 := e.dial()
	c4.login(alice)
}

// TestDroppedConnectionDeletesNothing: DELE without QUIT (RFC 1939
// section 6) leaves every message in place.
func TestDroppedConnectionDeletesNothing(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 3 {
		e.deliver(e.alice, msgText(fmt.Sprint("m", i), 1))
	}
	c := e.dial()
	c.login(alice)
	c.run([]step{{send: "DELE 1", expect: "+OK"}, {send: "DELE 2", expect: "+OK"}, {send: "DELE 3", expect: "+OK"}})
	c.conn.Close()
	e.waitEnded(1)
	if _, msgs := e.inbox(e.alice); len(msgs) != 3 {
		t.Fatalf("%d messages left, want 3", len(msgs))
	}
}

// TestIMAPExpungeDuringSession: a message expunged elsewhere (as IMAP
// does, through st.Expunge) stays retrievable from the snapshot, and QUIT
// skips it while deleting the others.
func TestIMAPExpungeDuringSession(t *testing.T) {
	e := newEnv(t, nil)
	m1, m2, m3 := msgText("one", 1), msgText("two", 20), msgText("three", 1)
	u1, u2, u3 := e.deliver(e.alice, m1), e.deliver(e.alice, m2), e.deliver(e.alice, m3)
	mb, _ := e.inbox(e.alice)
	c := e.dial()
	c.login(alice)
	if gone, err := e.st.Expunge(e.alice.ID, mb.ID, []uint32{u2}); err != nil || len(gone) != 1 {
		t.Fatalf("expunge: %v %v", gone, err)
	}
	// Make sure the eraser had every chance: another expunge kicks it.
	c.run([]step{
		{send: "STAT", expect: "+OK 3 "},
		{send: "RETR 2", expect: fmt.Sprintf("+OK %d octets", len(m2)), multi: true, lines: lines(m2)},
		{send: "TOP 2 3", expect: "+OK", multi: true},
		{send: "DELE 1", expect: "+OK"},
		{send: "DELE 2", expect: "+OK"},
		{send: "QUIT", expect: "+OK pop.example.test signing off (1 messages deleted)"},
	})
	e.waitEnded(1)
	_, msgs := e.inbox(e.alice)
	if len(msgs) != 1 || msgs[0].UID != u3 {
		t.Fatalf("left %v, want only %d (u1 %d)", msgs, u3, u1)
	}
	if !strings.Contains(e.logs.String(), "already_gone=1") {
		t.Fatalf("QUIT did not log the message already gone")
	}
}

// TestShutdownDrains: an idle session is told [SYS/TEMP] and closed
// without deleting what it marked; Serve returns ErrServerClosed.
func TestShutdownDrains(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, msgText("one", 1))
	c := e.dial()
	c.login(alice)
	c.run([]step{{send: "DELE 1", expect: "+OK"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if r := c.line(); r != "-ERR [SYS/TEMP] server shutting down, try again later" {
		t.Fatalf("got %q", r)
	}
	c.expectClosed()
	if _, msgs := e.inbox(e.alice); len(msgs) != 1 {
		t.Fatalf("shutdown deleted: %d left", len(msgs))
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Fatalf("still accepting after Shutdown")
	}
}

// TestMaxConnections: the connection over the limit gets [SYS/TEMP].
func TestMaxConnections(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConnections = 1 })
	c1 := e.dial()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c2 := &client{t: t, conn: conn, br: newReader(conn)}
	if r := c2.line(); r != "-ERR [SYS/TEMP] too many connections, try again later" {
		t.Fatalf("got %q", r)
	}
	c1.run([]step{{send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)
	e.dial()
}

// TestMaxConnectionsPerIP: one address cannot take every slot; another
// address still gets in, and a slot frees when a session ends.
func TestMaxConnectionsPerIP(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConnectionsPerIP = 2 })
	c1 := e.dial()
	e.dial() // a second session from the same address, left open
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c3 := &client{t: t, conn: conn, br: newReader(conn)}
	if r := c3.line(); r != "-ERR [SYS/TEMP] too many connections from your address, try again later" {
		t.Fatalf("third connection from 127.0.0.1: %q", r)
	}
	// The same limit does not apply to another address: 127.0.0.2 is
	// loopback too on Linux.
	if other, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, mustTCPAddr(t, e.addr)); err == nil {
		oc := &client{t: t, conn: other, br: newReader(other)}
		if r := oc.line(); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("another address: %q", r)
		}
		other.Close()
	} else {
		t.Logf("no second loopback address here (%v); skipping that part", err)
	}
	c1.run([]step{{send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)
	e.dial()
}

func mustTCPAddr(t *testing.T, addr string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAutologout: the idle timer ends a session without UPDATE (RFC 1939
// section 3). New refuses less than 10 minutes, so the test shortens it
// afterwards.
func TestAutologout(t *testing.T) {
	if _, err := New(Options{Store: newEnv(t, nil).st, IdleTimeout: time.Minute}); err == nil {
		t.Fatal("New accepted an idle timeout under 10 minutes")
	}
	defer func(old time.Duration) { minIdleTimeout = old }(minIdleTimeout)
	minIdleTimeout = 0
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 50 * time.Millisecond })
	e.deliver(e.alice, msgText("one", 1))
	c := e.dial()
	c.send("USER " + alice + "\r\nPASS " + password(alice) + "\r\nDELE 1\r\n")
	for range 3 {
		c.line()
	}
	if r := c.line(); r != "-ERR autologout: idle for too long" {
		t.Fatalf("got %q", r)
	}
	c.expectClosed()
	e.waitEnded(1)
	if _, msgs := e.inbox(e.alice); len(msgs) != 1 {
		t.Fatal("autologout deleted")
	}
}

// TestUIDLStable: the unique-id of a message does not change between
// sessions or when other messages are deleted.
func TestUIDLStable(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 3 {
		e.deliver(e.alice, msgText(fmt.Sprint("m", i), 1))
	}
	c := e.dial()
	c.login(alice)
	c.run([]step{{send: "UIDL", expect: "+OK"}})
	first := c.multi()
	c.run([]step{{send: "DELE 1", expect: "+OK"}, {send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)
	c = e.dial()
	c.login(alice)
	c.run([]step{{send: "UIDL", expect: "+OK"}})
	second := c.multi()
	if len(second) != 2 || second[0][2:] != first[1][2:] || second[1][2:] != first[2][2:] {
		t.Fatalf("UIDL changed:\n%q\n%q", first, second)
	}
	if len(second[0]) != 2+16 {
		t.Fatalf("UIDL not fixed width: %q", second[0])
	}
}
