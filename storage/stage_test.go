package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// countKeys counts the keys of one family.
func countKeys(t *testing.T, st *Store, tag byte) int {
	t.Helper()
	n := 0
	err := st.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.Prefix(tag)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checked opens a store in dir that is checked and closed after the test.
func checked(t *testing.T, dir string) *Store {
	t.Helper()
	st := openT(t, dir)
	t.Cleanup(func() {
		if err := st.Check(context.Background()); err != nil {
			t.Errorf("check: %v", err)
		}
		st.Close()
	})
	return st
}

func readAll(t *testing.T, b *Body, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := io.ReadAll(b.Reader())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != b.Size() {
		t.Fatalf("body says %d bytes, read %d", b.Size(), len(data))
	}
	return string(data)
}

// bigBody is a message of about n bytes with CRLF lines.
func bigBody(n int) string {
	var b strings.Builder
	b.WriteString("From: ann@example.test\r\nTo: bob@example.test, carl@remote.test\r\nSubject: big\r\n\r\n")
	for b.Len() < n {
		b.WriteString("0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n")
	}
	return b.String()
}

// TestStageSharedByMailboxAndQueue: a submission to a local and a remote
// recipient stores one object that both reference (refcount 2), with the
// local trace fields and the queue's in front of the same body, each read
// back byte-exact; the body is handed to Badger once.
func TestStageSharedByMailboxAndQueue(t *testing.T) {
	read := func(b *Body, err error) string { return readAll(t, b, err) }
	for _, size := range []int{2 << 10, 2 << 20} { // in memory until commit; staged in chunks
		st := checked(t, t.TempDir())
		acct, err := st.CreateAccount("bob@example.test", "password-bob")
		if err != nil {
			t.Fatal(err)
		}
		body := bigBody(size)
		local := "Return-Path: <ann@example.test>\r\nReceived: from pc by box; Sun, 6 Dec 2026 10:00:00 +0000\r\n"
		remote := "Received: from pc by box; Sun, 6 Dec 2026 10:00:00 +0000\r\n"
		before := st.BodyBytesWritten()

		sg, err := st.Stage(context.Background(), strings.NewReader(body), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(sg.Reader()); string(got) != body {
			t.Fatalf("%d: the staged body reads back differently", size)
		}
		dv, err := sg.Deliver(Delivery{Recipients: []Recipient{{Account: acct.ID}}, Origin: OriginSubmission}, []byte(local))
		if err != nil {
			t.Fatal(err)
		}
		qm, err := sg.Enqueue(QueueNew{From: "ann@example.test", To: []string{"carl@remote.test"}, Prefix: []byte(remote),
			Prepare: func(b io.ReaderAt, n int64, m *QueueMessage) error {
				got, _ := io.ReadAll(io.NewSectionReader(b, 0, n))
				if string(got) != remote+body {
					t.Errorf("%d: Prepare does not see prefix and body", size)
				}
				m.Prefix = append([]byte("DKIM-Signature: v=1\r\n"), m.Prefix...)
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sg.Deliver(Delivery{Recipients: []Recipient{{Account: acct.ID}}}, nil); !errors.Is(err, ErrStagedUsed) {
			t.Errorf("%d: a second Deliver = %v; want ErrStagedUsed", size, err)
		}
		sg.Close()
		if got := st.BodyBytesWritten() - before; got != int64(len(body)) {
			t.Errorf("%d: %d body bytes written; want %d (once)", size, got, len(body))
		}

		msg, err := st.Message(acct.ID, dv[0].Mailbox, dv[0].UID)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Object != qm.Object || countKeys(t, st, keys.TagObject) != 1 {
			t.Fatalf("%d: message object %d, queue object %d, %d objects; want one shared", size, msg.Object, qm.Object, countKeys(t, st, keys.TagObject))
		}
		obj, err := st.Object(msg.Object)
		if err != nil {
			t.Fatal(err)
		}
		if obj.RefCount != 2 || msg.Size != int64(len(local+body)) || obj.Size != msg.Size {
			t.Fatalf("%d: refs %d, message size %d, object size %d; want 2, %d", size, obj.RefCount, msg.Size, obj.Size, len(local+body))
		}
		if want := int64(strings.Count(local+body, "\n")); obj.Lines != want {
			t.Errorf("%d: lines %d; want %d", size, obj.Lines, want)
		}
		if obj.Envelope == nil || obj.Envelope.Subject != "big" {
			t.Errorf("%d: envelope %+v", size, obj.Envelope)
		}
		if got := read(st.OpenBody(msg.Object)); got != local+body {
			t.Errorf("%d: OpenBody is not prefix and body", size)
		}
		// Reads that start in the prefix and end in the body, or cross a
		// chunk boundary, as IMAP partial FETCH does.
		whole := local + body
		ob := st.OpenObjectBody(obj)
		for _, off := range []int{0, len(local) - 3, len(local), len(local) + chunkSize - 5, len(whole) - 4} {
			if off < 0 || off >= len(whole) {
				continue
			}
			p := make([]byte, 10)
			n, err := ob.ReadAt(p, int64(off))
			if want := whole[off:min(off+10, len(whole))]; string(p[:n]) != want || (err != nil && n != len(want)) {
				t.Errorf("%d: ReadAt(%d) = %q, %v; want %q", size, off, p[:n], err, want)
			}
		}
		ob.Close()
		// As POP3 opens it: ID and size from the message only.
		if got := read(st.OpenObjectBody(Object{ID: msg.Object, Size: msg.Size}), nil); got != local+body {
			t.Errorf("%d: OpenObjectBody without the record is not prefix and body", size)
		}
		stored, err := st.QueueMessage(qm.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := read(st.OpenQueueBody(&stored)); got != "DKIM-Signature: v=1\r\n"+remote+body {
			t.Errorf("%d: the queue's body is not its prefix and the body", size)
		}
		if err := st.Check(context.Background()); err != nil {
			t.Fatal(err)
		}

		// Each side lets go; the object goes with the last reference.
		if err := st.QueueRemove(qm.ID); err != nil {
			t.Fatal(err)
		}
		if obj, _ := st.Object(msg.Object); obj.RefCount != 1 {
			t.Fatalf("%d: after the queue let go: refs %d", size, obj.RefCount)
		}
		if _, err := st.Expunge(acct.ID, dv[0].Mailbox, []uint32{dv[0].UID}); err != nil {
			t.Fatal(err)
		}
		st.eraseNow(t)
		if n := countKeys(t, st, keys.TagChunk); n != 0 {
			t.Fatalf("%d: %d chunks left after both let go", size, n)
		}
	}
}

// eraseNow waits (bounded) until the eraser has emptied its queue.
func (s *Store) eraseNow(t *testing.T) {
	t.Helper()
	for range 500 {
		s.kickEraser()
		if countKeys(t, s, keys.TagErase) == 0 {
			return
		}
		<-time.After(10 * time.Millisecond)
	}
	t.Fatal("the eraser never finished")
}

// TestStageAbortLeavesNothing: a stage closed without a commit (a message
// the checks refused, a client gone) leaves no keys behind.
func TestStageAbortLeavesNothing(t *testing.T) {
	for _, size := range []int{100, 3 << 20} {
		st := checked(t, t.TempDir())
		sg, err := st.Stage(context.Background(), strings.NewReader(bigBody(size)), 0)
		if err != nil {
			t.Fatal(err)
		}
		if size > inlineLimit && countKeys(t, st, keys.TagStaged) != 1 {
			t.Fatalf("%d: a body over the inline limit is not staged", size)
		}
		sg.Close()
		sg.Close() // a second Close does nothing
		if _, err := sg.Deliver(Delivery{Recipients: []Recipient{{Account: 1}}}, nil); !errors.Is(err, ErrStagedUsed) {
			t.Fatalf("Deliver after Close = %v", err)
		}
		st.eraseNow(t)
		for _, tag := range []byte{keys.TagChunk, keys.TagStaged, keys.TagObject, keys.TagErase} {
			if n := countKeys(t, st, tag); n != 0 {
				t.Errorf("%d: %d keys of family %#x after an abort", size, n, tag)
			}
		}
	}
}

// TestStageCrashSweptAtOpen: a process that dies between stage and commit
// leaves staged chunks, which the next Open sweeps away.
func TestStageCrashSweptAtOpen(t *testing.T) {
	dir := t.TempDir()
	st := openT(t, dir)
	body := bigBody(3 << 20)
	sg, err := st.Stage(context.Background(), strings.NewReader(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(sg.Reader()); !bytes.Equal(got, []byte(body)) {
		t.Fatal("the staged chunks read back differently")
	}
	if countKeys(t, st, keys.TagChunk) == 0 || countKeys(t, st, keys.TagStaged) != 1 {
		t.Fatal("nothing staged")
	}
	st.Close() // the crash: no commit, no Close of the stage
	st = checked(t, dir)
	st.eraseNow(t)
	if n, m := countKeys(t, st, keys.TagChunk), countKeys(t, st, keys.TagStaged); n != 0 || m != 0 {
		t.Fatalf("after Open: %d chunks, %d staged markers", n, m)
	}
}
