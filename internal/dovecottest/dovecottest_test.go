package dovecottest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// TestStart logs in over IMAPS and sees the special-use folders the
// configuration makes.
func TestStart(t *testing.T) {
	s := Start(t, User{"old@example.net", "secret 1"})
	c, err := imapclient.DialTLS(s.IMAPS, &imapclient.Options{TLSConfig: s.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("old@example.net", "secret 1").Wait(); err != nil {
		t.Fatalf("login: %v\n%s", err, s.Log())
	}
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, b := range boxes {
		names[b.Mailbox] = true
	}
	for _, want := range []string{"INBOX", "Sent", "Drafts", "Trash", "Junk"} {
		if !names[want] {
			t.Errorf("no %s in %v", want, names)
		}
	}
}

// TestFreePortsBelowEphemeral: the ports picked for an instance are free
// and below the kernel's ephemeral range, where no outgoing connection of
// another test can take one before Dovecot binds it.
func TestFreePortsBelowEphemeral(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for _, p := range freePorts(t, 4) {
		if low > 21000 && (p < 20000 || p >= low) {
			t.Errorf("port %d outside 20000-%d", p, low-1)
		}
		if seen[p] {
			t.Errorf("port %d twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", addr(p))
		if err != nil {
			t.Errorf("port %d not free: %v", p, err)
			continue
		}
		l.Close()
	}
}

// TestWaitGreetingRefusesAStranger: a server that took one of the
// instance's ports is not taken for Dovecot: its greeting lacks the
// instance's, and once Dovecot has exited (it could not bind) the wait
// ends with an error naming what answered.
func TestWaitGreetingRefusesAStranger(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("* OK someone else\r\n"))
			c.Close()
		}
	}()
	exited := make(chan struct{})
	close(exited)
	err = waitGreeting(l.Addr().String(), false, "dovecottest 7 ready", exited, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "someone else") {
		t.Fatalf("waitGreeting = %v, want an error naming the stranger's greeting", err)
	}
	alive := make(chan struct{})
	if err := waitGreeting(l.Addr().String(), false, "someone else", alive, time.Minute); err != nil {
		t.Fatalf("the right greeting: %v", err)
	}
}
