package appliance

import (
	"context"
	"errors"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/appliance/config"

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

// The appliance starts on a disk another program filled while it was
// stopped (no reserve file left): it comes up instead of crash-looping,
// says the disk is full as its problem, and SMTP answers 452 4.3.1.
func TestStartsOnAFullDisk(t *testing.T) {
	disk := testutil.SmallDisk(t, 256<<20)
	cfg := config.DevDefault(disk)
	cfg.Listen = config.Listeners{SMTP: "127.0.0.1:0", Web: "127.0.0.1:0"}
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(disk, "store", "RESERVE"))
	if _, err := testutil.FillDisk(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}

	r, err = start(t, cfg)
	if err != nil {
		t.Fatalf("start on a full disk: %v", err)
	}
	notes, stop := r.bus.Subscribe()
	defer stop()
	deadline := time.After(10 * time.Second) // the readings start with the services
	for s := r.bus.Latest(); !s.Disk.RefusingMail || !s.Disk.ReadOnly || s.Problem != s.Disk.Problem(); s = r.bus.Latest() {
		select {
		case <-notes:
		case <-deadline:
			t.Fatalf("on a full disk: disk %+v, problem %q; want the full disk as the problem", s.Disk, s.Problem)
		}
	}
	c, err := smtp.Dial(r.addr(t, "smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Mail("someone@example.org")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 452 || !strings.HasPrefix(te.Msg, "4.3.1") {
		t.Errorf("MAIL FROM on a full disk: %v; want 452 4.3.1", err)
	}
}
