package appliance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"postroom/appliance/status"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// The moment the store refuses mail for space, the status says so as its
// first problem (which lights the red LED), without waiting for the next
// 30-second reading; once the store has room again, the problem goes.
func TestDiskFullShowsAtOnce(t *testing.T) {
	disk := testutil.SmallDisk(t, 128<<20)
	st := storagetest.OpenOptions(t, storage.Options{
		Dir: filepath.Join(disk, "store"), MinFreeBytes: 32 << 20, ValueLogFileSize: 1 << 20,
	})
	bus := status.NewBus(status.Snapshot{})
	r := &runner{bus: bus, log: testutil.Logger(t)}
	rd, _, _ := newReadings(t, st, bus)
	rd.dataDir = disk
	rd.publish = r.update // the runner's own: it picks the Problem
	// A service is down too: the full disk must still come first.
	r.update(func(s *status.Snapshot) {
		s.SetService(status.Service{Name: "imap", Title: "Mail reading (IMAP)", State: status.ServiceFailed, Error: "boom"})
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rd.watchSpace(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watchSpace = %v", err)
		}
	}()
	notes, stop := bus.Subscribe()
	defer stop()
	// waitFor waits for a Snapshot with want; the bound is far below the
	// 30-second reading, which does not even run here.
	waitFor := func(what string, want func(status.Snapshot) bool) status.Snapshot {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			if s := bus.Latest(); want(s) {
				return s
			}
			select {
			case <-notes:
			case <-deadline:
				t.Fatalf("the status never showed %s: %+v", what, bus.Latest())
			}
		}
	}
	waitFor("the store's first reading", func(s status.Snapshot) bool { return s.Problem != "" && !s.Disk.RefusingMail })

	filler := filepath.Join(disk, "filler")
	if _, err := testutil.FillDisk(filler); err != nil {
		t.Fatal(err)
	}
	// What SMTP asks at MAIL FROM: refused.
	if err := st.CheckDiskSpace(0); !errors.Is(err, storage.ErrDiskFull) {
		t.Fatalf("CheckDiskSpace on a full disk = %v; want ErrDiskFull", err)
	}
	s := waitFor("mail refused", func(s status.Snapshot) bool { return s.Disk.RefusingMail })
	if want := s.Disk.Problem(); s.Problem != want || want == "" {
		t.Errorf("Problem = %q; want %q", s.Problem, want)
	}
	if a := s.Attention(time.Now()); len(a) == 0 || a[0] != s.Disk.Problem() {
		t.Errorf("Attention = %q; want the full disk first (the red LED follows Attention)", a)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckDiskSpace(0); err != nil {
		t.Fatalf("CheckDiskSpace with room again = %v", err)
	}
	s = waitFor("mail accepted again", func(s status.Snapshot) bool { return !s.Disk.RefusingMail })
	if s.Problem == "" || s.Problem == s.Disk.Problem() {
		t.Errorf("Problem = %q after the disk has room; want the failed service", s.Problem)
	}
}
