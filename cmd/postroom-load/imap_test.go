package main

import (
	"strings"
	"testing"
	"time"

	"postroom/internal/dovecottest"
)

// `postroom-load imap` runs the stress mix to its command cap against a
// private Dovecot (internal/imapstress validates the mix there) and
// succeeds; bad flags are refused before anything is sent.
func TestIMAP(t *testing.T) {
	d := dovecottest.StartWith(t, dovecottest.Options{MailLocation: "mdbox:~/mdbox"},
		dovecottest.User{Name: "load@example.test", Password: "load secret"})
	t.Setenv("POSTROOM_LOAD_PASSWORD", "load secret")
	start := time.Now()
	if err := run([]string{"imap", "-imap", d.IMAP, "-user", "load@example.test", "-c", "3", "-shared",
		"-n", "300", "-duration", "2m", "-weights", "logout=3,idle=0"}); err != nil {
		t.Fatalf("%v\n%s", err, d.Log())
	}
	if el := time.Since(start); el > time.Minute {
		t.Errorf("300 commands took %v: -n did not stop the run", el)
	}
	for _, args := range [][]string{
		{"imap", "-imap", "10.0.0.1:143"},
		{"imap", "-imap", d.IMAP, "-c", "0"},
		{"imap", "-imap", d.IMAP, "-duration", "2h"},
		{"imap", "-imap", d.IMAP, "-weights", "nosuch=1"},
		{"imap", "-imap", d.IMAP, "-weights", "idle=-1"},
	} {
		if err := run(args); err == nil {
			t.Errorf("%s: accepted", strings.Join(args, " "))
		}
	}
	// A wrong password fails the run before the clients start.
	t.Setenv("POSTROOM_LOAD_PASSWORD", "wrong")
	if err := run([]string{"imap", "-imap", d.IMAP, "-user", "load@example.test", "-n", "10"}); err == nil {
		t.Error("a run with a wrong password succeeded")
	}
}
