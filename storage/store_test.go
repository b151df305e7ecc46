package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

var ctx = context.Background()

func deliver(t testing.TB, st *storage.Store, body string, accts ...storage.AccountID) []storage.Delivered {
	t.Helper()
	var rcpts []storage.Recipient
	for _, a := range accts {
		rcpts = append(rcpts, storage.Recipient{Account: a})
	}
	out, err := st.Deliver(ctx, storage.Delivery{Recipients: rcpts}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	return out
}

func readBody(t testing.TB, st *storage.Store, id storage.ObjectID) []byte {
	t.Helper()
	b, err := st.OpenBody(id)
	if err != nil {
		t.Fatalf("open body: %v", err)
	}
	defer b.Close()
	data, err := io.ReadAll(b.Reader())
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if int64(len(data)) != b.Size() {
		t.Fatalf("body size %d, read %d", b.Size(), len(data))
	}
	return data
}

func inbox(t testing.TB, st *storage.Store, acct storage.AccountID) storage.Mailbox {
	t.Helper()
	mb, err := st.Mailbox(acct, "INBOX")
	if err != nil {
		t.Fatalf("inbox: %v", err)
	}
	return mb
}

func TestAccounts(t *testing.T) {
	st := storagetest.Open(t)
	alice := storagetest.Account(t, st, "Alice@Example.TEST")
	if alice.Name != "alice@example.test" {
		t.Fatalf("name not normalised: %q", alice.Name)
	}
	if _, err := st.CreateAccount("alice@example.test", "another-password"); !errors.Is(err, storage.ErrAccountExists) {
		t.Fatalf("duplicate account: %v", err)
	}
	if _, err := st.CreateAccount("bob@example.test", "short"); !errors.Is(err, storage.ErrInvalidPassword) {
		t.Fatalf("short password: %v", err)
	}
	if _, err := st.CreateAccount("not-an-address", "long-enough-pw"); err == nil {
		t.Fatal("account without domain accepted")
	}
	if _, err := st.Authenticate("alice@example.test", "password-Alice@Example.TEST"); err != nil {
		t.Fatalf("auth: %v", err)
	}
	for _, c := range []struct{ login, pw string }{
		{"alice@example.test", "wrong-password"},
		{"nobody@example.test", "password-Alice@Example.TEST"},
		{"", ""},
	} {
		if _, err := st.Authenticate(c.login, c.pw); !errors.Is(err, storage.ErrAuthFailed) {
			t.Errorf("auth %q: %v, want ErrAuthFailed", c.login, err)
		}
	}
	if err := st.SetPassword("alice@example.test", "a-new-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate("ALICE@example.test", "a-new-password"); err != nil {
		t.Fatalf("auth after passwd: %v", err)
	}

	bob := storagetest.Account(t, st, "bob@example.test")
	if err := st.AddAddress("alice@example.test", "sales@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := st.AddAddress("bob@example.test", "sales@example.test"); !errors.Is(err, storage.ErrAddressTaken) {
		t.Fatalf("alias taken twice: %v", err)
	}
	if err := st.AddAddress("bob@example.test", "@other.test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr string
		want storage.AccountID
		err  error
	}{
		{"alice@example.test", alice.ID, nil},
		{"ALICE@EXAMPLE.TEST.", alice.ID, nil},
		{"alice+news@example.test", alice.ID, nil},
		{"sales@example.test", alice.ID, nil},
		{"anyone@other.test", bob.ID, nil},
		{"nobody@example.test", 0, storage.ErrUnknownAddress},
		{"alice@elsewhere.test", 0, storage.ErrUnknownAddress},
		{"@example.test", 0, storage.ErrUnknownAddress},
		{"bad address@example.test", 0, storage.ErrUnknownAddress},
	} {
		got, err := st.Resolve(c.addr)
		if !errors.Is(err, c.err) || (c.err == nil && got != c.want) {
			t.Errorf("Resolve(%q) = %d, %v; want %d, %v", c.addr, got, err, c.want, c.err)
		}
	}
	for d, want := range map[string]bool{"example.test": true, "OTHER.test.": true, "elsewhere.test": false, "": false} {
		if got := st.IsLocalDomain(d); got != want {
			t.Errorf("IsLocalDomain(%q) = %v", d, got)
		}
	}
	if err := st.RemoveAddress("alice@example.test"); err == nil {
		t.Error("removed an account's own name")
	}
	if err := st.RemoveAddress("@other.test"); err != nil {
		t.Fatal(err)
	}
	if st.IsLocalDomain("other.test") {
		t.Error("domain still local after its last address went")
	}
	if err := st.SetQuota("bob@example.test", 1000); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckQuota(bob.ID, 2000); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("quota: %v", err)
	}
	if err := st.SetAdmin("alice@example.test", true); err != nil {
		t.Fatal(err)
	}
	if a, err := st.AccountByID(alice.ID); err != nil || !a.Admin {
		t.Errorf("alice after SetAdmin: %+v %v", a, err)
	}
	if b, err := st.AccountByID(bob.ID); err != nil || b.Admin {
		t.Errorf("bob is an admin too: %+v %v", b, err)
	}
	deliver(t, st, "Subject: hi\r\n\r\nbody\r\n", bob.ID, alice.ID)
	if err := st.DeleteAccount("bob@example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Resolve("bob@example.test"); !errors.Is(err, storage.ErrUnknownAddress) {
		t.Errorf("deleted account still resolves: %v", err)
	}
	accts, err := st.Accounts()
	if err != nil || len(accts) != 1 || accts[0].Messages != 1 {
		t.Fatalf("accounts after delete: %+v %v", accts, err)
	}
}

func TestMailboxes(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	mbs, err := st.Mailboxes(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mb := range mbs {
		got[mb.Name] = mb.SpecialUse
		if !mb.Subscribed || mb.UIDNext != 1 || mb.UIDValidity == 0 {
			t.Errorf("default mailbox %+v", mb)
		}
	}
	want := map[string]string{"INBOX": "", "Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Junk": `\Junk`, "Archive": `\Archive`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("defaults %v", got)
	}

	for _, name := range []string{"", "/x", "x/", "a//b", "a*b", "a%b", "bad\x00", "\xff"} {
		if _, err := st.CreateMailbox(a.ID, name, ""); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("create %q: %v", name, err)
		}
	}
	if _, err := st.CreateMailbox(a.ID, "inbox", ""); !errors.Is(err, storage.ErrMailboxExists) {
		t.Errorf("create inbox: %v", err)
	}
	for _, n := range []string{"Projects", "Projects/2026", "Projects/2026/Q1", "ProjectsX"} {
		if _, err := st.CreateMailbox(a.ID, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	p26, _ := st.Mailbox(a.ID, "Projects/2026")
	if err := st.RenameMailbox(a.ID, "Projects", "Work"); err != nil {
		t.Fatal(err)
	}
	w26, err := st.Mailbox(a.ID, "Work/2026")
	if err != nil || w26.ID != p26.ID || w26.UIDValidity != p26.UIDValidity {
		t.Fatalf("child not renamed with its parent: %+v %v", w26, err)
	}
	if _, err := st.Mailbox(a.ID, "Work/2026/Q1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Mailbox(a.ID, "ProjectsX"); err != nil {
		t.Fatalf("sibling with a common prefix renamed too: %v", err)
	}
	if err := st.RenameMailbox(a.ID, "Work", "Work/Sub"); !errors.Is(err, storage.ErrInvalidName) {
		t.Errorf("rename into itself: %v", err)
	}
	if err := st.RenameMailbox(a.ID, "Work", "Sent"); !errors.Is(err, storage.ErrMailboxExists) {
		t.Errorf("rename onto existing: %v", err)
	}
	if err := st.RenameMailbox(a.ID, "Nope", "Other"); !errors.Is(err, storage.ErrNoMailbox) {
		t.Errorf("rename missing: %v", err)
	}

	// RFC 9051 6.3.6: renaming INBOX moves its messages; INBOX stays.
	deliver(t, st, "Subject: 1\r\n\r\none\r\n", a.ID)
	deliver(t, st, "Subject: 2\r\n\r\ntwo\r\n", a.ID)
	if err := st.RenameMailbox(a.ID, "INBOX", "Old Inbox"); err != nil {
		t.Fatal(err)
	}
	if in := inbox(t, st, a.ID); in.Messages != 0 || in.UIDNext != 3 {
		t.Fatalf("INBOX after rename: %+v", in)
	}
	old, err := st.Mailbox(a.ID, "Old Inbox")
	if err != nil || old.Messages != 2 {
		t.Fatalf("renamed INBOX: %+v %v", old, err)
	}

	if err := st.DeleteMailbox(a.ID, "INBOX"); !errors.Is(err, storage.ErrMailboxSpecial) {
		t.Errorf("delete INBOX: %v", err)
	}
	if err := st.DeleteMailbox(a.ID, "Old Inbox"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMailbox(a.ID, "Work"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Mailbox(a.ID, "Work/2026"); err != nil {
		t.Errorf("child deleted with its parent: %v", err)
	}
	if err := st.SetSubscribed(a.ID, "Work/2026", false); err != nil {
		t.Fatal(err)
	}
	if mb, _ := st.Mailbox(a.ID, "Work/2026"); mb.Subscribed {
		t.Error("still subscribed")
	}
	acct, _ := st.AccountByID(a.ID)
	if acct.Messages != 0 || acct.Usage != 0 {
		t.Errorf("usage after deleting the mailbox: %+v", acct)
	}
}

func TestDeliverByteExact(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	cases := []struct{ name, in, want string }{
		{"crlf", "Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n"},
		{"bare lf", "Subject: x\n\nbody\nline2\n", "Subject: x\r\n\r\nbody\r\nline2\r\n"},
		{"bare cr", "Subject: x\r\rbody\r", "Subject: x\r\n\r\nbody\r\n"},
		{"no trailing newline", "Subject: x\r\n\r\nlast line", "Subject: x\r\n\r\nlast line"},
		{"nul bytes", "Subject: x\r\n\r\na\x00b\r\n", "Subject: x\r\n\r\na\x00b\r\n"},
		{"8-bit header", "Subject: caf\xc3\xa9 \xff\r\n\r\n\xe9t\xe9\r\n", "Subject: caf\xc3\xa9 \xff\r\n\r\n\xe9t\xe9\r\n"},
		{"broken mime", "Content-Type: multipart/mixed; boundary=\"x\r\n\r\n--x\r\nno end", "Content-Type: multipart/mixed; boundary=\"x\r\n\r\n--x\r\nno end"},
		{"empty", "", ""},
		{"only header", "Subject: x", "Subject: x"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dv := deliver(t, st, c.in, a.ID)
			if dv[0].UID != uint32(i+1) {
				t.Fatalf("UID %d, want %d", dv[0].UID, i+1)
			}
			m, err := st.Message(a.ID, dv[0].Mailbox, dv[0].UID)
			if err != nil {
				t.Fatal(err)
			}
			if got := readBody(t, st, m.Object); string(got) != c.want {
				t.Fatalf("stored %q, want %q", got, c.want)
			}
			obj, err := st.Object(m.Object)
			if err != nil || obj.Size != int64(len(c.want)) || m.Size != obj.Size || obj.Structure == nil || obj.Envelope == nil {
				t.Fatalf("object %+v %v", obj, err)
			}
			if obj.SHA256 != sha256.Sum256([]byte(c.want)) {
				t.Error("sha256 mismatch")
			}
			wantLines := strings.Count(c.want, "\n")
			if c.want != "" && !strings.HasSuffix(c.want, "\n") {
				wantLines++
			}
			if obj.Lines != int64(wantLines) {
				t.Errorf("lines %d, want %d", obj.Lines, wantLines)
			}
		})
	}
	mb := inbox(t, st, a.ID)
	if mb.Messages != uint32(len(cases)) || mb.Unseen != uint32(len(cases)) || mb.UIDNext != uint32(len(cases)+1) {
		t.Errorf("inbox counts %+v", mb)
	}
}

func TestDeliverSharedBody(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	b := storagetest.Account(t, st, "b@example.test")
	if err := st.AddAddress("a@example.test", "alias@example.test"); err != nil {
		t.Fatal(err)
	}
	dv, err := st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}, {Account: b.ID}, {Account: a.ID}}},
		strings.NewReader("Subject: team\r\n\r\nhello\r\n"))
	if err != nil || len(dv) != 2 {
		t.Fatalf("deliver: %v %+v", err, dv)
	}
	ma, _ := st.Message(a.ID, dv[0].Mailbox, dv[0].UID)
	mb, _ := st.Message(b.ID, dv[1].Mailbox, dv[1].UID)
	if ma.Object != mb.Object {
		t.Fatal("body stored twice")
	}
	if obj, _ := st.Object(ma.Object); obj.RefCount != 2 {
		t.Fatalf("refcount %d", obj.RefCount)
	}
	// Junk delivery by mailbox name; a missing mailbox falls back to INBOX.
	dv, err = st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID, Mailbox: "Junk"}, {Account: b.ID, Mailbox: "Nope"}}},
		strings.NewReader("Subject: spam\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	junk, _ := st.Mailbox(a.ID, "Junk")
	if dv[0].Mailbox != junk.ID || dv[1].Mailbox != inbox(t, st, b.ID).ID {
		t.Errorf("mailboxes %+v", dv)
	}
}

// fakeMessage generates a large message without holding it in memory.
type fakeMessage struct {
	n, size int64
}

func (f *fakeMessage) Read(p []byte) (int, error) {
	if f.n >= f.size {
		return 0, io.EOF
	}
	hdr := "Subject: big\r\nContent-Type: text/plain\r\n\r\n"
	i := 0
	for ; i < len(p) && f.n < f.size; i++ {
		if f.n < int64(len(hdr)) {
			p[i] = hdr[f.n]
		} else if f.n%80 == 78 {
			p[i] = '\r'
		} else if f.n%80 == 79 {
			p[i] = '\n'
		} else {
			p[i] = byte('a' + f.n%26)
		}
		f.n++
	}
	return i, nil
}

func TestLargeMessageStreamed(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	const size = 40 << 20
	h := sha256.New()
	io.Copy(h, &fakeMessage{size: size})
	dv, err := st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}}, &fakeMessage{size: size})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.Message(a.ID, dv[0].Mailbox, dv[0].UID)
	obj, _ := st.Object(m.Object)
	if obj.Size != size || !bytes.Equal(obj.SHA256[:], h.Sum(nil)) {
		t.Fatalf("size %d", obj.Size)
	}
	body, err := st.OpenBody(m.Object)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	h2 := sha256.New()
	if _, err := io.Copy(h2, body.Reader()); err != nil || !bytes.Equal(h2.Sum(nil), h.Sum(nil)) {
		t.Fatalf("read back differs: %v", err)
	}
	// OpenObjectBody reads the same bytes without reading the record again.
	ob := st.OpenObjectBody(obj)
	defer ob.Close()
	h3 := sha256.New()
	if _, err := io.Copy(h3, ob.Reader()); err != nil || ob.Size() != size || !bytes.Equal(h3.Sum(nil), h.Sum(nil)) {
		t.Fatalf("OpenObjectBody read back differs: %v, size %d", err, ob.Size())
	}
	// Random access across a chunk boundary.
	p := make([]byte, 10)
	if _, err := body.ReadAt(p, 64<<10-5); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 64<<10+5)
	io.ReadFull(&fakeMessage{size: size}, want)
	if !bytes.Equal(p, want[64<<10-5:]) {
		t.Fatalf("ReadAt %q want %q", p, want[64<<10-5:])
	}
}

func TestTooLargeLeavesNothing(t *testing.T) {
	st := storagetest.OpenOptions(t, storage.Options{MaxMessageSize: 3 << 20})
	a := storagetest.Account(t, st, "a@example.test")
	_, err := st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}}, &fakeMessage{size: 5 << 20})
	if !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	if mb := inbox(t, st, a.ID); mb.Messages != 0 {
		t.Fatal("message stored")
	}
	// The staged chunks are queued for erasing; Check at cleanup verifies.
}

func TestFlagsCopyMoveExpunge(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	for i := 0; i < 5; i++ {
		deliver(t, st, fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i), a.ID)
	}
	in := inbox(t, st, a.ID)
	w := st.Watch(a.ID)
	defer w.Close()

	got, err := st.SetFlags(a.ID, in.ID, []uint32{1, 2, 99}, storage.FlagsAdd, storage.FlagSeen|storage.FlagDeleted, []string{"$Label1"})
	if err != nil || len(got) != 2 {
		t.Fatalf("set flags: %v %+v", err, got)
	}
	if got[0].Flags != storage.FlagSeen|storage.FlagDeleted || !slices.Equal(got[0].Keywords, []string{"$Label1"}) {
		t.Errorf("flags %+v", got[0])
	}
	before := got[0].ModSeq
	again, _ := st.SetFlags(a.ID, in.ID, []uint32{1}, storage.FlagsAdd, storage.FlagSeen, nil)
	if again[0].ModSeq != before {
		t.Error("unchanged flags got a new MODSEQ")
	}
	if _, err := st.SetFlags(a.ID, in.ID, []uint32{2}, storage.FlagsRemove, storage.FlagSeen, []string{"$Label1"}); err != nil {
		t.Fatal(err)
	}
	in = inbox(t, st, a.ID)
	if in.Unseen != 4 || in.Deleted != 2 || in.HighestModSeq <= before {
		t.Fatalf("counts %+v", in)
	}

	dst, src, dstUIDs, err := st.Copy(a.ID, in.ID, []uint32{3, 4, 42}, "Archive")
	if err != nil || !slices.Equal(src, []uint32{3, 4}) || !slices.Equal(dstUIDs, []uint32{1, 2}) || dst.Messages != 2 {
		t.Fatalf("copy: %v %v %v %+v", err, src, dstUIDs, dst)
	}
	m3, _ := st.Message(a.ID, in.ID, 3)
	if obj, _ := st.Object(m3.Object); obj.RefCount != 2 {
		t.Fatalf("copy did not share the body: refs %d", obj.RefCount)
	}
	dst, src, dstUIDs, err = st.Move(a.ID, in.ID, []uint32{5}, "Archive")
	if err != nil || !slices.Equal(src, []uint32{5}) || !slices.Equal(dstUIDs, []uint32{3}) || dst.Messages != 3 {
		t.Fatalf("move: %v %v %v %+v", err, src, dstUIDs, dst)
	}
	if _, err := st.Message(a.ID, in.ID, 5); !errors.Is(err, storage.ErrNotFound) {
		t.Error("moved message still in source")
	}
	gone, err := st.Expunge(a.ID, in.ID, nil)
	if err != nil || !slices.Equal(gone, []uint32{1, 2}) {
		t.Fatalf("expunge: %v %v", err, gone)
	}
	gone, err = st.Expunge(a.ID, in.ID, []uint32{4, 4, 77})
	if err != nil || !slices.Equal(gone, []uint32{4}) {
		t.Fatalf("expunge uids: %v %v", err, gone)
	}
	msgs, _ := st.Messages(a.ID, in.ID)
	if len(msgs) != 1 || msgs[0].UID != 3 {
		t.Fatalf("left %+v", msgs)
	}

	// Events arrive after commit, in order.
	var kinds []string
	for {
		evs, overflow := w.Next()
		if overflow {
			t.Fatal("overflow")
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			kinds = append(kinds, fmt.Sprintf("%s:%d:%d", e.Kind, e.Mailbox, e.Message.UID))
		}
	}
	arch, _ := st.Mailbox(a.ID, "Archive")
	want := []string{
		fmt.Sprintf("flags:%d:1", in.ID), fmt.Sprintf("flags:%d:2", in.ID), fmt.Sprintf("flags:%d:2", in.ID),
		fmt.Sprintf("added:%d:1", arch.ID), fmt.Sprintf("added:%d:2", arch.ID),
		fmt.Sprintf("added:%d:3", arch.ID), fmt.Sprintf("expunged:%d:5", in.ID),
		fmt.Sprintf("expunged:%d:1", in.ID), fmt.Sprintf("expunged:%d:2", in.ID), fmt.Sprintf("expunged:%d:4", in.ID),
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("events\n got %v\nwant %v", kinds, want)
	}
}

func TestAppendQuotaAndPin(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	if err := st.SetQuota("a@example.test", 100); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	dv, err := st.Append(ctx, a.ID, "Drafts", storage.FlagDraft|storage.FlagSeen, []string{"$Work"}, date, strings.NewReader("Subject: draft\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.Message(a.ID, dv.Mailbox, dv.UID)
	if !m.InternalDate.Equal(date) || m.Flags != storage.FlagDraft|storage.FlagSeen || m.Keywords[0] != "$Work" {
		t.Fatalf("appended %+v", m)
	}
	if _, err := st.Append(ctx, a.ID, "Drafts", 0, nil, date, strings.NewReader(strings.Repeat("x", 200))); !errors.Is(err, storage.ErrOverQuota) {
		t.Fatalf("over quota: %v", err)
	}
	if _, err := st.Append(ctx, a.ID, "Nope", 0, nil, date, strings.NewReader("x")); !errors.Is(err, storage.ErrNoMailbox) {
		t.Fatalf("missing mailbox: %v", err)
	}

	// A pinned body survives the expunge of its last message until unpinned.
	body, err := st.OpenBody(m.Object)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(a.ID, dv.Mailbox, []uint32{dv.UID}); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(body.Reader())
	if err != nil || string(data) != "Subject: draft\r\n\r\nx\r\n" {
		t.Fatalf("pinned body: %q %v", data, err)
	}
	body.Close()
}

func TestConcurrentDeliveriesDenseUIDs(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	b := storagetest.Account(t, st, "b@example.test")
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}, {Account: b.ID}}},
					strings.NewReader(fmt.Sprintf("Subject: %d-%d\r\n\r\nhello\r\n", w, i)))
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, acct := range []storage.AccountID{a.ID, b.ID} {
		in := inbox(t, st, acct)
		msgs, _ := st.Messages(acct, in.ID)
		if len(msgs) != workers*each || in.UIDNext != workers*each+1 {
			t.Fatalf("got %d messages, UIDNEXT %d", len(msgs), in.UIDNext)
		}
		for i, m := range msgs {
			if m.UID != uint32(i+1) {
				t.Fatalf("UIDs not dense: %d at %d", m.UID, i)
			}
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, st, "Subject: keep\r\n\r\nme\r\n", a.ID)
	if err := st.SetQuota("a@example.test", 100); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Mailboxes(a.ID); err == nil {
		t.Error("closed store still answers")
	}
	st2 := storagetest.OpenOptions(t, storage.Options{Dir: dir})
	in := inbox(t, st2, a.ID)
	msgs, _ := st2.Messages(a.ID, in.ID)
	if len(msgs) != 1 || string(readBody(t, st2, msgs[0].Object)) != "Subject: keep\r\n\r\nme\r\n" {
		t.Fatalf("after reopen: %+v", msgs)
	}
	// The quota is enforced after a reopen too (it is cached at open).
	if err := st2.CheckQuota(a.ID, 200); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("quota after reopen: %v", err)
	}
	if err := st2.SetQuota("a@example.test", 0); err != nil {
		t.Fatal(err)
	}
	if err := st2.CheckQuota(a.ID, 1<<40); err != nil {
		t.Errorf("no quota any more: %v", err)
	}
	// A second Open of a held directory fails with a recognisable error.
	if _, err := storage.Open(storage.Options{Dir: dir}); !storage.IsLocked(err) {
		t.Fatalf("second open: %v", err)
	}
}

func TestMarkPOPDownloaded(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	deliver(t, st, "Subject: 1\r\n\r\nx\r\n", a.ID)
	deliver(t, st, "Subject: 2\r\n\r\ny\r\n", a.ID)
	in := inbox(t, st, a.ID)
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.MarkPOPDownloaded(a.ID, in.ID, []uint32{1}, first); err != nil {
		t.Fatal(err)
	}
	// A second download keeps the first date.
	if err := st.MarkPOPDownloaded(a.ID, in.ID, []uint32{1, 2}, first.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	msgs, _ := st.Messages(a.ID, in.ID)
	if !msgs[0].POPDownloaded.Equal(first) || !msgs[1].POPDownloaded.Equal(first.Add(time.Hour)) {
		t.Fatalf("download dates %v %v", msgs[0].POPDownloaded, msgs[1].POPDownloaded)
	}
	if msgs[0].Flags&storage.FlagSeen == 0 || inbox(t, st, a.ID).Unseen != 0 {
		t.Fatal("POP3 download did not mark \\Seen")
	}
}
