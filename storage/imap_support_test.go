package storage_test

import (
	"errors"
	"slices"
	"testing"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestMessagesInRanges compares range reads, near and far apart (stepping
// and seeking), with filtering the whole list; and MailboxSelect with
// Messages.
func TestMessagesInRanges(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "ranges@example.test")
	for i := 0; i < 300; i++ {
		deliver(t, st, "Subject: r\r\n\r\nx\r\n", a.ID)
	}
	inbox, err := st.Mailbox(a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(a.ID, inbox.ID, []uint32{2, 100, 250, 251}); err != nil {
		t.Fatal(err)
	}
	all, err := st.Messages(a.ID, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ranges := range [][]storage.UIDRange{
		nil,
		{{First: 1, Last: 3}},
		{{First: 1, Last: 3}, {First: 5, Last: 5}, {First: 100, Last: 100}, {First: 249, Last: 400}},
		{{First: 250, Last: 251}},
		{{First: 299, Last: ^uint32(0)}},
		{{First: 1, Last: ^uint32(0)}},
		{{First: 301, Last: 500}},
	} {
		got, err := st.MessagesInRanges(a.ID, inbox.ID, ranges)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint32
		for _, m := range all {
			if slices.ContainsFunc(ranges, func(r storage.UIDRange) bool { return m.UID >= r.First && m.UID <= r.Last }) {
				want = append(want, m.UID)
			}
		}
		var gotUIDs []uint32
		for _, m := range got {
			gotUIDs = append(gotUIDs, m.UID)
		}
		if !slices.Equal(gotUIDs, want) {
			t.Errorf("ranges %v: got %v, want %v", ranges, gotUIDs, want)
		}
	}
	if _, err := st.SetFlags(a.ID, inbox.ID, []uint32{1, 3}, storage.FlagsAdd, storage.FlagSeen, []string{"$a", "$b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetFlags(a.ID, inbox.ID, []uint32{4}, storage.FlagsAdd, 0, []string{"$b", "$c"}); err != nil {
		t.Fatal(err)
	}
	sv, err := st.MailboxSelect(a.ID, "inbox", 2)
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, m := range all {
		uids = append(uids, m.UID)
	}
	if got := runUIDs(sv.Runs); sv.ID != inbox.ID || int(sv.Messages) != len(got) || !slices.Equal(got, uids) {
		t.Errorf("select view: %+v with UIDs %v", sv.Mailbox, got)
	}
	// UIDs 1 and 3 are seen, 2 is expunged: the first unseen is UID 4,
	// the third message; keywords stop at the 2 asked for.
	if sv.FirstUnseen != 3 || !slices.Equal(sv.Keywords, []string{"$a", "$b"}) {
		t.Errorf("select view: first unseen %d, keywords %v", sv.FirstUnseen, sv.Keywords)
	}
	// A deleted mailbox: both fail with ErrNoMailbox, which sessions that
	// still hold its ID expect.
	junk, err := st.Mailbox(a.ID, "Junk")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMailbox(a.ID, "Junk"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MailboxSelect(a.ID, "Junk", 10); !errors.Is(err, storage.ErrNoMailbox) {
		t.Errorf("snapshot of a deleted mailbox: %v", err)
	}
	if _, err := st.MessagesInRanges(a.ID, junk.ID, []storage.UIDRange{{First: 1, Last: 1}}); !errors.Is(err, storage.ErrNoMailbox) {
		t.Errorf("ranges of a deleted mailbox: %v", err)
	}
}

// runUIDs spells out UID runs.
func runUIDs(runs []storage.UIDRange) []uint32 {
	var out []uint32
	for _, r := range runs {
		for u := r.First; u <= r.Last; u++ {
			out = append(out, u)
		}
	}
	return out
}
