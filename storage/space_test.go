package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/internal/testutil"
	"postroom/storage/internal/keys"
)

// The full-disk tests run on a small tmpfs (testutil.SmallDisk). Their
// dangerous part runs in a child process (inChild): before the fix the store
// died of SIGBUS there, and a test must report that as a failure rather
// than take the whole test binary down.

const (
	// The store backs 24 MiB of memtable log and 2 MiB of value log and
	// keeps a 30 MiB reserve file: 128 MiB leave about 70 MiB for mail.
	diskSize  = 128 << 20
	testVLog  = 1 << 20 // small value-log files, so GC has files to rewrite
	testMinFr = 32 << 20
)

// inChild runs fn in a child process (this test binary, this test only)
// with dir in its environment, and fails if the child dies or fails.
func inChild(t *testing.T, dir string, fn func(t *testing.T, dir string)) {
	t.Helper()
	if d := os.Getenv("POSTROOM_SPACE_CHILD"); d != "" {
		fn(t, d)
		return
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "POSTROOM_SPACE_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if i := bytes.Index(out, []byte("[signal SIG")); i >= 0 {
		t.Fatalf("the store crashed on a full disk: %s\n%s", bytes.SplitN(out[i:], []byte("\n"), 2)[0], tail(out[i:]))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("the store crashed (%v) on a full disk:\n%s", ws.Signal(), tail(out))
		}
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS")) {
		t.Fatalf("child: %v\n%s", err, tail(out))
	}
	t.Logf("child:\n%s", tail(out))
}

func tail(b []byte) string {
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

func spaceOpts(dir string, t *testing.T) Options {
	return Options{
		Dir: filepath.Join(dir, "store"), MinFreeBytes: testMinFr, ValueLogFileSize: testVLog,
		Logger: slog.New(slog.NewTextHandler(testutil.LogWriter{TB: t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func spaceMessage(size, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: message %d\r\n\r\n", i)
	line := strings.Repeat("x", 76) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.String()
}

// fillingReader yields body and fills the disk once half of it is read, as
// another program writing a large file during DATA did.
type fillingReader struct {
	r      io.Reader
	read   int
	at     int
	filler string
	filled bool
}

func (f *fillingReader) Read(p []byte) (int, error) {
	if !f.filled && f.read >= f.at {
		f.filled = true
		if _, err := testutil.FillDisk(f.filler); err != nil {
			return 0, err
		}
	}
	n, err := f.r.Read(p[:min(len(p), 64<<10)])
	f.read += n
	return n, err
}

func deliverTo(st *Store, acct AccountID, body io.Reader) error {
	_, err := st.Deliver(context.Background(), Delivery{Recipients: []Recipient{{Account: acct}}}, body)
	return err
}

func checkClean(t *testing.T, st *Store) {
	t.Helper()
	if err := st.Check(context.Background()); err != nil {
		t.Error(err)
	}
}

func inboxOf(t *testing.T, st *Store, acct AccountID) (Mailbox, []Message) {
	t.Helper()
	mb, err := st.Mailbox(acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(acct, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return mb, msgs
}

// A disk that fills while a message's body is being written: the delivery
// fails with ErrDiskFull, nothing is half-stored, and the store goes on
// working (reads, a write into its backed files, Close) on the full disk.
func TestDiskFillsDuringDelivery(t *testing.T) {
	dir := os.Getenv("POSTROOM_SPACE_CHILD")
	if dir == "" {
		dir = testutil.SmallDisk(t, diskSize)
		st, err := Open(spaceOpts(dir, t))
		if err != nil {
			t.Fatal(err)
		}
		a, err := st.CreateAccount("ann@example.test", "password-ann")
		if err != nil {
			t.Fatal(err)
		}
		if err := deliverTo(st, a.ID, strings.NewReader(spaceMessage(500<<10, 0))); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	inChild(t, dir, func(t *testing.T, dir string) {
		st, err := Open(spaceOpts(dir, t))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a, err := st.Account("ann@example.test")
		if err != nil {
			t.Fatal(err)
		}
		// A 600 KB message is written whole at commit, a 3 MB one is
		// staged in chunks as it comes; the disk fills half-way.
		filler := filepath.Join(dir, "filler")
		for _, size := range []int{600 << 10, 3 << 20} {
			os.Remove(filler)
			body := &fillingReader{r: strings.NewReader(spaceMessage(size, 1)), at: size / 2, filler: filler}
			if err := deliverTo(st, a.ID, body); !errors.Is(err, ErrDiskFull) {
				t.Fatalf("a %d KB delivery while the disk filled: %v; want ErrDiskFull", size>>10, err)
			}
			if !body.filled {
				t.Fatalf("the %d KB body was refused before the disk filled", size>>10)
			}
		}
		if sp := st.Space(); !sp.Refusing {
			t.Errorf("Space() = %+v; want Refusing", sp)
		}
		// A write that passed its checks just before the disk filled goes
		// into space reserved for it: 512 KiB into the value log, written
		// past the store's gate as a write already in flight would be.
		// (The store may have released its reserve file meanwhile: fill
		// again.)
		if _, err := testutil.FillDisk(filler); err != nil {
			t.Fatal(err)
		}
		if free, _ := diskFree(st.dir); free > 64<<10 {
			t.Fatalf("the disk has %d bytes free; the test did not fill it", free)
		}
		blob := keys.Meta("test/blob")
		if err := st.db.Update(func(txn *badger.Txn) error { return txn.Set(blob, make([]byte, 512<<10)) }); err != nil {
			t.Fatalf("a write into the backed value log on a full disk: %v", err)
		}
		if err := st.db.Update(func(txn *badger.Txn) error { return txn.Delete(blob) }); err != nil {
			t.Fatal(err)
		}
		// A new write meets the gate: nothing is written with so little room.
		if err := st.update(func(txn *badger.Txn) error { return txn.Set(blob, nil) }); !errors.Is(err, ErrDiskFull) {
			t.Errorf("a write with the disk full = %v; want ErrDiskFull", err)
		}
		_, msgs := inboxOf(t, st, a.ID)
		if len(msgs) != 1 {
			t.Errorf("%d messages after the failed delivery; want the 1 from before", len(msgs))
		}
		checkClean(t, st)
		// Close would flush the memtable into a table on the full disk:
		// the store leaves that to the next start's replay of the log.
		if err := st.Close(); !errors.Is(err, ErrDiskFull) {
			t.Errorf("Close on a full disk = %v; want ErrDiskFull (not closed)", err)
		}
	})
	if os.Getenv("POSTROOM_SPACE_CHILD") != "" {
		return
	}
	// The parent frees the disk and looks at what the child left.
	os.Remove(filepath.Join(dir, "filler"))
	st, err := Open(spaceOpts(dir, t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, _ := st.Account("ann@example.test")
	if _, msgs := inboxOf(t, st, a.ID); len(msgs) != 1 {
		t.Errorf("%d messages; want 1", len(msgs))
	}
	checkClean(t, st)
}

// Starting on a full disk: with the reserve file the store releases it and
// opens read-write (mail can be deleted); without it, it opens read-only
// and says the disk is full. Check works either way, and mail is refused.
func TestOpenOnAFullDisk(t *testing.T) {
	for _, keepReserve := range []bool{true, false} {
		name := map[bool]string{true: "with_reserve", false: "without_reserve"}[keepReserve]
		t.Run(name, func(t *testing.T) {
			dir := os.Getenv("POSTROOM_SPACE_CHILD")
			if dir == "" {
				dir = testutil.SmallDisk(t, diskSize)
				st, err := Open(spaceOpts(dir, t))
				if err != nil {
					t.Fatal(err)
				}
				a, err := st.CreateAccount("ann@example.test", "password-ann")
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					if err := deliverTo(st, a.ID, strings.NewReader(spaceMessage(300<<10, i))); err != nil {
						t.Fatal(err)
					}
				}
				st.Close()
				if !keepReserve {
					os.Remove(filepath.Join(dir, "store", reserveFile))
				}
				if _, err := testutil.FillDisk(filepath.Join(dir, "filler")); err != nil {
					t.Fatal(err)
				}
			}
			inChild(t, dir, func(t *testing.T, dir string) {
				st, err := Open(spaceOpts(dir, t))
				if err != nil {
					t.Fatalf("open on a full disk: %v", err)
				}
				defer st.Close()
				checkClean(t, st)
				sp := st.Space()
				if !sp.Refusing || sp.ReadOnly == keepReserve {
					t.Errorf("Space() = %+v; want Refusing, ReadOnly %v", sp, !keepReserve)
				}
				if err := st.CheckDiskSpace(0); !errors.Is(err, ErrDiskFull) {
					t.Errorf("CheckDiskSpace = %v; want ErrDiskFull", err)
				}
				a, err := st.Account("ann@example.test")
				if err != nil {
					t.Fatal(err)
				}
				if err := deliverTo(st, a.ID, strings.NewReader(spaceMessage(10<<10, 9))); !errors.Is(err, ErrDiskFull) {
					t.Errorf("delivery on a full disk: %v; want ErrDiskFull", err)
				}
				mb, msgs := inboxOf(t, st, a.ID)
				if len(msgs) != 3 {
					t.Fatalf("%d messages; want 3", len(msgs))
				}
				b, err := st.OpenBody(msgs[0].Object)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(b.Reader())
				b.Close()
				if err != nil || string(got) != spaceMessage(300<<10, 0) {
					t.Errorf("reading a message on a full disk: %v (%d bytes)", err, len(got))
				}
				_, err = st.Expunge(a.ID, mb.ID, []uint32{msgs[0].UID})
				if keepReserve && err != nil {
					t.Errorf("deleting mail on a full disk with the reserve released: %v", err)
				}
				if !keepReserve && !errors.Is(err, ErrDiskFull) {
					t.Errorf("deleting mail read-only: %v; want ErrDiskFull", err)
				}
				checkClean(t, st)
			})
		})
	}
}

// Deleting mail on a full disk gives its space back by itself (the eraser,
// then flush, compaction and value-log GC), the store says when, and new
// mail is accepted again.
func TestDeletingMailFreesSpace(t *testing.T) {
	dir := testutil.SmallDisk(t, diskSize)
	opts := spaceOpts(dir, t)
	st, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.CreateAccount("ann@example.test", "password-ann")
	if err != nil {
		t.Fatal(err)
	}
	var refused error
	n := 0
	for ; n < 200; n++ {
		if refused = deliverTo(st, a.ID, strings.NewReader(spaceMessage(1<<20, n))); refused != nil {
			break
		}
	}
	if !errors.Is(refused, ErrDiskFull) {
		t.Fatalf("after %d messages: %v; want ErrDiskFull", n, refused)
	}
	sp := st.Space()
	if !sp.Refusing {
		t.Fatalf("Space() = %+v after a refusal; want Refusing", sp)
	}
	// Delete all but the last two (the value-log file Badger is writing
	// is never collected; the newest mail is in it).
	mb, msgs := inboxOf(t, st, a.ID)
	var uids []uint32
	for _, m := range msgs[:len(msgs)-2] {
		uids = append(uids, m.UID)
	}
	if _, err := st.SetFlags(a.ID, mb.ID, uids, FlagsAdd, FlagDeleted, nil); err != nil {
		t.Fatal(err)
	}
	changed := st.SpaceChanged()
	start := time.Now()
	if _, err := st.Expunge(a.ID, mb.ID, nil); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second) // a bound, not a measurement
	for sp = st.Space(); sp.ReclaimedAt.IsZero() || sp.Refusing; sp = st.Space() {
		select {
		case <-changed:
			changed = st.SpaceChanged()
		case <-timeout:
			t.Fatalf("no space reclaimed 30 s after deleting %d of %d messages: %+v", len(uids), len(msgs), sp)
		}
	}
	t.Logf("deleted %d MB of %d: %d bytes reclaimed in %v; %d free", len(uids), len(msgs), sp.ReclaimedBytes, time.Since(start).Round(time.Millisecond), sp.Free)
	if sp.ReclaimedBytes < int64(len(uids))<<20/2 {
		t.Errorf("reclaimed %d bytes after deleting %d MB", sp.ReclaimedBytes, len(uids))
	}
	if err := deliverTo(st, a.ID, strings.NewReader(spaceMessage(1<<20, 999))); err != nil {
		t.Errorf("a delivery after the space came back: %v", err)
	}
	checkClean(t, st)
}
