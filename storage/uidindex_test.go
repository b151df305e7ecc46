package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// The UID index must say what the records say after every kind of change,
// and across a reopen; Check (in every step) compares it block by block.
func TestUIDIndexFollowsRecords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openT(t, dir)
	defer func() { st.Close() }()
	a, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateMailbox(a.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	msg := func(i int) *strings.Reader {
		return strings.NewReader(fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i))
	}
	inbox := func() Mailbox { mb, _ := st.Mailbox(a.ID, InboxName); return mb }
	uids := func(name string) []uint32 {
		mb, err := st.Mailbox(a.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := st.Messages(a.ID, mb.ID)
		var out []uint32
		for _, m := range ms {
			out = append(out, m.UID)
		}
		return out
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"deliver", func() error {
			for i := range 5 {
				if _, err := st.Deliver(ctx, Delivery{Recipients: []Recipient{{Account: a.ID}}}, msg(i)); err != nil {
					return err
				}
			}
			return nil
		}},
		{"append seen with keywords", func() error {
			_, err := st.Append(ctx, a.ID, InboxName, FlagSeen|FlagFlagged, []string{"$Work", "$Later"}, date, msg(10))
			return err
		}},
		{"uid in the next blocks", func() error {
			// UIDs 4,097 and 9,000 lie in blocks 1 and 2.
			if _, err := st.AppendUID(ctx, a.ID, InboxName, segSpan+1, 0, []string{"$Work"}, date, msg(11)); err != nil {
				return err
			}
			_, err := st.AppendUID(ctx, a.ID, InboxName, 9000, FlagDeleted, nil, date, msg(12))
			return err
		}},
		{"flags add", func() error {
			_, err := st.SetFlags(a.ID, inbox().ID, []uint32{1, 2, segSpan + 1}, FlagsAdd, FlagSeen|FlagDeleted, []string{"$Later"})
			return err
		}},
		{"flags remove", func() error {
			_, err := st.SetFlags(a.ID, inbox().ID, []uint32{2, 6}, FlagsRemove, FlagSeen, []string{"$Work"})
			return err
		}},
		{"flags replace", func() error {
			_, err := st.SetFlags(a.ID, inbox().ID, []uint32{3}, FlagsReplace, FlagAnswered, []string{"$New"})
			return err
		}},
		{"copy", func() error {
			_, _, _, err := st.Copy(a.ID, inbox().ID, []uint32{1, 3, 9000}, "Projects")
			return err
		}},
		{"move", func() error {
			_, _, _, err := st.Move(a.ID, inbox().ID, []uint32{4, segSpan + 1}, "Projects")
			return err
		}},
		{"expunge deleted", func() error {
			_, err := st.Expunge(a.ID, inbox().ID, nil)
			return err
		}},
		{"rename", func() error { return st.RenameMailbox(a.ID, "Projects", "Old/Projects") }},
		{"rename inbox", func() error { return st.RenameMailbox(a.ID, InboxName, "Moved") }},
		{"deliver after", func() error {
			_, err := st.Deliver(ctx, Delivery{Recipients: []Recipient{{Account: a.ID}}}, msg(20))
			return err
		}},
		{"reopen", func() error {
			if err := st.Close(); err != nil {
				return err
			}
			st = openT(t, dir)
			return nil
		}},
		{"expunge all", func() error {
			mb, err := st.Mailbox(a.ID, "Moved")
			if err != nil {
				return err
			}
			_, err = st.Expunge(a.ID, mb.ID, uids("Moved"))
			return err
		}},
		{"delete mailbox", func() error { return st.DeleteMailbox(a.ID, "Moved") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		mbs, err := st.Mailboxes(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			fromIndex, err := st.selectView(a.ID, mb.Name, 100, true)
			if err != nil {
				t.Fatalf("%s: %s: index: %v", s.name, mb.Name, err)
			}
			fromRecords, err := st.selectView(a.ID, mb.Name, 100, false)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(fromIndex.Keywords)
			slices.Sort(fromRecords.Keywords)
			if !slices.Equal(fromIndex.Runs, fromRecords.Runs) || fromIndex.FirstUnseen != fromRecords.FirstUnseen ||
				!slices.Equal(fromIndex.Keywords, fromRecords.Keywords) {
				t.Errorf("%s: %s: index says %v first unseen %d keywords %v; records %v, %d, %v", s.name, mb.Name,
					fromIndex.Runs, fromIndex.FirstUnseen, fromIndex.Keywords, fromRecords.Runs, fromRecords.FirstUnseen, fromRecords.Keywords)
			}
		}
		if err := st.Check(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	// Nothing of the deleted mailbox's index is left, and every mailbox
	// has its header.
	mbs, _ := st.Mailboxes(a.ID)
	headers := map[uint64]bool{}
	st.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.UIDIndexAccountPrefix(uint64(a.ID))})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_, m, _, isSeg, err := keys.ParseUIDIndex(it.Item().Key())
			if err != nil {
				t.Fatal(err)
			}
			if !isSeg {
				headers[m] = true
			}
			if !slices.ContainsFunc(mbs, func(mb Mailbox) bool { return uint64(mb.ID) == m }) {
				t.Errorf("index key of mailbox %d, which is gone", m)
			}
		}
		return nil
	})
	if len(headers) != len(mbs) {
		t.Errorf("%d index headers for %d mailboxes", len(headers), len(mbs))
	}
}

// A store from before the index (no header for a mailbox) gets it built by
// the first SELECT; damage of every kind is found by Check and repaired,
// and SELECT never answers from an index that disagrees with the counts.
func TestUIDIndexRepair(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, want string // want: in Check's report ("" for no problem)
		damage     func(txn *badger.Txn, a AccountID, mb MailboxID) error
	}{
		{"older store: no index", "", func(txn *badger.Txn, a AccountID, mb MailboxID) error {
			if err := txn.Delete(keys.UIDIndexHeader(uint64(a), uint64(mb))); err != nil {
				return err
			}
			return txn.Delete(keys.UIDIndexSegment(uint64(a), uint64(mb), 0))
		}},
		{"interrupted build", "without a header", func(txn *badger.Txn, a AccountID, mb MailboxID) error {
			return txn.Delete(keys.UIDIndexHeader(uint64(a), uint64(mb)))
		}},
		{"lost block", "missing from the index", func(txn *badger.Txn, a AccountID, mb MailboxID) error {
			return txn.Delete(keys.UIDIndexSegment(uint64(a), uint64(mb), 0))
		}},
		{"wrong flags", "disagree", func(txn *badger.Txn, a AccountID, mb MailboxID) error {
			g := &uidSegment{}
			for uid := uint32(1); uid <= 3; uid++ {
				g.add(uid, FlagSeen, nil, +1) // all seen: the counts say 3 unseen
			}
			return txn.Set(keys.UIDIndexSegment(uint64(a), uint64(mb), 0), encodeSegment(g))
		}},
		{"wrong keyword", "disagree", func(txn *badger.Txn, a AccountID, mb MailboxID) error {
			g := &uidSegment{}
			for uid := uint32(1); uid <= 3; uid++ {
				g.add(uid, 0, []string{"$Ghost"}, +1) // counts agree, keywords do not
			}
			return txn.Set(keys.UIDIndexSegment(uint64(a), uint64(mb), 0), encodeSegment(g))
		}},
		{"garbage block", "disagree", func(txn *badger.Txn, a AccountID, mb MailboxID) error {
			return txn.Set(keys.UIDIndexSegment(uint64(a), uint64(mb), 0), []byte{vUIDIndex, 7, 7})
		}},
		{"stray block", "disagree", func(txn *badger.Txn, a AccountID, mb MailboxID) error {
			g := &uidSegment{}
			g.add(5*segSpan, 0, nil, +1)
			return txn.Set(keys.UIDIndexSegment(uint64(a), uint64(mb), 5), encodeSegment(g))
		}},
		{"index of a deleted mailbox", "missing mailbox", func(txn *badger.Txn, a AccountID, mb MailboxID) error {
			return putUIDIndexHeader(txn, a, 999)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, a := storeWithMessages(t, 3)
			defer st.Close()
			inbox, _ := st.Mailbox(a.ID, InboxName)
			if err := st.db.Update(func(txn *badger.Txn) error { return c.damage(txn, a.ID, inbox.ID) }); err != nil {
				t.Fatal(err)
			}
			// SELECT answers right whatever the damage to the UIDs and
			// flags: the counts give it away (a wrong keyword with the
			// counts right is Check's to find).
			sv, err := st.MailboxSelect(a.ID, InboxName, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sv.Runs, []UIDRange{{1, 3}}) || sv.FirstUnseen != 1 {
				t.Errorf("select: %v first unseen %d", sv.Runs, sv.FirstUnseen)
			}
			if c.want == "" {
				// Built by that SELECT: now it is read from the index.
				if _, err := st.selectView(a.ID, InboxName, 10, true); err != nil {
					t.Errorf("after the first SELECT: %v", err)
				}
				if err := st.Check(ctx); err != nil {
					t.Fatal(err)
				}
				return
			}
			// Damage SELECT could not see (the counts agree) or that it
			// repaired: put it back, and Check must find and repair it.
			if err := st.db.Update(func(txn *badger.Txn) error { return c.damage(txn, a.ID, inbox.ID) }); err != nil {
				t.Fatal(err)
			}
			err = st.Check(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "rebuilt") {
				t.Fatalf("check: %v, want a problem mentioning %q", err, c.want)
			}
			if err := st.Check(ctx); err != nil {
				t.Fatalf("after the repair: %v", err)
			}
			if _, err := st.selectView(a.ID, InboxName, 10, true); err != nil {
				t.Errorf("after the repair: %v", err)
			}
		})
	}
}

// A block encodes to the same bytes however it was reached (Check compares
// bytes), and round-trips: sparse sets as runs, dense mixed ones as
// bitmaps.
func TestUIDSegmentCodec(t *testing.T) {
	cases := []struct {
		name string
		uids func(yield func(uint32) bool)
	}{
		{"empty", func(func(uint32) bool) {}},
		{"one", func(y func(uint32) bool) { y(7) }},
		{"full", func(y func(uint32) bool) {
			for u := range uint32(segSpan) {
				if !y(u) {
					return
				}
			}
		}},
		{"every other", func(y func(uint32) bool) {
			for u := uint32(0); u < segSpan; u += 2 {
				if !y(u) {
					return
				}
			}
		}},
		{"edges", func(y func(uint32) bool) { _ = y(0) && y(63) && y(64) && y(segSpan-1) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &uidSegment{}
			n := uint32(0)
			for u := range c.uids {
				f := Flags(0)
				if u%3 == 0 {
					f = FlagSeen
				}
				g.add(u, f, []string{"$k"}, +1)
				n++
			}
			b := encodeSegment(g)
			back, err := decodeSegment(b)
			if err != nil {
				t.Fatal(err)
			}
			if back.present != g.present || back.unseen != g.unseen || back.deleted != g.deleted || countBits(&back.present) != n {
				t.Fatal("sets differ after a round trip")
			}
			if n > 0 && back.keywords["$k"] != n {
				t.Fatalf("keyword count %d, want %d", back.keywords["$k"], n)
			}
			if string(encodeSegment(back)) != string(b) {
				t.Fatal("not canonical")
			}
			if len(b) > 3*(1+segSpan/8)+16 {
				t.Fatalf("%d bytes: more than three bitmaps", len(b))
			}
			// Taking every message out again leaves an empty block.
			for u := range c.uids {
				back.add(u, 0, []string{"$k"}, -1)
			}
			if !back.empty() || len(back.keywords) != 0 {
				t.Fatal("not empty after removing everything")
			}
		})
	}
	for _, bad := range [][]byte{nil, {9}, {vUIDIndex}, {vUIDIndex, setRuns, 1, 0, 255, 31}, {vUIDIndex, setBitmap, 1}} {
		if _, err := decodeSegment(bad); err == nil {
			t.Errorf("decoded %x", bad)
		}
	}
}

// A damaged index block must not stop mail: the delivery that touches it
// drops the index, and the next SELECT builds it again.
func TestUIDIndexDamageDoesNotStopDelivery(t *testing.T) {
	ctx := context.Background()
	st := openT(t, t.TempDir())
	defer st.Close()
	a, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	deliver := func() {
		t.Helper()
		if _, err := st.Deliver(ctx, Delivery{Recipients: []Recipient{{Account: a.ID}}}, strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
			t.Fatalf("delivery: %v", err)
		}
	}
	deliver()
	inbox, _ := st.Mailbox(a.ID, InboxName)
	if err := st.db.Update(func(txn *badger.Txn) error {
		return txn.Set(keys.UIDIndexSegment(uint64(a.ID), uint64(inbox.ID), 0), []byte{vUIDIndex, 9})
	}); err != nil {
		t.Fatal(err)
	}
	deliver()
	if _, err := st.selectView(a.ID, InboxName, 10, true); !errors.Is(err, errNoUIDIndex) {
		t.Fatalf("index after the damaged delivery: %v, want none", err)
	}
	sv, err := st.MailboxSelect(a.ID, InboxName, 10)
	if err != nil || !slices.Equal(sv.Runs, []UIDRange{{1, 2}}) {
		t.Fatalf("select: %v %v", sv.Runs, err)
	}
	if _, err := st.selectView(a.ID, InboxName, 10, true); err != nil {
		t.Fatalf("index after SELECT: %v", err)
	}
	if err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// EXPUNGE (Expunge with no UIDs) finds the \Deleted messages in the index,
// or in the records when the mailbox has none (an older store).
func TestExpungeDeletedFromIndex(t *testing.T) {
	for _, withIndex := range []bool{true, false} {
		t.Run(fmt.Sprint("index ", withIndex), func(t *testing.T) {
			ctx := context.Background()
			st, a := storeWithMessages(t, 6)
			defer st.Close()
			date := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
			if _, err := st.AppendUID(ctx, a.ID, InboxName, 2*segSpan+5, FlagDeleted, nil, date, strings.NewReader("Subject: far\r\n\r\nx\r\n")); err != nil {
				t.Fatal(err)
			}
			inbox, _ := st.Mailbox(a.ID, InboxName)
			if _, err := st.SetFlags(a.ID, inbox.ID, []uint32{2, 3, 5}, FlagsAdd, FlagDeleted, nil); err != nil {
				t.Fatal(err)
			}
			if !withIndex {
				if err := st.dropUIDIndex(a.ID, inbox.ID); err != nil {
					t.Fatal(err)
				}
			}
			gone, err := st.Expunge(a.ID, inbox.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := []uint32{2, 3, 5, 2*segSpan + 5}; !slices.Equal(gone, want) {
				t.Fatalf("expunged %v, want %v", gone, want)
			}
			ms, _ := st.Messages(a.ID, inbox.ID)
			var left []uint32
			for _, m := range ms {
				left = append(left, m.UID)
			}
			if !slices.Equal(left, []uint32{1, 4, 6}) {
				t.Fatalf("left %v", left)
			}
			if err := st.Check(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// storeWithMessages opens a store with one account whose INBOX holds n
// small messages, UIDs 1 to n.
func storeWithMessages(t *testing.T, n int) (*Store, Account) {
	t.Helper()
	st := openT(t, t.TempDir())
	a, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: a.ID}}}, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	return st, a
}
