package imapd

import (
	"fmt"
	"testing"
)

// TestQResyncAfterPrune: after the store pruned its expunge tombstones
// (storage.PruneTombstones, RFC 7162 3.2.5.1's case of a server that no
// longer remembers old expunges), a client resynchronising from a MODSEQ
// below the floor still gets exactly what vanished: the engine computes
// VANISHED from the mailbox's UIDs, not from tombstones.
func TestQResyncAfterPrune(t *testing.T) {
	e := newEnv(t, nil)
	for i := 1; i <= 6; i++ {
		e.deliver(e.alice, "", testMessage(i))
	}
	inbox, err := e.st.Mailbox(e.alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	old := inbox.HighestModSeq
	for _, u := range []uint32{2, 3, 5} {
		if _, err := e.st.Expunge(e.alice.ID, inbox.ID, []uint32{u}); err != nil {
			t.Fatal(err)
		}
	}
	floor, pruned, err := e.st.PruneTombstones(e.alice.ID, inbox.ID, 1)
	if err != nil || pruned != 2 || floor <= old {
		t.Fatalf("prune: floor %d (client's MODSEQ %d), %d pruned, %v; want 2 pruned, floor above", floor, old, pruned, err)
	}
	rc := e.rawLogin(alice)
	rc.run([]step{
		{"a ENABLE QRESYNC", []string{`^\* ENABLED CONDSTORE QRESYNC`, `^a OK`}, nil},
		{fmt.Sprintf("b SELECT INBOX (QRESYNC (%d %d))", inbox.UIDValidity, old),
			[]string{`^\* 3 EXISTS`, `^\* VANISHED \(EARLIER\) 2:3,5$`, `^b OK`}, []string{`FETCH`}},
		// RFC 7162 3.2.6: UID FETCH ... (CHANGEDSINCE VANISHED) from
		// below the floor too.
		{fmt.Sprintf("c UID FETCH 1:6 (FLAGS) (CHANGEDSINCE %d VANISHED)", old),
			[]string{`^\* VANISHED \(EARLIER\) 2:3,5$`, `^c OK`}, []string{`FETCH \(`}},
		// From the floor itself: only the UIDs the client names.
		{fmt.Sprintf("d UID FETCH 4:6 (FLAGS) (CHANGEDSINCE %d VANISHED)", floor),
			[]string{`^\* VANISHED \(EARLIER\) 5$`, `^d OK`}, nil},
	})
}
