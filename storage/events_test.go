package storage_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// drain takes every waiting event of w.
func drain(t *testing.T, w *storage.Watcher) []storage.Event {
	t.Helper()
	evs, overflow := w.Next()
	if overflow {
		t.Fatal("watcher overflowed")
	}
	return evs
}

// TestEventOrigins checks that each way a message arrives says so in its
// event: the status counts received, sent and bounced mail from these.
func TestEventOrigins(t *testing.T) {
	st := storagetest.Open(t)
	alice := storagetest.Account(t, st, "alice@example.test")
	bob := storagetest.Account(t, st, "bob@example.test")
	w := st.WatchAll()
	defer w.Close()

	msg := "Subject: hi\r\n\r\nhello\r\n"
	_, err := st.Deliver(ctx, storage.Delivery{Origin: storage.OriginSubmission, Recipients: []storage.Recipient{
		{Account: bob.ID},
		{Account: alice.ID, Mailbox: "Sent", Flags: storage.FlagSeen, Origin: storage.OriginSentCopy},
	}}, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Deliver(ctx, storage.Delivery{Origin: storage.OriginBounce, Recipients: []storage.Recipient{{Account: alice.ID}}}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Deliver(ctx, storage.Delivery{Origin: storage.OriginInbound, Recipients: []storage.Recipient{{Account: alice.ID}}}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, alice.ID, "Drafts", 0, nil, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	in := inbox(t, st, alice.ID)
	if _, _, _, err := st.Copy(alice.ID, in.ID, []uint32{1}, "Archive"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := st.Move(alice.ID, in.ID, []uint32{2}, "Archive"); err != nil {
		t.Fatal(err)
	}

	type got struct {
		acct   storage.AccountID
		origin storage.Origin
	}
	var added []got
	for _, ev := range drain(t, w) {
		if ev.Kind == storage.EventAdded {
			added = append(added, got{ev.Account, ev.Origin})
		} else if ev.Origin != storage.OriginUnknown {
			t.Errorf("%v event has origin %v", ev.Kind, ev.Origin)
		}
	}
	want := []got{
		{bob.ID, storage.OriginSubmission}, {alice.ID, storage.OriginSentCopy},
		{alice.ID, storage.OriginBounce}, {alice.ID, storage.OriginInbound},
		{alice.ID, storage.OriginAppend}, {alice.ID, storage.OriginCopy}, {alice.ID, storage.OriginMove},
	}
	// bob's and alice's copies of the submission commit in any order.
	if len(added) != len(want) {
		t.Fatalf("added events %v; want %v", added, want)
	}
	if added[0] != want[0] && added[0] == want[1] && added[1] == want[0] {
		added[0], added[1] = added[1], added[0]
	}
	for i := range want {
		if added[i] != want[i] {
			t.Errorf("added event %d = %+v; want %+v", i, added[i], want[i])
		}
	}
}

// TestEventsInCommitOrder has deliveries and flag changes race on one
// account: a watcher must see its MODSEQs ascending, which holds only if
// every writer publishes before it lets go of the account's lock (the
// delivery path once published after unlocking).
func TestEventsInCommitOrder(t *testing.T) {
	st := storagetest.Open(t)
	alice := storagetest.Account(t, st, "alice@example.test")
	in := inbox(t, st, alice.ID)
	w := st.Watch(alice.ID)
	defer w.Close()

	const senders, each = 4, 40
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				deliver(t, st, storagetest.Message(200, i), alice.ID)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint32(1); i <= senders*each; i++ {
			// Flags on whatever has arrived so far; missing UIDs are skipped.
			if _, err := st.SetFlags(alice.ID, in.ID, []uint32{i / 2, i}, storage.FlagsAdd, storage.FlagFlagged, nil); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()

	var last uint64
	n := 0
	for _, ev := range drain(t, w) {
		if ev.Message.ModSeq <= last {
			t.Fatalf("event %d (%v, uid %d) has MODSEQ %d after %d", n, ev.Kind, ev.Message.UID, ev.Message.ModSeq, last)
		}
		last = ev.Message.ModSeq
		n++
	}
	if n < senders*each {
		t.Fatalf("%d events; want at least %d", n, senders*each)
	}
}
