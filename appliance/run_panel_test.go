package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"postroom/appliance/status"
	"postroom/hw"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// newReadings returns readings that publish into bus, on files in a temp
// dir, and the paths of its fake thermal and timesync files.
func newReadings(t *testing.T, st *storage.Store, bus *status.Bus) (*readings, string, string) {
	dir := t.TempDir()
	rd := &readings{
		publish:  bus.Update,
		log:      testutil.Logger(t),
		dataDir:  dir,
		store:    st,
		onBoard:  true,
		thermal:  filepath.Join(dir, "thermal_zone*", "temp"),
		timesync: filepath.Join(dir, "synchronized"),
		now:      time.Now,
	}
	return rd, filepath.Join(dir, "thermal_zone0", "temp"), rd.timesync
}

func TestReadingsMachine(t *testing.T) {
	bus := status.NewBus(status.Snapshot{})
	rd, thermal, timesync := newReadings(t, storagetest.Open(t), bus)

	rd.onBoard = false
	rd.readMachine()
	s := bus.Latest()
	if _, ok := s.CPUTemp(); ok {
		t.Error("a temperature without a thermal zone")
	}
	if !s.ClockSynced || !strings.Contains(s.ClockNote, "not a board") {
		t.Errorf("off the board: clock %v %q; want synced with a note", s.ClockSynced, s.ClockNote)
	}
	if s.Disk.TotalBytes == 0 || s.Disk.FreeBytes > s.Disk.TotalBytes {
		t.Errorf("disk = %+v", s.Disk)
	}
	if !s.CertExpires.IsZero() {
		t.Error("a certificate date without a certificate")
	}
	if runtime.GOOS == "linux" && (s.Memory.RSS == 0 || s.Memory.Total == 0 || s.Memory.InitRSS != 0) {
		t.Errorf("memory = %+v; want ours and the machine's, not the init's (it did not start us)", s.Memory)
	}

	os.MkdirAll(filepath.Dir(thermal), 0o755)
	os.WriteFile(thermal, []byte("48123\n"), 0o644)
	os.WriteFile(timesync, nil, 0o644)
	rd.onBoard = true
	certEnd := time.Now().Add(10*24*time.Hour + time.Hour)
	rd.certEnd = func() time.Time { return certEnd }
	rd.readMachine()
	s = bus.Latest()
	if c, ok := s.CPUTemp(); !ok || c != 48.1 {
		t.Errorf("temperature = %v, %v; want 48.1", c, ok)
	}
	if !s.ClockSynced || s.ClockNote != "systemd-timesyncd" {
		t.Errorf("clock %v %q; want synced by systemd-timesyncd", s.ClockSynced, s.ClockNote)
	}
	if s.CertDaysLeft != 10 {
		t.Errorf("cert days left = %d; want 10", s.CertDaysLeft)
	}
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"cpu_temp_c":48.1`) {
		t.Errorf("JSON: %s", b)
	}
}

func TestDiskTrend(t *testing.T) {
	rd := &readings{}
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	const gb = 1_000_000_000
	if got := rd.diskTrend(start, 10*gb); got != 0 {
		t.Fatalf("trend from one sample = %d", got)
	}
	if got := rd.diskTrend(start.Add(30*time.Minute), 9*gb); got != 0 {
		t.Fatalf("trend before an hour = %d", got)
	}
	// 1 GB less after 2 hours: 12 GB a day.
	if got := rd.diskTrend(start.Add(2*time.Hour), 9*gb); got != -12*gb {
		t.Fatalf("trend = %d; want %d", got, -12*gb)
	}
	for i := range 2 * trendSamples {
		rd.diskTrend(start.Add(time.Duration(i)*trendSample), 9*gb)
	}
	if len(rd.trend) != trendSamples {
		t.Fatalf("kept %d samples; want %d", len(rd.trend), trendSamples)
	}
}

func TestReadingsUnreadFollowsTheStore(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "ann@example.test")
	b := storagetest.Account(t, st, "bob@example.test")
	ctx := context.Background()
	put := func(acct storage.AccountID, mbox string, flags storage.Flags) {
		t.Helper()
		body := "Subject: hi\r\n\r\nhello\r\n"
		if _, err := st.Append(ctx, acct, mbox, flags, nil, time.Now(), strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	put(a.ID, "INBOX", 0)
	put(a.ID, "INBOX", storage.FlagSeen)
	put(a.ID, "Trash", 0) // not counted
	put(a.ID, "Junk", 0)  // not counted
	put(b.ID, "Archive", 0)

	bus := status.NewBus(status.Snapshot{})
	updates := make(chan int, 100)
	rd, _, _ := newReadings(t, st, bus)
	rd.publish = func(f func(*status.Snapshot)) {
		bus.Update(f)
		updates <- bus.Latest().Unread
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rd.run(runCtx) }()
	waitUnread := func(want int) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case got := <-updates:
				if got == want {
					return
				}
			case <-deadline:
				t.Fatalf("unread never became %d (now %d)", want, bus.Latest().Unread)
			}
		}
	}
	waitUnread(2)
	put(b.ID, "INBOX", 0)
	put(b.ID, "INBOX", 0)
	waitUnread(4)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v", err)
	}
}

func TestReadTemperature(t *testing.T) {
	dir := t.TempDir()
	if got := readTemperature(filepath.Join(dir, "none*")); !math.IsNaN(got) {
		t.Fatalf("no file: %v; want NaN", got)
	}
	os.WriteFile(filepath.Join(dir, "a"), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte("-5250\n"), 0o644)
	if got := readTemperature(filepath.Join(dir, "*")); got != -5.3 && got != -5.2 {
		t.Fatalf("got %v; want -5.2 (skipping the unreadable zone)", got)
	}
}

func TestPanelConfigRoundTrip(t *testing.T) {
	c := config.Default()
	c.Panel.DisplayAddress = "0x3d"
	c.Panel.Button = ""
	path := filepath.Join(t.TempDir(), config.ConfigFile)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Panel != c.Panel {
		t.Fatalf("panel after Save and config.Load = %+v; want %+v", back.Panel, c.Panel)
	}
}

// TestRunPublishesPanelState runs the appliance: the readings worker fills
// the machine's fields of the Snapshot and the (simulated) panel reports
// its LEDs into it.
func TestRunPublishesPanelState(t *testing.T) {
	r, err := start(t, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := r.bus.Subscribe()
	defer cancel()
	deadline := time.After(30 * time.Second)
	for {
		s := r.bus.Latest()
		if s.Disk.TotalBytes > 0 && !s.CertExpires.IsZero() && s.LEDs.Ready == status.LEDOn {
			if s.CertDaysLeft < 1 {
				t.Errorf("the new self-signed certificate has %d days left", s.CertDaysLeft)
			}
			if !s.ClockSynced || s.ClockNote == "" {
				t.Errorf("clock %v %q", s.ClockSynced, s.ClockNote)
			}
			return
		}
		select {
		case <-c:
		case <-deadline:
			t.Fatalf("Snapshot never got disk, certificate and LEDs: %+v\nlog:\n%s", s, r.log.String())
		}
	}
}

// brokenI2C is a display bus that stopped answering after the set-up.
type brokenI2C struct {
	mu sync.Mutex
	ok int
}

func (b *brokenI2C) String() string                  { return "broken" }
func (b *brokenI2C) SetSpeed(physic.Frequency) error { return nil }
func (b *brokenI2C) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ok > 0 {
		b.ok--
		return nil
	}
	return errors.New("i2c: remote I/O error")
}

// TestFailingPanelKeepsMailRunning: a display whose every frame fails is
// logged and the appliance takes mail as usual.
func TestFailingPanelKeepsMailRunning(t *testing.T) {
	disp, err := hw.NewSSD1306(&brokenI2C{ok: 1}, hw.SSD1306Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logBuf testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	panel := hw.NewFront(hw.Options{Logger: logger, Display: disp})
	cfg := testConfig(t)
	bus := status.NewBus(status.Snapshot{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c, unsubscribe := bus.Subscribe()
	defer unsubscribe()
	go func() {
		done <- RunOptions(ctx, cfg, Options{Logger: logger, Bus: bus, Panel: panel, Stdout: io.Discard})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	deadline := time.After(30 * time.Second)
	// Running, and the panel has shown it (it reports its LEDs after each
	// Show, and its first frame failed before that).
	for s := bus.Latest(); s.Phase != status.PhaseRunning || s.LEDs.Ready != status.LEDOn; s = bus.Latest() {
		select {
		case <-c:
		case err := <-done:
			t.Fatalf("Run ended: %v", err)
		case <-deadline:
			t.Fatalf("not running; log:\n%s", logBuf.String())
		}
	}
	sv, _ := bus.Latest().Service(ServiceSMTP)
	sendMail(t, sv.Addr, cfg, "sender@elsewhere.test", config.DemoUser)
	if got := bus.Latest().MailOn(time.Now()); got != 1 {
		t.Errorf("mail today = %d; want 1", got)
	}
	if !strings.Contains(logBuf.String(), "display not answering") {
		t.Errorf("the failing display was not logged:\n%s", logBuf.String())
	}
}
