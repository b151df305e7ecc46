package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// restoreParts applies the streams in order into a fresh folder, verifies
// against the last one's summary and returns the opened store.
func restoreParts(t *testing.T, parts ...[]byte) (*storage.Store, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	r, err := storage.NewRestore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if _, err := r.Apply(ctx, bytes.NewReader(p)); err != nil {
			r.Close()
			return nil, err
		}
	}
	if err := r.Verify(ctx, nil); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return storagetest.OpenOptions(t, storage.Options{Dir: dir}), nil
}

func backup(t *testing.T, st *storage.Store, since uint64) ([]byte, *storage.BackupSummary) {
	t.Helper()
	var b bytes.Buffer
	sum, err := st.Backup(ctx, &b, since)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), sum
}

func uids(t *testing.T, st *storage.Store, acct storage.AccountID, mbox string) string {
	t.Helper()
	mb, err := st.Mailbox(acct, mbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(acct, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v%d n%d:", mb.UIDValidity, mb.UIDNext)
	for _, m := range msgs {
		fmt.Fprintf(&b, " %d/%d/%v", m.UID, m.Flags, m.Keywords)
	}
	return b.String()
}

// TestBackupIncrementalChain: a full backup, then changes (new mail,
// flags, an expunge whose body is erased), then an incremental: the chain
// restores to the second state, deletions included; parts out of order,
// a missing part and a cut stream are refused with words.
func TestBackupIncrementalChain(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "alice@example.com")
	for i := 0; i < 5; i++ {
		deliver(t, st, fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i), a.ID)
	}
	full, s1 := backup(t, st, 0)
	before := uids(t, st, a.ID, "INBOX")

	in := inbox(t, st, a.ID)
	if _, err := st.SetFlags(a.ID, in.ID, []uint32{2}, storage.FlagsAdd, storage.FlagSeen, []string{"$Work"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(a.ID, in.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	deliver(t, st, "Subject: new\r\n\r\nafter the full backup\r\n", a.ID)
	incr, s2 := backup(t, st, s1.Until+1)
	if s2.Changed >= s2.Keys {
		t.Errorf("incremental rewrote %d of %d records", s2.Changed, s2.Keys)
	}
	after := uids(t, st, a.ID, "INBOX")

	got, err := restoreParts(t, full)
	if err != nil {
		t.Fatal(err)
	}
	if u := uids(t, got, a.ID, "INBOX"); u != before {
		t.Errorf("full restore: %s, want %s", u, before)
	}
	got, err = restoreParts(t, full, incr)
	if err != nil {
		t.Fatal(err)
	}
	if u := uids(t, got, a.ID, "INBOX"); u != after {
		t.Errorf("chain restore: %s, want %s", u, after)
	}

	bad := []struct {
		name  string
		parts [][]byte
		want  string
	}{
		{"incremental alone", [][]byte{incr}, "needs its full backup"},
		{"twice the incremental", [][]byte{full, incr, incr}, "missing or out of order"},
		{"cut short", [][]byte{full[:len(full)/2]}, "cut short"},
		{"not a backup", [][]byte{[]byte("hello")}, "does not start like one"},
		{"newer format", [][]byte{append([]byte("postroom-store\n\x09"), full[16:]...)}, "newer than this program"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := restoreParts(t, c.parts...)
			if !errors.Is(err, storage.ErrBackupFormat) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
		})
	}
}

// TestBackupVerifyNoticesDifference: a summary from another snapshot
// does not match the restored store, and the message says how.
func TestBackupVerifyNoticesDifference(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "bob@example.com")
	deliver(t, st, "Subject: x\r\n\r\nx\r\n", a.ID)
	full, _ := backup(t, st, 0)
	deliver(t, st, "Subject: y\r\n\r\ny\r\n", a.ID)
	_, later := backup(t, st, 0)

	r, err := storage.NewRestore(filepath.Join(t.TempDir(), "s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Apply(ctx, bytes.NewReader(full)); err != nil {
		t.Fatal(err)
	}
	err = r.Verify(ctx, later)
	if err == nil || !strings.Contains(err.Error(), "mailbox INBOX of bob@example.com: UIDVALIDITY") && !strings.Contains(err.Error(), "messages in the backup") {
		t.Errorf("verify against a later snapshot: %v", err)
	}
}

// TestRecreateMailbox: a mailbox made anew with its old UIDVALIDITY takes
// messages at their old UIDs, in order only; UIDNEXT goes back up; the
// account's next UIDVALIDITY passes the old one.
func TestRecreateMailbox(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "carol@example.com")
	mb, err := st.RecreateMailbox(a.ID, "Old/Projects", "", true, 4000000000)
	if err != nil || mb.UIDValidity != 4000000000 || !mb.Subscribed {
		t.Fatalf("recreate: %+v %v", mb, err)
	}
	if _, err := st.RecreateMailbox(a.ID, "Old/Projects", "", false, 7); !errors.Is(err, storage.ErrMailboxExists) {
		t.Errorf("recreate twice: %v", err)
	}
	for _, uid := range []uint32{3, 9} {
		if _, err := st.AppendUID(ctx, a.ID, "Old/Projects", uid, storage.FlagSeen, []string{"$x"}, time.Unix(1e9, 0), strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", uid))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AppendUID(ctx, a.ID, "Old/Projects", 5, 0, nil, time.Time{}, strings.NewReader("Subject: late\r\n\r\nx\r\n")); err == nil || !strings.Contains(err.Error(), "below UIDNEXT") {
		t.Errorf("a UID below UIDNEXT: %v", err)
	}
	if err := st.RaiseUIDNext(a.ID, "Old/Projects", 20); err != nil {
		t.Fatal(err)
	}
	if err := st.RaiseUIDNext(a.ID, "Old/Projects", 15); err != nil {
		t.Fatal(err)
	}
	if u := uids(t, st, a.ID, "Old/Projects"); u != "v4000000000 n20: 3/1/[$x] 9/1/[$x]" {
		t.Errorf("mailbox: %s", u)
	}
	next, err := st.CreateMailbox(a.ID, "New", "")
	if err != nil || next.UIDValidity <= 4000000000 {
		t.Errorf("next mailbox: %+v %v", next, err)
	}
	d, err := st.Append(ctx, a.ID, "Old/Projects", 0, nil, time.Time{}, strings.NewReader("Subject: new\r\n\r\nx\r\n"))
	if err != nil || d.UID != 20 {
		t.Errorf("append after: %+v %v", d, err)
	}
}
