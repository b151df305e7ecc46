package storage_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"postroom/storage/storagetest"
)

// TestAppendExact: a literal8 APPEND body (RFC 3516) is kept byte for
// byte, bare LF, lone CR and NUL included, inline and staged alike, while
// Append still makes every line end CRLF.
func TestAppendExact(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	binary := "a\nb\x00c\rd\r\n"
	for _, c := range []struct {
		name string
		body string
	}{
		{"inline", "Subject: b\r\n\r\n" + binary},
		{"staged", "Subject: b\r\n\r\n" + strings.Repeat(binary, 3<<20/len(binary))},
		{"no final line end", "Subject: b\r\n\r\nx\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dv, err := st.AppendExact(ctx, a.ID, "INBOX", 0, nil, date, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.Message(a.ID, dv.Mailbox, dv.UID)
			if err != nil {
				t.Fatal(err)
			}
			if got := readBody(t, st, m.Object); !bytes.Equal(got, []byte(c.body)) {
				t.Fatalf("stored %d bytes, want the %d sent unchanged", len(got), len(c.body))
			}
			if m.Size != int64(len(c.body)) {
				t.Fatalf("size %d, want %d", m.Size, len(c.body))
			}
		})
	}
	dv, err := st.Append(ctx, a.ID, "INBOX", 0, nil, date, strings.NewReader("Subject: p\n\nx\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.Message(a.ID, dv.Mailbox, dv.UID)
	if got := string(readBody(t, st, m.Object)); got != "Subject: p\r\n\r\nx\r\n" {
		t.Fatalf("Append stored %q, want CRLF line ends", got)
	}
}
