package imapd

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/storage"
)

// pushes records a client's unsolicited responses as lines such as
// "EXISTS 3", "EXPUNGE 1", "FETCH 2 \Flagged".
type pushes struct{ ch chan string }

func newPushes() *pushes { return &pushes{ch: make(chan string, 1000)} }

func (p *pushes) handler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { p.ch <- fmt.Sprintf("EXPUNGE %d", seq) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				p.ch <- fmt.Sprintf("EXISTS %d", *d.NumMessages)
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err != nil {
				p.ch <- "FETCH error " + err.Error()
				return
			}
			p.ch <- fmt.Sprintf("FETCH %d %s", buf.SeqNum, strings.Join(storedFlags(buf.Flags), " "))
		},
	}
}

// expect waits for the next pushed response and checks it. The bound only
// turns a hang into a failure; nothing is timed.
func (p *pushes) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-p.ch:
		if got != want {
			t.Fatalf("pushed %q, want %q", got, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("nothing pushed, want %q", want)
	}
}

func (p *pushes) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-p.ch:
		t.Fatalf("unexpected push %q", got)
	default:
	}
}

// storedFlags is flags without \Recent, which the server adds for
// IMAP4rev1 clients (RFC 3501 2.3.2) and storage does not keep.
func storedFlags(flags []imap.Flag) []string {
	var out []string
	for _, f := range flags {
		if f != `\Recent` {
			out = append(out, string(f))
		}
	}
	return out
}

func mustWait(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestIdlePush: another session's APPEND, flag change and expunge, and an
// SMTP-style delivery, each reach a client in IDLE.
func TestIdlePush(t *testing.T) {
	e := newEnv(t, nil)
	p := newPushes()
	a := e.client(alice, p.handler())
	b := e.client(alice, nil)
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := a.Idle()
	if err != nil {
		t.Fatal(err)
	}

	msg := testMessage(1)
	ap := b.Append("INBOX", int64(len(msg)), nil)
	ap.Write([]byte(msg))
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatal(err)
	}
	p.expect(t, "EXISTS 1")

	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	mustWait(t, b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close())
	p.expect(t, `FETCH 1 \Flagged`)

	e.deliver(e.alice, "", testMessage(2)) // as SMTP does
	p.expect(t, "EXISTS 2")

	mustWait(t, b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close())
	p.expect(t, `FETCH 1 \Flagged \Deleted`)
	mustWait(t, b.Expunge().Close())
	p.expect(t, "EXPUNGE 1")

	mustWait(t, idle.Close())
	mustWait(t, idle.Wait())
	p.none(t)
	// The view after IDLE is the store's.
	msgs, err := a.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 2 {
		t.Fatalf("after IDLE, FETCH 1 UID = %+v, %v; want UID 2", msgs, err)
	}
}

// TestMoveShowsAsExpunge: a MOVE in one session is an EXPUNGE in another
// that has the source selected, and an EXISTS in one idling in the target.
func TestMoveShowsAsExpunge(t *testing.T) {
	e := newEnv(t, nil)
	for i := 1; i <= 3; i++ {
		e.deliver(e.alice, "", testMessage(i))
	}
	pa, pc := newPushes(), newPushes()
	a := e.client(alice, pa.handler())
	b := e.client(alice, nil)
	c := e.client(alice, pc.handler())
	for _, cl := range []*imapclient.Client{a, b} {
		if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.Move(imap.SeqSetNum(2), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.UIDValidity == 0 || data.SourceUIDs.String() != "2" || data.DestUIDs.String() != "1" {
		t.Errorf("MOVE COPYUID = %+v", data)
	}
	pc.expect(t, "EXISTS 1")
	mustWait(t, a.Noop().Wait())
	pa.expect(t, "EXPUNGE 2")
	mustWait(t, idle.Close())
	mustWait(t, idle.Wait())
	msgs, err := a.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 2 || msgs[0].UID != 1 || msgs[1].UID != 3 {
		t.Fatalf("after the move, FETCH 1,2 UID = %+v, %v; want UIDs 1 and 3", msgs, err)
	}
}

// TestExpungesBeforeExists: pending expunges are announced before the new
// count, and not at all during FETCH (RFC 9051 7.5.1).
func TestExpungesBeforeExists(t *testing.T) {
	e := newEnv(t, nil)
	for i := 1; i <= 3; i++ {
		e.deliver(e.alice, "", testMessage(i))
	}
	a := e.rawLogin(alice)
	a.do(step{send: "s SELECT INBOX", want: []string{`^\* 3 EXISTS`, `^s OK`}})
	inbox, _ := e.st.Mailbox(e.alice.ID, "INBOX")
	if _, err := e.st.Expunge(e.alice.ID, inbox.ID, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.alice, "", testMessage(4))
	// FETCH may not expunge: message 2 is still there for the client,
	// served as it was (the view is pinned until the EXPUNGE goes out).
	a.do(step{send: "f FETCH 1:3 (UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])",
		want: []string{`^\* 1 FETCH \(UID 1 `, `^\* 2 FETCH \(UID 2 FLAGS \(\) BODY\[HEADER.FIELDS \(Subject\)\] \{19\}`, `^Subject: test 2`,
			`^\* 3 FETCH \(UID 3 `, `^f OK`},
		none: []string{`EXPUNGE$`, `EXISTS`}})
	// So may STORE by sequence number: the expunged message keeps, for
	// this client, the flags it sets until it is told of the expunge.
	a.do(step{send: "t STORE 1:3 +FLAGS (\\Flagged)",
		want: []string{`^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\)\)`, `^\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\)\)`, `^\* 3 FETCH \(UID 3 FLAGS \(\\Flagged\)\)`, `^t OK`},
		none: []string{`EXPUNGE$`, `EXISTS`}})
	// UID FETCH may expunge (RFC 9051 7.5.1): after its data, EXPUNGE
	// first, then the new count.
	a.do(step{send: "u UID FETCH 1:3 UID",
		want: []string{`^\* 1 FETCH \(UID 1\)`, `^\* 3 FETCH \(UID 3\)`, `^\* 2 EXPUNGE`, `^\* 3 EXISTS`, `^u OK`}})
	a.do(step{send: "n NOOP", want: []string{`^n OK`}, none: []string{`EXPUNGE`, `EXISTS`}})
	a.do(step{send: "g FETCH 1:* UID", want: []string{`^\* 1 FETCH \(UID 1\)`, `^\* 2 FETCH \(UID 3\)`, `^\* 3 FETCH \(UID 4\)`, `^g OK`}})

	// Both pending at once: EXPUNGE first, then EXISTS.
	if _, err := e.st.Expunge(e.alice.ID, inbox.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.alice, "", testMessage(5))
	a.do(step{send: "m NOOP", want: []string{`^\* 1 EXPUNGE`, `^\* 3 EXISTS`, `^m OK`}})
}

// TestSelectedMailboxDeleted: a mailbox deleted under a selected session
// empties for it; the session goes on.
func TestSelectedMailboxDeleted(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.st.CreateMailbox(e.alice.ID, "Work", ""); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.alice, "Work", testMessage(1))
	e.deliver(e.alice, "Work", testMessage(2))
	a := e.rawLogin(alice)
	a.do(step{send: "s SELECT Work", want: []string{`^\* 2 EXISTS`, `^s OK`}})
	b := e.rawLogin(alice)
	b.do(step{send: "d DELETE Work", want: []string{`^d OK`}})
	a.do(step{send: "n NOOP", want: []string{`^\* 1 EXPUNGE`, `^\* 1 EXPUNGE`, `^n OK`}})
	a.do(step{send: "f FETCH 1:* FLAGS", want: []string{`^f OK`}, none: []string{`FETCH \(`}})
	a.do(step{send: "u UID FETCH 1:* FLAGS", want: []string{`^u OK`}})
	a.do(step{send: "x STORE 1 +FLAGS (\\Seen)", want: []string{`^x BAD`}})
	a.do(step{send: "y APPEND Work {3+}\r\nabc", want: []string{`^y NO \[TRYCREATE\]`}})
	b.do(step{send: "c CREATE Work", want: []string{`^c OK`}})
	b.do(step{send: "a APPEND Work {3+}\r\nabc", want: []string{`^a OK`}})
	// The new "Work" is another mailbox: the old selection stays empty.
	a.do(step{send: "m NOOP", want: []string{`^m OK`}, none: []string{`EXISTS`}})
	a.do(step{send: "t SELECT Work", want: []string{`^\* OK \[CLOSED\]`, `^\* 1 EXISTS`, `^t OK`}})
}

// TestSelectedMailboxRenamed: a rename under a selected session keeps
// the selection (same mailbox), and mail to the new name reaches it.
func TestSelectedMailboxRenamed(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.st.CreateMailbox(e.alice.ID, "Work", ""); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.alice, "Work", testMessage(1))
	a := e.rawLogin(alice)
	a.do(step{send: "s SELECT Work", want: []string{`^\* 1 EXISTS`, `^s OK`}})
	b := e.rawLogin(alice)
	b.do(step{send: "r RENAME Work Done", want: []string{`^r OK`}})
	a.do(step{send: "n NOOP", want: []string{`^n OK`}, none: []string{`EXPUNGE`}})
	b.do(step{send: "a APPEND Done {3+}\r\nabc", want: []string{`^a OK`}})
	a.do(step{send: "m NOOP", want: []string{`^\* 2 EXISTS`, `^m OK`}})
	a.do(step{send: "f FETCH 1:* UID", want: []string{`^\* 1 FETCH \(UID 1\)`, `^\* 2 FETCH \(UID 2\)`, `^f OK`}})
	// Renaming INBOX moves its messages (RFC 9051 6.3.6): expunges here.
	e.deliver(e.alice, "", testMessage(3))
	a.do(step{send: "i SELECT INBOX", want: []string{`^\* 1 EXISTS`, `^i OK`}})
	b.do(step{send: "r2 RENAME INBOX Old", want: []string{`^r2 OK`}})
	a.do(step{send: "o NOOP", want: []string{`^\* 1 EXPUNGE`, `^o OK`}})
}

// TestWatcherOverflow: a session that falls more than storage's queue
// behind compares its view with the store and catches up exactly.
func TestWatcherOverflow(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 2,000 messages")
	}
	e := newEnv(t, nil)
	const n = 2000
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				e.deliver(e.alice, "", testMessage(i))
			}
		}()
	}
	wg.Wait()
	a := e.rawLogin(alice)
	a.do(step{send: "s SELECT INBOX", want: []string{fmt.Sprintf(`^\* %d EXISTS`, n), `^s OK`}})
	inbox, _ := e.st.Mailbox(e.alice.ID, "INBOX")
	all := make([]uint32, n)
	for i := range all {
		all[i] = uint32(i + 1)
	}
	// 6 x 2,000 flag changes: more than the 10,000 events a watcher
	// queues.
	for i := 0; i < 6; i++ {
		op := storage.FlagsAdd
		if i%2 == 1 {
			op = storage.FlagsRemove
		}
		if _, err := e.st.SetFlags(e.alice.ID, inbox.ID, all, op, storage.FlagFlagged, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.SetFlags(e.alice.ID, inbox.ID, []uint32{7}, storage.FlagsAdd, storage.FlagAnswered, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Expunge(e.alice.ID, inbox.ID, []uint32{5, 1999}); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.alice, "", testMessage(n+1))
	lines := a.do(step{send: "n NOOP", want: []string{`^\* 5 EXPUNGE`, `^\* 1998 EXPUNGE`, fmt.Sprintf(`^\* %d EXISTS`, n-1), `^\* 6 FETCH \(UID 7 FLAGS \(\\Answered\)\)`, `^n OK`}})
	if got := len(lines); got != n-2+4 {
		// every remaining old message's flags changed since the client
		// heard last: one FETCH each, plus 2 EXPUNGE, EXISTS and OK.
		t.Errorf("NOOP after overflow gave %d lines, want %d", got, n-2+4)
	}
}

// TestConcurrentSessions: several clients change one mailbox at once;
// afterwards each one's view (sequence numbers, UIDs, flags) is the
// store's.
func TestConcurrentSessions(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 20; i++ {
		e.deliver(e.alice, "", testMessage(i))
	}
	const clients, ops = 4, 30
	cls := make([]*imapclient.Client, clients)
	for i := range cls {
		cls[i] = e.client(alice, nil)
		if _, err := cls[i].Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients*ops)
	for i, c := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for j := 0; j < ops; j++ {
				var err error
				switch rng.IntN(4) {
				case 0:
					msg := testMessage(100*i + j)
					ap := c.Append("INBOX", int64(len(msg)), nil)
					ap.Write([]byte(msg))
					ap.Close()
					_, err = ap.Wait()
				case 1:
					flag := []imap.Flag{imap.FlagFlagged, imap.FlagSeen, "$Work"}[rng.IntN(3)]
					err = c.Store(imap.UIDSetNum(imap.UID(1+rng.IntN(40))), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{flag}}, nil).Close()
				case 2:
					if err = c.Store(imap.UIDSetNum(imap.UID(1+rng.IntN(40))), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err == nil {
						_, err = c.Expunge().Collect()
					}
				case 3:
					err = c.Noop().Wait()
				}
				if err != nil {
					errs <- fmt.Errorf("client %d op %d: %w", i, j, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	inbox, _ := e.st.Mailbox(e.alice.ID, "INBOX")
	want, err := e.st.Messages(e.alice.ID, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cls {
		mustWait(t, c.Noop().Wait())
		got, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil && len(want) > 0 {
			t.Fatalf("client %d: %v", i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("client %d sees %d messages, the store has %d", i, len(got), len(want))
		}
		for k, m := range got {
			w := want[k]
			fl := storedFlags(m.Flags)
			if m.SeqNum != uint32(k+1) || uint32(m.UID) != w.UID || !slices.Equal(fl, w.AllFlags()) {
				t.Fatalf("client %d message %d: seq %d UID %d flags %v; store: UID %d flags %v",
					i, k+1, m.SeqNum, m.UID, fl, w.UID, w.AllFlags())
			}
		}
	}
}
