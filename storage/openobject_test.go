package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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
	var ids []ObjectID
	var wants [][]byte
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
		ids, wants = append(ids, m.Object), append(wants, wantBytes)
	}
	// The same through a scan, forwards and backwards; its bodies outlive
	// it, and it does not see what came after it began.
	scan := st.ScanObjects()
	var scanned []*Body
	for _, k := range []int{0, 1, 2, 3, 1, 0} {
		_, sb, err := scan.Open(ids[k], k%2 == 0)
		if err != nil {
			t.Fatalf("scan of body %d: %v", k, err)
		}
		scanned = append(scanned, sb)
	}
	ds, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: a.ID}}}, strings.NewReader("Subject: later\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if later, err := st.Message(a.ID, ds[0].Mailbox, ds[0].UID); err != nil {
		t.Fatal(err)
	} else if _, _, err := scan.Open(later.Object, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the scan opened a body stored after it began: %v", err)
	}
	scan.Close()
	for i, k := range []int{0, 1, 2, 3, 1, 0} {
		got, err := io.ReadAll(scanned[i].Reader())
		if err != nil || !bytes.Equal(got, wants[k]) {
			t.Fatalf("scanned body %d: %d bytes, want %d: %v", k, len(got), len(wants[k]), err)
		}
		scanned[i].Close()
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

// ScanEnvelopes answers as Envelope does whatever the order of the ids:
// ascending (stepping), backwards, far jumps (seeking), repeats, and ids
// that do not exist.
func TestScanEnvelopes(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	a, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	var ids []ObjectID
	for i := range 200 {
		ds, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: a.ID}}},
			strings.NewReader(fmt.Sprintf("Subject: message %d\r\n\r\nx\r\n", i)))
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.Message(a.ID, ds[0].Mailbox, ds[0].UID)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Object)
	}
	last := ids[len(ids)-1]
	orders := map[string][]ObjectID{
		"ascending":  ids,
		"descending": reversed(ids),
		"every 70th": {ids[0], ids[70], ids[140], ids[199]},
		"repeats":    {ids[5], ids[5], ids[4], ids[5]},
		"missing":    {0, ids[3], last + 1, ids[4], last + 1000, ids[2]},
	}
	for name, order := range orders {
		r, done := st.ScanEnvelopes()
		for _, id := range order {
			got, err := r.Envelope(id)
			want, werr := st.Envelope(id)
			if (err == nil) != (werr == nil) || (err != nil && !errors.Is(err, ErrNotFound)) {
				t.Fatalf("%s: object %d: %v, want %v", name, id, err, werr)
			}
			if err == nil && got.Subject != want.Subject {
				t.Fatalf("%s: object %d: subject %q, want %q", name, id, got.Subject, want.Subject)
			}
		}
		done()
	}
}

func reversed(ids []ObjectID) []ObjectID {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}
