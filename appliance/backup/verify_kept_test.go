package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage"
)

// damagingOne corrupts what is read back of one file of the target.
type damagingOne struct {
	Target
	name string
}

func (d damagingOne) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if name != d.name {
		return d.Target.Open(ctx, name)
	}
	return damaging{Target: d.Target, flip: true}.Open(ctx, name)
}

// syncBuffer is a log shared with the Manager's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// TestIncrementalProofOnKeptRestore: an incremental backup is proven on
// the kept restore of its chain (Proof "increment") and restores equal to
// the store then; a kept restore that changed on the scratch disk is
// noticed and the whole chain is restored instead; a damaged increment,
// and an earlier file of the chain damaged on the target, still fail the
// proof.
func TestIncrementalProofOnKeptRestore(t *testing.T) {
	b := newBox(t)
	b.m.o.KeepScratchFree = 1 // kept on any disk the test runs on
	var logs syncBuffer
	b.m.log = slog.New(slog.NewTextHandler(&logs, nil))
	b.fill()
	alice, _ := b.st.Account("alice@example.com")
	in, _ := b.st.Mailbox(alice.ID, "INBOX")
	change := func(round int) {
		t.Helper()
		for j := 0; j < 10; j++ {
			b.deliver(alice.ID, "", fmt.Sprintf("Subject: round %d %d\r\n\r\nnew\r\n", round, j))
		}
		b.st.Expunge(alice.ID, in.ID, []uint32{uint32(5 + round)})
		b.st.SetFlags(alice.ID, in.ID, []uint32{uint32(12 + round)}, storage.FlagsAdd, storage.FlagFlagged, []string{fmt.Sprintf("k%d", round)})
	}
	keptJSON := filepath.Join(b.dir, "backup", "scratch", keptFolder, keptFile)

	full := b.backup()
	if full.Proof != ProofWhole {
		t.Errorf("full backup proven by %q", full.Proof)
	}
	if _, err := os.Stat(keptJSON); err != nil {
		t.Fatalf("no kept restore after the full backup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "backup", "scratch", "verify")); err == nil {
		t.Error("the scratch restore of the full backup was left in verify/")
	}

	// Two incrementals proven on the kept restore; each restores to the
	// store as it was.
	for round := 1; round <= 2; round++ {
		change(round)
		res := b.backup()
		if res.Kind != KindIncremental || res.Proof != ProofIncrement {
			t.Fatalf("round %d: %s backup proven by %q\n%s", round, res.Kind, res.Proof, logs.take())
		}
		want := dump(t, b.st)
		if _, st := b.restore(res.Name); dump(t, st) != want {
			t.Errorf("round %d: the restore of %s differs from the store", round, res.Name)
		}
	}

	// The kept restore changed on the scratch disk (a record lost): the
	// proof notices and restores the whole chain, which is sound.
	kept := filepath.Join(b.dir, "backup", "scratch", keptFolder, "store")
	db, err := badger.Open(badger.DefaultOptions(kept).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{0x20}})
		defer it.Close()
		it.Rewind()
		if !it.Valid() {
			return fmt.Errorf("no message record in the kept restore")
		}
		return txn.Delete(it.Item().KeyCopy(nil))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	logs.take()
	change(3)
	res := b.backup()
	if res.Proof != ProofWhole {
		t.Errorf("with a changed kept restore: proven by %q", res.Proof)
	}
	if l := logs.take(); !strings.Contains(l, "does not hold what was proven") {
		t.Errorf("the log does not say the kept restore was unusable:\n%s", l)
	}
	// ... and the next one builds on the rebuilt kept restore again.
	change(4)
	if res := b.backup(); res.Proof != ProofIncrement {
		t.Errorf("after the rebuild: proven by %q", res.Proof)
	}

	// A damaged increment fails its proof (and the whole-chain restore
	// that follows says what is wrong).
	change(5)
	b.clock.Set(b.clock.Now().Add(24 * time.Hour))
	name := fileName(b.cfg.Hostname, b.clock.Now(), KindIncremental)
	b.wrap = func(t Target) Target { return damagingOne{Target: t, name: name} }
	res, err = b.m.Now(ctx)
	if err == nil || res.Name != name || res.Kind != KindIncremental || !strings.Contains(res.VerifyError, "damaged") {
		t.Fatalf("a damaged increment: %v %+v", err, res)
	}
	if l := logs.take(); !strings.Contains(l, "could not prove the incremental backup") || !strings.Contains(l, name) {
		t.Errorf("the kept restore was not tried on the damaged increment:\n%s", l)
	}
	b.wrap = nil

	// A new chain; then its full backup is damaged on the target after
	// its proof: the next incremental's proof notices.
	full = b.backup()
	if full.Kind != KindFull {
		t.Fatalf("after a failed proof: %s backup", full.Kind)
	}
	change(6)
	if res := b.backup(); res.Proof != ProofIncrement {
		t.Errorf("second chain: proven by %q", res.Proof)
	}
	path := filepath.Join(b.target, full.Name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	change(7)
	b.clock.Set(b.clock.Now().Add(24 * time.Hour))
	res, err = b.m.Now(ctx)
	if err == nil || !strings.Contains(res.VerifyError, "damaged") {
		t.Fatalf("with the full backup damaged on the target: %v %+v", err, res)
	}
	if l := logs.take(); !strings.Contains(l, "is not the file that was proven") {
		t.Errorf("the log does not say which file changed:\n%s", l)
	}
}

// TestKeptRestoreOff: with KeepScratchFree negative nothing is kept and
// every incremental backup's proof restores the whole chain, as before.
func TestKeptRestoreOff(t *testing.T) {
	b := newBox(t)
	b.m.o.KeepScratchFree = -1
	b.fill()
	alice, _ := b.st.Account("alice@example.com")
	for i := 0; i < 2; i++ {
		if i > 0 {
			b.deliver(alice.ID, "", "Subject: later\r\n\r\nlater\r\n")
		}
		if res := b.backup(); res.Proof != ProofWhole {
			t.Errorf("backup %d (%s) proven by %q", i, res.Kind, res.Proof)
		}
		if _, err := os.Stat(filepath.Join(b.dir, "backup", "scratch", keptFolder)); err == nil {
			t.Errorf("backup %d: a restore was kept", i)
		}
	}
}
