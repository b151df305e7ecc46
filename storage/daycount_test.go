package storage_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestDayCounts: every delivery is counted on its local date by origin, in
// its own transaction (no count lost under concurrent deliveries to
// several accounts, nothing for APPEND), the queue's deliveries to other
// servers on their attempt's date, and old days can be pruned.
func TestDayCounts(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(storage.Options{Dir: dir}) // closed below; reopened with Check
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	day := time.Date(2026, 3, 14, 12, 0, 0, 0, time.Local) // any fixed date
	var accts []storage.Account
	for _, name := range []string{"a@example.test", "b@example.test", "c@example.test", "d@example.test"} {
		accts = append(accts, storagetest.Account(t, st, name))
	}
	deliver := func(origin storage.Origin, date time.Time, to ...storage.Account) {
		t.Helper()
		var rcpts []storage.Recipient
		for _, a := range to {
			rcpts = append(rcpts, storage.Recipient{Account: a.ID})
		}
		if _, err := st.Deliver(ctx, storage.Delivery{Recipients: rcpts, InternalDate: date, Origin: origin},
			strings.NewReader("Subject: count me\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
	}

	// 8 writers, 25 inbound messages each, spread over the four accounts.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				rcpts := []storage.Recipient{{Account: accts[(w+i)%len(accts)].ID}}
				if _, err := st.Deliver(ctx, storage.Delivery{Recipients: rcpts, InternalDate: day, Origin: storage.OriginInbound},
					strings.NewReader("Subject: load\r\n\r\nbody\r\n")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	deliver(storage.OriginSubmission, day, accts[0], accts[1])
	deliver(storage.OriginSentCopy, day, accts[2])
	deliver(storage.OriginBounce, day.Add(-24*time.Hour), accts[3])
	if _, err := st.Append(ctx, accts[0].ID, storage.InboxName, 0, nil, day, strings.NewReader("Subject: mine\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}

	q, err := st.QueueAdd(ctx, storage.QueueNew{From: "a@example.test", To: []string{"x@remote.test", "y@remote.test"}},
		strings.NewReader("Subject: out\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	update := func() {
		t.Helper()
		if _, err := st.QueueUpdate(q.ID, func(m *storage.QueueMessage) error {
			m.Recipients[0].State, m.Recipients[0].LastAttempt = storage.QueueDelivered, day
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	update()
	update() // already delivered: not counted again

	check := func(when time.Time, want storage.DayCounts) {
		t.Helper()
		got, err := st.DayCounts(when)
		if err != nil {
			t.Fatal(err)
		}
		if got.Relayed != want.Relayed || len(got.Added) != len(want.Added) {
			t.Fatalf("DayCounts(%s) = %+v; want %+v", when.Format(time.DateOnly), got, want)
		}
		for o, n := range want.Added {
			if got.Added[o] != n {
				t.Fatalf("DayCounts(%s) = %+v; want %+v", when.Format(time.DateOnly), got, want)
			}
		}
	}
	today := storage.DayCounts{Added: map[storage.Origin]int{
		storage.OriginInbound: 200, storage.OriginSubmission: 2, storage.OriginSentCopy: 1}, Relayed: 1}
	yesterday := storage.DayCounts{Added: map[storage.Origin]int{storage.OriginBounce: 1}}
	check(day, today)
	check(day.Add(-24*time.Hour), yesterday)
	check(day.Add(24*time.Hour), storage.DayCounts{})

	// The counts are in the store: they outlive the process.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = storagetest.OpenOptions(t, storage.Options{Dir: dir}) // storage.Check at cleanup
	check(day, today)
	if err := st.PruneDayCounts(day); err != nil {
		t.Fatal(err)
	}
	check(day.Add(-24*time.Hour), storage.DayCounts{})
	check(day, today)
}
