package storage_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestQueueLifecycle: a queued message keeps its body (stored once, one
// reference), survives a reopen with its recipient states, is updated per
// recipient, and on removal frees the body. Check (at cleanup and here)
// must agree with the reference counts at every step.
func TestQueueLifecycle(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	body := "From: a@x.test\nSubject: hi\n\nhello\n" // bare LF: stored as CRLF
	var prepared int64
	m, err := st.QueueAdd(ctx, storage.QueueNew{
		From: "a@x.test", To: []string{"b@y.test", "c@z.test"},
		Prepare: func(r io.ReaderAt, size int64, m *storage.QueueMessage) error {
			prepared = size
			m.Prefix = []byte("DKIM-Signature: x\r\n")
			m.EightBit = true
			return nil
		},
	}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(body, "\n", "\r\n")
	if prepared != int64(len(want)) || m.Size != int64(len(want)) {
		t.Errorf("prepare saw %d bytes, size %d, want %d", prepared, m.Size, len(want))
	}
	if err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	_, err = st.QueueUpdate(m.ID, func(q *storage.QueueMessage) error {
		q.Recipients[0].State = storage.QueueDelivered
		q.Recipients[1].Attempts = 1
		q.Recipients[1].NextAttempt = next
		q.Recipients[1].LastError = "451 try later"
		q.DelayWarned = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.QueueUpdate(m.ID, func(q *storage.QueueMessage) error {
		q.Recipients[0].Addr = "evil@x.test"
		return nil
	}); err == nil {
		t.Error("update changed an address")
	}
	st.Close()

	st = storagetest.OpenOptions(t, storage.Options{Dir: dir})
	list, err := st.QueueMessages()
	if err != nil || len(list) != 1 {
		t.Fatalf("after reopen: %d messages, %v", len(list), err)
	}
	q := list[0]
	if q.From != "a@x.test" || string(q.Prefix) != "DKIM-Signature: x\r\n" || !q.EightBit || !q.DelayWarned || len(q.Recipients) != 2 {
		t.Fatalf("after reopen: %+v", q)
	}
	r0, r1 := q.Recipients[0], q.Recipients[1]
	if r0.State != storage.QueueDelivered || !r0.Done() || r1.State != storage.QueuePending || r1.Attempts != 1 ||
		!r1.NextAttempt.Equal(next) || r1.LastError != "451 try later" || r1.Done() {
		t.Errorf("recipients after reopen: %+v %+v", r0, r1)
	}
	b, err := st.OpenBody(q.Object)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(b.Reader())
	b.Close()
	if string(got) != want {
		t.Errorf("body %q", got)
	}
	// The last recipient done: QueueUpdate removes the message itself.
	done, err := st.QueueUpdate(q.ID, func(q *storage.QueueMessage) error {
		q.Recipients[1].State, q.Recipients[1].Notified = storage.QueueFailed, true
		return nil
	})
	if err != nil || !done.Done() {
		t.Fatalf("last update: %+v %v", done, err)
	}
	if _, err := st.QueueMessage(q.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("removed message: %v", err)
	}
	if err := st.QueueRemove(q.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
}

// A failing Prepare stores nothing (Check at cleanup finds no orphan body),
// also for a body large enough to have been staged in chunks.
func TestQueuePrepareFails(t *testing.T) {
	st := storagetest.Open(t)
	for _, size := range []int{100, 3 << 20} {
		_, err := st.QueueAdd(ctx, storage.QueueNew{
			From: "a@x.test", To: []string{"b@y.test"},
			Prepare: func(io.ReaderAt, int64, *storage.QueueMessage) error { return errors.New("no") },
		}, strings.NewReader("Subject: x\r\n\r\n"+strings.Repeat("y", size)))
		if err == nil {
			t.Fatal("prepare error ignored")
		}
	}
	if list, _ := st.QueueMessages(); len(list) != 0 {
		t.Errorf("queue has %d messages", len(list))
	}
	if _, err := st.QueueAdd(ctx, storage.QueueNew{From: "a@x.test"}, strings.NewReader("x")); err == nil {
		t.Error("message without recipients queued")
	}
}
