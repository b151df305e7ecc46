package imapd

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestConditionalStoreRace: two sessions read a message's MODSEQ and both
// send STORE (UNCHANGEDSINCE that MODSEQ) at once, each adding a keyword
// of its own (RFC 7162 3.1.3). Exactly one of them may win each round; the
// other is answered OK [MODIFIED 1]. Storage compares the MODSEQ in the
// writing transaction, so this holds on any schedule; a comparison before
// the write let both win when their commands interleaved.
func TestConditionalStoreRace(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, "", testMessage(1))
	a, b := e.rawLogin(alice), e.rawLogin(alice)
	for _, rc := range []*rawConn{a, b} {
		rc.do(step{send: "s SELECT INBOX (CONDSTORE)", want: []string{`^s OK`}})
	}
	modseqRx := regexp.MustCompile(`MODSEQ \((\d+)\)`)
	for round := range 20 {
		lines := a.do(step{send: "m UID FETCH 1 (MODSEQ)", want: []string{`^\* 1 FETCH \(.*MODSEQ \(\d+\)`, `^m OK`}})
		var modseq string
		for _, l := range lines {
			if m := modseqRx.FindStringSubmatch(l); m != nil {
				modseq = m[1]
			}
		}
		b.do(step{send: "n NOOP", want: []string{`^n OK`}}) // b has heard of every change before
		// Both commands are on the wire before either answer is read.
		a.send(fmt.Sprintf("x%d UID STORE 1 (UNCHANGEDSINCE %s) +FLAGS.SILENT ($a%d)\r\n", round, modseq, round))
		b.send(fmt.Sprintf("y%d UID STORE 1 (UNCHANGEDSINCE %s) +FLAGS.SILENT ($b%d)\r\n", round, modseq, round))
		ra := a.until(fmt.Sprintf(`^x%d (OK|NO|BAD)`, round))
		rb := b.until(fmt.Sprintf(`^y%d (OK|NO|BAD)`, round))
		la, lb := ra[len(ra)-1], rb[len(rb)-1]
		if !strings.Contains(la, " OK") || !strings.Contains(lb, " OK") {
			t.Fatalf("round %d: %q / %q", round, la, lb)
		}
		modA, modB := strings.Contains(la, "[MODIFIED 1]"), strings.Contains(lb, "[MODIFIED 1]")
		if modA == modB {
			t.Fatalf("round %d: want exactly one MODIFIED; got %q and %q", round, la, lb)
		}
	}
}
