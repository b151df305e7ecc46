package queue

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"postroom/storage"
)

// FuzzDSN: whatever the original message's header and the server's error
// text hold (CR, LF, a boundary-like line, 8-bit bytes), the notice is a
// well-formed multipart/report whose delivery-status part names the
// recipient with one Action and one Status, and its headers part holds only
// header lines of the original.
func FuzzDSN(f *testing.F) {
	f.Add([]byte("From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n"), "mx said: 550 5.1.1 no\r\nStatus: 2.0.0", "b@c.test")
	f.Add([]byte("Subject: x\n--dsn-0000000000000000--\n\n"), "\x00\xff", "ü@c.test")
	f.Add([]byte(""), "", "x@y")
	f.Add([]byte("No-Colon-Line\r\n\tfolded\r\n"), strings.Repeat("long ", 500), "a@b")
	q, err := New(Options{Store: &storage.Store{}, Logger: slog.New(slog.DiscardHandler), Hostname: "mx.local.test",
		Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, orig []byte, diag, rcpt string) {
		if !validAddress(rcpt) {
			return // Enqueue refuses it
		}
		m := &storage.QueueMessage{ID: 7, From: "ann@local.test", Created: q.o.Now()}
		r := storage.QueueRecipient{Addr: rcpt, State: storage.QueueFailed, LastError: diag, Status: "5.1.1", RemoteMTA: "mx.c.test"}
		hdr := headerBlock(bytes.NewReader(orig))
		if !bytes.HasPrefix(append(bytes.TrimRight(orig, "\r\n"), "\r\n"...), bytes.TrimRight(hdr, "\r\n")) && len(hdr) > 0 {
			t.Fatalf("header block %q is not a prefix of %q", hdr, orig)
		}
		d := parseDSN(t, q.formatDSN(m, []storage.QueueRecipient{r}, "failed", hdr))
		if len(d.recipients) != 1 {
			t.Fatalf("%d recipient blocks", len(d.recipients))
		}
		got := d.recipients[0]
		if got.Get("Final-Recipient") != "rfc822; "+rcpt || len(got["Action"]) != 1 || got.Get("Status") != "5.1.1" {
			t.Fatalf("recipient fields %v", got)
		}
	})
}
