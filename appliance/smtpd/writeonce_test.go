package smtpd

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/queue"
	"postroom/storage"
)

// writeBytes is this process's write_bytes from /proc/self/io: what it
// caused to be written to a disk, temp files included.
func writeBytes(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io here (%v): the bytes written cannot be measured", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("/proc/self/io has no write_bytes")
	return 0
}

// TestInboundCheckedWrittenOnce: a 2 MiB message on port 25 with the
// checks on is written to disk once. It was written to a spool file,
// read back by the checks, and then written again into the store.
func TestInboundCheckedWrittenOnce(t *testing.T) {
	e := newInboundEnv(t, "", nil)
	var msg bytes.Buffer
	msg.WriteString("From: someone@pass.test\r\nSubject: two megabytes\r\n\r\n")
	if err := lines(&msg, (2<<20)/78*78); err != nil { // whole lines: DATA ends with CRLF
		t.Fatal(err)
	}
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bodyBefore, diskBefore := e.st.BodyBytesWritten(), writeBytes(t)
	if err := c.SendMail("someone@pass.test", []string{alice}, bytes.NewReader(msg.Bytes())); err != nil {
		t.Fatal(err)
	}
	body, disk := e.st.BodyBytesWritten()-bodyBefore, writeBytes(t)-diskBefore

	hdr, rest := e.stored("INBOX")
	if !bytes.Equal(rest, msg.Bytes()) || !strings.Contains(hdr, "spf=pass") {
		t.Fatalf("stored %d bytes after %q; sent %d", len(rest), hdr, msg.Len())
	}
	if body != int64(msg.Len()) {
		t.Errorf("%d body bytes handed to the store; want %d (once, the trace fields beside it)", body, msg.Len())
	}
	// The store's own records, logs and file headers come on top of the
	// body, but far less than a second copy.
	if limit := int64(msg.Len()) * 5 / 4; disk > limit {
		t.Errorf("%d bytes written to disk for a %d-byte message; want at most %d", disk, msg.Len(), limit)
	}
	t.Logf("%d-byte message: %d body bytes to the store, %d bytes written (%.2f per byte)", msg.Len(), body, disk, float64(disk)/float64(msg.Len()))
}

// TestSubmissionLocalAndRemoteOneObject: a message submitted to a local
// and a remote recipient is stored once: bob's copy and the outbound
// queue's message reference one object, each with its own trace fields in
// front, and the queue would send exactly its fields and the body.
func TestSubmissionLocalAndRemoteOneObject(t *testing.T) {
	var q *queue.Queue
	e := newSubEnv(t, func(o *Options) {
		if q == nil {
			var err error
			if q, err = queue.New(queue.Options{Store: o.Store.(*storage.Store), Hostname: "mx.example.test"}); err != nil {
				t.Fatal(err)
			}
		}
		o.Submission.Outbound = q
	})
	c := e.dialSubmission(t, false, sasl.NewPlainClient("", alice, password(alice)))
	msg := []byte("From: alice@example.test\r\nTo: bob@example.test, x@remote.test\r\nSubject: both\r\n" +
		"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <both@example.test>\r\n\r\nHello both.\r\n")
	before := e.st.BodyBytesWritten()
	if err := send(t, c, alice, []string{bob, "x@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	if got := e.st.BodyBytesWritten() - before; got != int64(len(msg)) {
		t.Errorf("%d body bytes stored; want %d (once)", got, len(msg))
	}

	qs, err := e.st.QueueMessages()
	if err != nil || len(qs) != 1 {
		t.Fatalf("queue: %d messages, %v", len(qs), err)
	}
	acct, _ := e.st.Account(bob)
	in, _ := e.st.Mailbox(acct.ID, storage.InboxName)
	msgs, err := e.st.Messages(acct.ID, in.ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("bob: %d messages, %v", len(msgs), err)
	}
	if msgs[0].Object != qs[0].Object {
		t.Fatalf("bob's copy is object %d, the queue's %d: stored twice", msgs[0].Object, qs[0].Object)
	}
	obj, err := e.st.Object(qs[0].Object)
	if err != nil || obj.RefCount != 2 {
		t.Fatalf("object: %+v, %v; want 2 references", obj, err)
	}

	read := func(b *storage.Body, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		data, err := io.ReadAll(b.Reader())
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	sent := read(e.st.OpenQueueBody(&qs[0]))
	local := read(e.st.OpenBody(msgs[0].Object))
	if !bytes.HasPrefix(sent, []byte("Received: ")) || !bytes.HasSuffix(sent, msg) {
		t.Errorf("the queue would send %q", sent)
	}
	rcv := sent[:len(sent)-len(msg)]
	if want := append([]byte("Return-Path: <alice@example.test>\r\n"), append(rcv, msg...)...); !bytes.Equal(local, want) {
		t.Errorf("bob's copy %q; want Return-Path, the same Received and the body", local)
	}
}
