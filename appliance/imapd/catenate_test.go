package imapd

import (
	"fmt"
	"testing"
)

// TestCatenateUIDValidity: RFC 4469's URLs carry the mailbox's
// UIDVALIDITY; the right one is followed, a stale one is NO [BADURL]
// (RFC 5092 6: the message it named may not be this one), and a URL
// into another user's mailbox names nothing this session can read.
func TestCatenateUIDValidity(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, "", "Subject: one\r\n\r\nbody\r\n")
	e.deliver(e.bob, "", "Subject: bob's\r\n\r\nsecret\r\n")
	mb, err := e.st.Mailbox(e.alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	bmb, err := e.st.Mailbox(e.bob.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	rc := e.rawLogin(alice)
	rc.run([]step{
		{fmt.Sprintf(`a APPEND Drafts CATENATE (URL "/INBOX;UIDVALIDITY=%d/;UID=1/;SECTION=TEXT" TEXT {6+}`+"\r\nmore\r\n)", mb.UIDValidity),
			[]string{`^a OK \[APPENDUID \d+ 1\]`}, nil},
		{"b EXAMINE Drafts", []string{`^\* 1 EXISTS`, `^b OK`}, nil},
		{"c FETCH 1 BODY.PEEK[]", []string{`^\* 1 FETCH \(BODY\[\] \{12\}$`, `^body$`, `^more$`, `^c OK`}, nil},
		{fmt.Sprintf(`d APPEND Drafts CATENATE (URL "/INBOX;UIDVALIDITY=%d/;UID=1")`, mb.UIDValidity+1), []string{`^d NO \[BADURL /INBOX;UIDVALIDITY=\d+/;UID=1\]`}, nil},
		{fmt.Sprintf(`e APPEND Drafts CATENATE (URL "/INBOX;UIDVALIDITY=%d/;UID=2")`, bmb.UIDValidity), []string{`^e NO \[BADURL `}, nil},
		{"f NOOP", []string{`^f OK`}, []string{`EXISTS`}},
	})
}

// TestMultiappendOverQuota: RFC 3502 3, a MULTIAPPEND whose third message
// would take the account over its quota stores none of the three.
func TestMultiappendOverQuota(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.SetQuota(alice, 70); err != nil {
		t.Fatal(err)
	}
	rc := e.rawLogin(alice)
	msg := "Subject: quota test\r\n\r\n12345\r\n" // 30 octets
	rc.run([]step{
		{"a APPEND INBOX {30+}\r\n" + msg + " {30+}\r\n" + msg + " {30+}\r\n" + msg, []string{`^a NO \[OVERQUOTA\]`}, nil},
		{"b STATUS INBOX (MESSAGES)", []string{`^\* STATUS INBOX \(MESSAGES 0\)`, `^b OK`}, nil},
		{"c APPEND INBOX {30+}\r\n" + msg + " {30+}\r\n" + msg, []string{`^c OK \[APPENDUID \d+ \d+:\d+\]`}, nil},
		{"d STATUS INBOX (MESSAGES)", []string{`^\* STATUS INBOX \(MESSAGES 2\)`, `^d OK`}, nil},
	})
}
