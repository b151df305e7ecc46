package smtpd

import "testing"

// TestPostmaster: postmaster (RFC 5321 4.5.1, any case, with any of our
// domains or none at all) and abuse (RFC 2142) reach the administrator;
// the same names in a domain that is not ours are still a relay refusal;
// an alias of that name made by the office wins.
func TestPostmaster(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.SetAdmin(bob, true); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: report\r\n\r\nDMARC aggregate report\r\n"
	e.transcript(
		s("MAIL FROM:<reports@remote.test>", "250 "),
		s("RCPT TO:<PostMaster@EXAMPLE.test>", "250 2.0.0"),
		s("RCPT TO:<abuse@example.test>", "250 2.0.0"),
		s("RCPT TO:<Postmaster>", "250 2.0.0"),
		s("RCPT TO:<postmaster@elsewhere.test>", "554 5.7.1"),
		s("RCPT TO:<webmaster@example.test>", "550 5.1.1"),
		s("RCPT TO:<abuse>", "501 "), // only postmaster may leave out the domain
		s("DATA", "354 "),
		raw(msg+".\r\n", "250 "),
		s("QUIT", "221 "),
	)
	// Three accepted addresses of one account: one copy.
	e.wantOne(bob, []byte(msg))
	if n := len(e.inbox(alice)); n != 0 {
		t.Errorf("alice got %d messages", n)
	}

	// The office points postmaster@example.test at alice.
	if err := e.st.AddAddress(alice, "postmaster@example.test"); err != nil {
		t.Fatal(err)
	}
	e.transcript(mailSteps("<reports@remote.test>", "<postmaster@example.test>", msg))
	e.wantOne(alice, []byte(msg))
	e.transcript(mailSteps("<reports@remote.test>", "<postmaster>", msg))
	if n := len(e.inbox(bob)); n != 2 {
		t.Errorf("the bare postmaster: bob has %d messages; want 2", n)
	}
}
