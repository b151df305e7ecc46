package storage

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// OpenObject reads the record and the body in one go; the body reads the
// same bytes as OpenBody's across chunk boundaries, and fails after Close
// (its buffer is back in the pool, shared with other readers).
func TestOpenObject(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	a, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{10, chunkSize - 20, chunkSize, 3*chunkSize + 7} {
		body := "Subject: s\r\n\r\n" + strings.Repeat("0123456789abcde\r\n", size/17+1)
		ds, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: a.ID}}}, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.Message(a.ID, ds[0].Mailbox, ds[0].UID)
		if err != nil {
			t.Fatal(err)
		}
		want, err := st.Object(m.Object)
		if err != nil {
			t.Fatal(err)
		}
		obj, b, err := st.OpenObject(m.Object)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(b.Reader())
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := st.OpenBody(m.Object)
		wantBytes, _ := io.ReadAll(ref.Reader())
		ref.Close()
		if !bytes.Equal(got, wantBytes) || int64(len(got)) != m.Size || obj.Size != want.Size || obj.Structure == nil || obj.Envelope.Subject != "s" {
			t.Fatalf("size %d: read %d bytes (want %d), object %+v", size, len(got), len(wantBytes), obj)
		}
		b.Close()
		if _, err := b.ReadAt(make([]byte, 1), 0); err == nil {
			t.Fatalf("size %d: read after Close", size)
		}
	}
	if _, _, err := st.OpenObject(999999); err == nil {
		t.Fatal("opened a missing object")
	}
	st.pinsMu.Lock()
	defer st.pinsMu.Unlock()
	if len(st.pins) != 0 {
		t.Fatalf("pins left: %v", st.pins)
	}
}
