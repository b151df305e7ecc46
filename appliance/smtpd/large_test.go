package smtpd

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/emersion/go-smtp"

	"postroom/storage"
)

// lines writes n bytes of a message body in 78-octet CRLF lines, so that
// a 40 MB message never sits whole in the test's memory either.
func lines(w io.Writer, n int) error {
	line := bytes.Repeat([]byte("0123456789"), 8)[:76]
	line = append(line, '\r', '\n')
	for n > 0 {
		k := min(n, len(line))
		if _, err := w.Write(line[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// TestFortyMegabyteMessage sends a 40 MB message with the go-smtp client and
// reads it back from the store byte for byte (by hash), after our trace
// fields: streamed straight into storage without checks, and staged in the
// store (read there by the checks, then committed) with them.
func TestFortyMegabyteMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("40 MB message skipped in -short mode")
	}
	t.Run("unchecked", func(t *testing.T) { fortyMegabytes(t, newEnv(t, nil)) })
	t.Run("checked", func(t *testing.T) { fortyMegabytes(t, newInboundEnv(t, "", nil).testEnv) })
}

func fortyMegabytes(t *testing.T, e *testEnv) {
	const size = 40 << 20
	head := "X-Test-Begin: 1\r\nSubject: forty megabytes\r\n\r\n"

	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("sender@remote.test", &smtp.MailOptions{Size: size}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(alice, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	sent := sha256.New()
	mw := io.MultiWriter(w, sent)
	io.WriteString(mw, head)
	// Whole lines only: DATA ends every message with CRLF.
	bodyLen := (size - len(head)) / 78 * 78
	total := int64(len(head) + bodyLen)
	if err := lines(mw, bodyLen); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA of 40 MB: %v", err)
	}
	c.Quit()

	acct, _ := e.st.Account(alice)
	in, _ := e.st.Mailbox(acct.ID, storage.InboxName)
	msgs, err := e.st.Messages(acct.ID, in.ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("inbox: %d messages, %v", len(msgs), err)
	}
	body, err := e.st.OpenBody(msgs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	prefix := make([]byte, 4096)
	if _, err := body.ReadAt(prefix, 0); err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(prefix, []byte("X-Test-Begin: 1\r\n"))
	if start <= 0 {
		t.Fatalf("our message does not follow the trace fields:\n%q", prefix[:200])
	}
	got := sha256.New()
	if _, err := io.Copy(got, io.NewSectionReader(body, int64(start), body.Size()-int64(start))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) || body.Size()-int64(start) != total {
		t.Fatalf("stored message differs: %d bytes after the trace fields, sent %d", body.Size()-int64(start), total)
	}
}
