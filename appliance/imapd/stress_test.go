package imapd

import (
	"context"
	"strings"
	"testing"
	"time"

	"postroom/internal/imapstress"
)

// TestStress runs the IMAP stress tool (internal/imapstress, validated
// against Dovecot there) against the real server over a real Badger store
// for a few seconds: clients sharing one mailbox, then a mailbox each,
// every command of the mix, and no error allowed (issue #11). Run with
// -race it also looks for data races under that load; storagetest's
// Check at cleanup recounts the store afterwards.
func TestStress(t *testing.T) {
	t.Skip(knownStressFailures)
	for _, shared := range []bool{true, false} {
		name := "separate"
		if shared {
			name = "shared"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			res, err := imapstress.Run(context.Background(), imapstress.Options{
				Addr: e.addr, User: alice, Password: "password-" + alice,
				Clients: 6, Shared: shared, Duration: 3 * time.Second, Commands: 20000, Seed: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			res.Report(&b)
			if res.ErrorCount() != 0 {
				res.ReportKinds(&b)
				t.Errorf("errors under stress:\n%s", b.String())
			} else {
				t.Log(b.String())
			}
		})
	}
}

// knownStressFailures is what today's server (on go-imap's imapserver)
// does wrong under the mix, each seen in a run of this test on 6 December
// 2026; the new protocol engine (issue #11) removes the skip when it passes.
const knownStressFailures = "known failures under concurrent expunges and keywords, for the new engine (issue #11): " +
	"FETCH and STORE of a message another session expunged answer NO [EXPUNGEISSUED]; " +
	"UID FETCH leaves such a message out without a word (inconsistent: fetch-missing); " +
	"SEARCH ALL leaves such messages out (inconsistent: search-missing); " +
	"EXPUNGE and UID EXPUNGE complete with such a \\Deleted message still in the view (inconsistent: expunge-left-deleted); " +
	"a new keyword reaches FETCH FLAGS before any FLAGS response announces it (inconsistent: keyword-not-announced)"
