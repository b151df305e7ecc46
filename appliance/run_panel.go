package appliance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"strconv"
	"strings"
	"time"

	"postroom/appliance/status"
	"postroom/hw"
	"postroom/storage"
)

// DisplayEnv asks for the display in the terminal: POSTROOM_DISPLAY=term
// make run prints every new frame of the (simulated) display to stdout.
const DisplayEnv = "POSTROOM_DISPLAY"

// openPanel returns the panel for cfg.Panel: the real parts on a board, the
// simulated panel elsewhere (hw.Open never fails). stdout receives the
// display as text when DisplayEnv is "term".
func openPanel(cfg config.Config, logger *slog.Logger, stdout io.Writer) hw.Panel {
	hc := cfg.Panel.HWConfig()
	if os.Getenv(DisplayEnv) == "term" {
		hc.Terminal = stdout
	}
	return hw.Open(hc, logger)
}

// panelWorker registers the job that keeps the Snapshot's readings up to
// date: mail received, sent and bounced today and unread mail, from the
// store's change events (one stream for every way mail arrives: port 25,
// submission, bounces), and the machine's disk, CPU temperature, clock and
// the certificate's days left. It serves nothing.
func (r *runner) panelWorker(st *storage.Store) {
	rd := &readings{
		publish:  r.update,
		log:      r.log.With("part", "readings"),
		dataDir:  r.cfg.DataDir,
		store:    st,
		onBoard:  hw.BoardModel("") != "",
		initMem:  r.opts.Update != nil, // the init started us: its memory counts too
		thermal:  "/sys/class/thermal/thermal_zone*/temp",
		timesync: "/run/systemd/timesync/synchronized",
		now:      time.Now,
	}
	if r.certs != nil {
		// Asked at each reading: a renewed certificate shows at once.
		rd.certEnd = func() time.Time { return r.certs.State().NotAfter }
	}
	r.addWorker("panel-readings", rd.run)
	r.addWorker("disk-space", rd.watchSpace) // run_panel_disk.go
}

// Reading intervals. Every value is cheap to read; the intervals keep the
// Snapshot (and the display) calm.
const (
	readEvery    = 30 * time.Second
	unreadEvery  = 2 * time.Second // at most this often after mail changes
	trendSample  = 10 * time.Minute
	trendSamples = 24 * 6 // a day of samples
)

// unreadStore is the part of the store the readings use.
type unreadStore interface {
	Accounts() ([]storage.Account, error)
	Mailboxes(acct storage.AccountID) ([]storage.Mailbox, error)
	WatchAll() *storage.Watcher
	Space() storage.Space
	SpaceChanged() <-chan struct{}
}

// readings collects what the Snapshot says about the machine itself.
type readings struct {
	publish  func(func(*status.Snapshot))
	log      *slog.Logger
	dataDir  string
	store    unreadStore
	certEnd  func() time.Time // the certificate's end, asked at each reading; nil: none
	onBoard  bool             // off the board the host keeps the clock: assume synced
	initMem  bool             // read the init's (PID 1) memory: it started the appliance
	thermal  string           // glob of millidegree files
	timesync string           // exists once systemd-timesyncd has synchronised
	now      func() time.Time

	trend []diskSample
}

type diskSample struct {
	at   time.Time
	free uint64
}

// run reads everything at once, then the machine every readEvery; it
// counts new mail from the store's events as they come, and recounts the
// unread mail after changes (at most every unreadEvery), until ctx ends.
func (rd *readings) run(ctx context.Context) error {
	w := rd.store.WatchAll()
	defer w.Close()
	rd.readMachine()
	rd.readUnread()
	tick := time.NewTicker(readEvery)
	defer tick.Stop()
	var unreadTimer <-chan time.Time // non-nil while a recount is pending
	for {
		select {
		case <-ctx.Done():
			// Count what was delivered before the stop, for whoever
			// still reads the Snapshot (the store has it anyway:
			// run_daily.go).
			rd.countMail(w)
			return nil
		case <-tick.C:
			rd.readMachine()
		case _, ok := <-w.C():
			if !ok {
				return nil // the store closed: the appliance is stopping
			}
			if rd.countMail(w) && unreadTimer == nil {
				unreadTimer = time.After(unreadEvery)
			}
		case <-unreadTimer:
			unreadTimer = nil
			rd.readUnread()
		}
	}
}

// mailCounts is what one batch of events adds to the day's counts.
type mailCounts struct{ received, sent, failed int }

// countOrigin adds one new message by where it came from. Mail between two
// colleagues is both received and sent; a bounce is received (it lands in
// the sender's INBOX) and counts as a message that could not be delivered.
// A user's own copies (Sent, APPEND, COPY, MOVE) are neither.
func (c *mailCounts) countOrigin(o storage.Origin) {
	switch o {
	case storage.OriginInbound, storage.OriginDelayNotice:
		c.received++
	case storage.OriginSubmission:
		c.received++
		c.sent++
	case storage.OriginBounce:
		c.received++
		c.failed++
	}
}

// countMail takes the waiting events, adds the new mail to today's counts
// (which also flashes the mail LED: hw counts the changes) and reports
// whether any event may have changed the unread count.
func (rd *readings) countMail(w *storage.Watcher) (changed bool) {
	events, overflow := w.Next()
	if overflow {
		// Only a reader stalled for 10,000 events gets here; the day's
		// counts miss those, the unread count is reread whole anyway.
		rd.log.Warn("mail counts missed changes: the readings fell behind")
	}
	var c mailCounts
	for _, ev := range events {
		if ev.Kind == storage.EventAdded {
			c.countOrigin(ev.Origin)
		}
	}
	if c != (mailCounts{}) {
		now := rd.now()
		rd.publish(func(s *status.Snapshot) {
			s.AddMail(c.received, now)
			s.AddSent(c.sent, now)
			s.AddFailed(c.failed, now)
		})
	}
	return len(events) > 0 || overflow
}

// readMachine reads disk, temperature, clock and certificate and publishes
// them when any changed.
func (rd *readings) readMachine() {
	now := rd.now()
	disk := rd.readDisk(now)      // run_panel_disk.go
	mem := readMemory(rd.initMem) // run_panel_memory.go
	temp := readTemperature(rd.thermal)
	synced, note := rd.clock()
	var daysLeft int
	var certEnd time.Time
	if rd.certEnd != nil {
		certEnd = rd.certEnd()
	}
	if !certEnd.IsZero() {
		daysLeft = int(math.Floor(certEnd.Sub(now).Hours() / 24))
	}
	rd.publish(func(s *status.Snapshot) {
		s.Disk, s.Memory = disk, mem
		s.SetCPUTemp(temp)
		s.ClockSynced, s.ClockNote = synced, note
		s.CertExpires, s.CertDaysLeft = certEnd, daysLeft
	})
}

// diskTrend keeps a sample every trendSample and returns the change of
// free bytes per day over the samples kept (up to a day); 0 until an hour
// of samples exists.
func (rd *readings) diskTrend(now time.Time, free uint64) int64 {
	if n := len(rd.trend); n == 0 || now.Sub(rd.trend[n-1].at) >= trendSample {
		rd.trend = append(rd.trend, diskSample{now, free})
		if len(rd.trend) > trendSamples {
			rd.trend = rd.trend[1:]
		}
	}
	first := rd.trend[0]
	span := now.Sub(first.at)
	if span < time.Hour {
		return 0
	}
	return int64(float64(int64(free)-int64(first.free)) / span.Hours() * 24)
}

// clock tells whether the system clock is synchronised. On a board,
// systemd-timesyncd's flag file or else the kernel's NTP state (adjtimex)
// says so; off the board the host keeps the time.
func (rd *readings) clock() (bool, string) {
	if !rd.onBoard {
		return true, "not a board: the host keeps the time"
	}
	if _, err := os.Stat(rd.timesync); err == nil {
		return true, "systemd-timesyncd"
	}
	if synced, err := kernelClockSynced(); err == nil {
		return synced, "kernel NTP state"
	}
	return false, "no time synchronisation found"
}

// readUnread counts unseen messages over every account, leaving out Junk
// and Trash (nobody needs to read those).
func (rd *readings) readUnread() {
	accts, err := rd.store.Accounts()
	if err != nil {
		if !errors.Is(err, storage.ErrClosed) {
			rd.log.Warn("count unread mail", "err", err)
		}
		return
	}
	total := 0
	for _, a := range accts {
		mbs, err := rd.store.Mailboxes(a.ID)
		if err != nil {
			rd.log.Warn("count unread mail", "account", a.Name, "err", err)
			continue
		}
		for _, mb := range mbs {
			if mb.SpecialUse != storage.SpecialJunk && mb.SpecialUse != storage.SpecialTrash {
				total += int(mb.Unseen)
			}
		}
	}
	rd.publish(func(s *status.Snapshot) { s.Unread = total })
}

// readTemperature returns the first thermal zone's temperature in degrees
// Celsius (the SoC on a Raspberry Pi), or NaN where there is none.
func readTemperature(glob string) float64 {
	files, _ := filepath.Glob(glob)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		milli, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		// One decimal: a change of a hundredth is not news for the panel.
		return math.Round(float64(milli)/100) / 10
	}
	return math.NaN()
}
