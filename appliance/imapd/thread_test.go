package imapd

import (
	"fmt"
	"testing"
)

// threadMail is a message for the THREAD=REFERENCES transcripts: id is
// its Message-ID, hdr extra header lines, day its sent day in Jan 2026.
func threadMail(id, subject, hdr string, day, hour int) string {
	m := fmt.Sprintf("Subject: %s\r\nDate: %d Jan 2026 %02d:00:00 +0000\r\n", subject, day, hour)
	if id != "" {
		m += "Message-ID: <" + id + ">\r\n"
	}
	return m + hdr + "\r\nbody\r\n"
}

// threadTranscripts are RFC 5256 4 (THREAD=REFERENCES) cases: a chain of
// replies, In-Reply-To without References, a missing parent (a dummy, as
// root and inside a thread), duplicate Message-IDs, loops in References,
// and roots merged by base subject.
var threadTranscripts = []transcript{{
	name:  "THREAD REFERENCES",
	login: true,
	setup: func(e *testEnv) {
		for _, m := range []string{
			// 1-4: a chain; 4 answers 1 by In-Reply-To only.
			threadMail("a@x", "chain", "", 1, 0),
			threadMail("b@x", "Re: chain", "References: <a@x>\r\n", 2, 0),
			threadMail("c@x", "Re: chain", "References: <a@x>\r\n <b@x>\r\n", 3, 0),
			threadMail("d@x", "Re: chain", "In-Reply-To: <a@x>\r\n", 2, 12),
			// 5-6: two answers to a message not here: a dummy root.
			threadMail("e@x", "lost", "References: <missing@x>\r\n", 5, 0),
			threadMail("f@x", "Re: lost", "References: <missing@x>\r\n", 6, 0),
			// 7: one answer to a missing message: no dummy left.
			threadMail("g@x", "alone", "References: <missing2@x>\r\n", 7, 0),
			// 8-10: 9 repeats 8's Message-ID; 10 answers that id.
			threadMail("dup@x", "dupe", "", 8, 0),
			threadMail("dup@x", "other", "", 9, 0),
			threadMail("h@x", "Re: dupe", "References: <dup@x>\r\n", 10, 0),
			// 11-13: References that loop, and one naming itself.
			threadMail("l1@x", "loop", "References: <l2@x>\r\n", 11, 0),
			threadMail("l2@x", "Re: loop", "References: <l1@x>\r\n", 12, 0),
			threadMail("self@x", "selfish", "References: <self@x>\r\n", 13, 0),
			// 14-15: no references, a reply by subject: a child.
			threadMail("m1@x", "merge", "", 14, 0),
			threadMail("m2@x", "Re: merge", "", 15, 0),
			// 16-17: same subject, neither a reply: siblings under a dummy.
			threadMail("n1@x", "both", "", 16, 0),
			threadMail("", "[list] both", "", 17, 0),
		} {
			e.deliver(e.alice, "", m)
		}
	},
	steps: []step{
		{"s SELECT INBOX", []string{`^s OK`}, nil},
		{"a THREAD REFERENCES UTF-8 ALL", []string{
			`^\* THREAD \(1 \(2 3\)\(4\)\)\(\(5\)\(6\)\)\(7\)\(8 10\)\(9\)\(12 11\)\(13\)\(14 15\)\(\(16\)\(17\)\)$`, `^a OK`}, nil},
		// Without 2, 3's parent is a dummy inside the thread: 3 moves
		// up to be 1's child, after 4 by date.
		{"b THREAD REFERENCES UTF-8 NOT 2 SUBJECT chain", []string{`^\* THREAD \(1 \(4\)\(3\)\)$`, `^b OK`}, nil},
		{"c UID THREAD REFERENCES US-ASCII SUBJECT lost", []string{`^\* THREAD \(\(5\)\(6\)\)$`, `^c OK`}, nil},
		// Without their root, 2 and 4 are roots merged by subject: 4
		// (a reply, like 2) joins 2 under a dummy; 3 stays 2's child.
		{"d THREAD REFERENCES UTF-8 NOT 1 SUBJECT chain", []string{`^\* THREAD \(\(2 3\)\(4\)\)$`, `^d OK`}, nil},
		{"e THREAD REFERENCES UTF-8 SUBJECT nothing-matches", []string{`^\* THREAD$`, `^e OK`}, nil},
		{"f THREAD REFERENCES KOI8-R ALL", []string{`^f NO \[BADCHARSET`}, nil},
		{"g THREAD BOGUS UTF-8 ALL", []string{`^g BAD`}, nil},
	},
}}

func TestThreadTranscripts(t *testing.T) {
	for _, tr := range threadTranscripts {
		t.Run(tr.name, func(t *testing.T) {
			e := newEnv(t, tr.tweak)
			tr.setup(e)
			rc := e.raw()
			rc.do(step{send: "L LOGIN alice@example.test password-alice@example.test", want: []string{`^L OK`}})
			rc.run(tr.steps)
		})
	}
}
