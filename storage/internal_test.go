package storage

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := Open(Options{Dir: dir, NoGC: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Check must fail on every kind of damage it claims to find, or it proves
// nothing when it passes.
func TestCheckFindsDamage(t *testing.T) {
	cases := []struct {
		name, want string
		damage     func(txn *badger.Txn, a AccountID, mb *Mailbox, m *Message) error
	}{
		{"mailbox count", "counts", func(txn *badger.Txn, a AccountID, mb *Mailbox, m *Message) error {
			mb.Unseen++
			return putMailbox(txn, a, mb)
		}},
		{"uid above uidnext", "UIDNEXT", func(txn *badger.Txn, a AccountID, mb *Mailbox, m *Message) error {
			mb.UIDNext = 1
			return putMailbox(txn, a, mb)
		}},
		{"modseq index", "MODSEQ", func(txn *badger.Txn, a AccountID, mb *Mailbox, m *Message) error {
			return txn.Delete(keys.ModSeq(uint64(a), uint64(mb.ID), m.ModSeq, m.UID))
		}},
		{"refcount", "reference count", func(txn *badger.Txn, a AccountID, mb *Mailbox, m *Message) error {
			return addRef(txn, m.Object, +1)
		}},
		{"missing chunk", "chunks", func(txn *badger.Txn, a AccountID, mb *Mailbox, m *Message) error {
			return txn.Delete(keys.Chunk(uint64(m.Object), 0))
		}},
		{"address index", "address", func(txn *badger.Txn, a AccountID, mb *Mailbox, m *Message) error {
			return txn.Delete(keys.Address("a@example.test"))
		}},
		{"name index", "name index", func(txn *badger.Txn, a AccountID, mb *Mailbox, m *Message) error {
			return txn.Delete(keys.MailboxName(uint64(a), "INBOX"))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := openT(t, t.TempDir())
			defer st.Close()
			acct, err := st.CreateAccount("a@example.test", "password-a")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: acct.ID}}}, strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
				t.Fatal(err)
			}
			if err := st.Check(context.Background()); err != nil {
				t.Fatalf("healthy store: %v", err)
			}
			mb, _ := st.Mailbox(acct.ID, "INBOX")
			m, _ := st.Message(acct.ID, mb.ID, 1)
			if err := st.db.Update(func(txn *badger.Txn) error { return c.damage(txn, acct.ID, &mb, &m) }); err != nil {
				t.Fatal(err)
			}
			err = st.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("check: %v, want a problem mentioning %q", err, c.want)
			}
		})
	}
}

// A crash after staging a large body but before any recipient committed
// leaves chunks under a staged marker; the next Open frees them.
func TestSweepFreesStagedBodies(t *testing.T) {
	dir := t.TempDir()
	st := openT(t, dir)
	obj, err := st.readBody(context.Background(), strings.NewReader(strings.Repeat("x", 3<<20)), 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !obj.staged {
		t.Fatal("a 3 MB body should be staged")
	}
	count := func(st *Store, tag byte) int {
		n := 0
		st.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.Prefix(tag)})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		})
		return n
	}
	if count(st, keys.TagChunk) != 48 || count(st, keys.TagStaged) != 1 {
		t.Fatalf("staged: %d chunks %d markers", count(st, keys.TagChunk), count(st, keys.TagStaged))
	}
	if err := st.Check(context.Background()); err != nil {
		t.Fatalf("staged body is a legal state: %v", err)
	}
	st.Close() // the "crash": nothing committed the body
	st = openT(t, dir)
	defer st.Close()
	if count(st, keys.TagChunk) != 0 || count(st, keys.TagStaged) != 0 {
		t.Fatal("sweep left staged data")
	}
	if err := st.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// refNormalize is the obvious byte-at-a-time CRLF normalisation.
func refNormalize(in []byte) []byte {
	var out []byte
	for i := 0; i < len(in); i++ {
		switch {
		case in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case in[i] == '\r' || in[i] == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, in[i])
		}
	}
	return out
}

// FuzzCRLFNormalizer checks the streaming normaliser against refNormalize
// for every way of splitting the input into two reads.
func FuzzCRLFNormalizer(f *testing.F) {
	for _, s := range []string{"a\r\nb", "a\nb\rc\r", "\r\r\n\n", "", "\r", "x\r\n.\r\n"} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		cut := int(split) % (len(in) + 1)
		var n crlfNormalizer
		out := n.append(nil, in[:cut])
		out = n.append(out, in[cut:])
		out = n.flush(out)
		if want := refNormalize(in); string(out) != string(want) {
			t.Fatalf("normalise %q (split %d) = %q, want %q", in, cut, out, want)
		}
	})
}

// TrimMemory must find the database's mappings (on Linux) and leave the
// store fully working: paged-out data comes back from disk.
func TestTrimMemory(t *testing.T) {
	st := openT(t, t.TempDir())
	defer st.Close()
	acct, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("line of text\r\n", 10000)
	dv, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: acct.ID}}}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	n, err := pageOutMappings(st.dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && n == 0 {
		t.Error("no store mapping found to page out")
	}
	st.TrimMemory()
	m, err := st.Message(acct.ID, dv[0].Mailbox, dv[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.OpenBody(m.Object)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := io.ReadAll(b.Reader())
	if err != nil || string(got) != body {
		t.Fatalf("body after trim: %d bytes, %v", len(got), err)
	}
	if err := st.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Value-log GC must give back the space of deleted mail (Badger never
// shrinks its value log by itself) without touching live messages.
func TestValueLogGCReclaimsDeletedMail(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	dir := t.TempDir()
	st := openT(t, dir)
	defer func() { st.Close() }()
	acct, err := st.CreateAccount("a@example.test", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	keep := strings.Repeat("keep me\r\n", 1000)
	if _, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: acct.ID}}}, strings.NewReader(keep)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 1<<20/80*2) // about 2 MB
	var uids []uint32
	for i := 0; i < 50; i++ {
		dv, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: acct.ID}}}, strings.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, dv[0].UID)
	}
	in, _ := st.Mailbox(acct.ID, InboxName)
	if _, err := st.Expunge(acct.ID, in.ID, uids); err != nil {
		t.Fatal(err)
	}
	if err := st.eraseQueued(); err != nil {
		t.Fatal(err)
	}
	// Disk blocks really used by value-log files (they are preallocated
	// sparsely, so their sizes say little).
	vlogs := func() (n int64) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".vlog") {
				var sst syscall.Stat_t
				if syscall.Stat(filepath.Join(dir, e.Name()), &sst) == nil {
					n += sst.Blocks * 512
				}
			}
		}
		return n
	}
	before := vlogs()
	// Each reopen flushes the memtable to a level-0 table; with a few of
	// them Badger's compactor merges them down, dropping the deleted
	// versions and counting their value-log bytes as discardable, which
	// is what GC chooses files by. In the appliance this happens as mail
	// comes and goes; here a few reopens make it happen now.
	for i := 0; i < 3; i++ {
		st.Close()
		st = openT(t, dir)
		if _, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: acct.ID}}}, strings.NewReader("Subject: nudge\r\n\r\n.\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for vlogs() > before-50<<20 && time.Now().Before(deadline) {
		st.RunGC()
		time.Sleep(100 * time.Millisecond) // the compactor runs on its own schedule
	}
	after := vlogs()
	t.Logf("value log on disk: %d bytes before GC, %d after", before, after)
	if after > before-50<<20 {
		t.Errorf("value-log GC freed only %d of 100 MB deleted", before-after)
	}
	msgs, _ := st.Messages(acct.ID, in.ID)
	b, err := st.OpenBody(msgs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, _ := io.ReadAll(b.Reader()); string(got) != keep {
		t.Fatal("the kept message changed")
	}
	if err := st.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}
