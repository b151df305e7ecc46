package imapd

import "testing"

// TestRecentAcrossReconnects: \Recent (RFC 3501 2.3.2) belongs to the
// first read-write session told of a message, whatever connection it is
// on: after that session logs out, the next one sees the message without
// \Recent; EXAMINE sees it but leaves it for the next SELECT; a message
// that arrives while no client has the mailbox open is recent to the next
// session that selects it.
func TestRecentAcrossReconnects(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, "", testMessage(1))
	session := func(steps ...step) {
		t.Helper()
		rc := e.rawLogin(alice)
		rc.run(append(steps, step{send: "z LOGOUT", want: []string{`^\* BYE`, `^z OK`}}))
	}
	// The first SELECT since the server started takes what was there.
	session(step{send: "a SELECT INBOX", want: []string{`^\* 1 EXISTS`, `^\* 0 RECENT`, `^a OK`}})
	e.deliver(e.alice, "", testMessage(2)) // nobody has INBOX open
	session(
		step{send: "a EXAMINE INBOX", want: []string{`^\* 2 EXISTS`, `^\* 1 RECENT`, `^a OK \[READ-ONLY\]`}},
		step{send: "b FETCH 2 FLAGS", want: []string{`^\* 2 FETCH \(FLAGS \(\\Recent\)\)`, `^b OK`}},
	)
	session(
		step{send: "a STATUS INBOX (RECENT)", want: []string{`^\* STATUS INBOX \(RECENT 1\)`, `^a OK`}},
		step{send: "b SELECT INBOX", want: []string{`^\* 2 EXISTS`, `^\* 1 RECENT`, `^b OK \[READ-WRITE\]`}},
		step{send: "c SEARCH RECENT", want: []string{`^\* SEARCH 2$`, `^c OK`}},
	)
	session(
		step{send: "a SELECT INBOX", want: []string{`^\* 2 EXISTS`, `^\* 0 RECENT`, `^a OK`}},
		step{send: "b FETCH 1:2 FLAGS", want: []string{`^\* 1 FETCH \(FLAGS \(\)\)`, `^\* 2 FETCH \(FLAGS \(\)\)`, `^b OK`}},
		step{send: "c STATUS INBOX (RECENT)", want: []string{`^\* STATUS INBOX \(RECENT 0\)`, `^c OK`}},
	)
}
