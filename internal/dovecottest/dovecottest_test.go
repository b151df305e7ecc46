package dovecottest

import (
	"testing"

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
