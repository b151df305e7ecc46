package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"postroom/appliance/status"
	"postroom/internal/atomicfile"
)

// The display's "mail today" and "sent today" are counted in the Snapshot,
// which a restart would set back to zero in the middle of the day. The
// runner keeps them in DATA/today.json: written once a minute when they
// changed and at shutdown, read at start. A crash loses at most a minute
// of counting; the counts are a display, not an account of the mail.

const dailyFile = "today.json"

// dailyCounts is the file's content.
type dailyCounts struct {
	MailDay   string `json:"mail_day,omitempty"`
	MailToday int    `json:"mail_today"`
	SentDay   string `json:"sent_day,omitempty"`
	SentToday int    `json:"sent_today"`
	// Bounces: messages that could not be delivered.
	FailedDay   string `json:"failed_day,omitempty"`
	FailedToday int    `json:"failed_today"`
}

func countsOf(s status.Snapshot) dailyCounts {
	return dailyCounts{MailDay: s.MailDay, MailToday: s.MailToday, SentDay: s.SentDay, SentToday: s.SentToday,
		FailedDay: s.FailedDay, FailedToday: s.FailedToday}
}

// restoreDaily puts the saved counts into the Snapshot. A missing or
// unreadable file only means starting from zero.
func (r *runner) restoreDaily(dataDir string) {
	b, err := os.ReadFile(filepath.Join(dataDir, dailyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var c dailyCounts
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		r.log.Warn("today's mail counts start from zero", "file", dailyFile, "err", err)
		return
	}
	r.update(func(s *status.Snapshot) {
		s.MailDay, s.MailToday, s.SentDay, s.SentToday = c.MailDay, c.MailToday, c.SentDay, c.SentToday
		s.FailedDay, s.FailedToday = c.FailedDay, c.FailedToday
	})
}

// dailyWorker registers the job that saves the counts once a minute, and
// returns the function that saves them at the end, called once every
// worker has stopped (the queue may still count during its stop grace).
func (r *runner) dailyWorker(dataDir string) (saveLast func()) {
	path := filepath.Join(dataDir, dailyFile)
	saved := countsOf(r.bus.Latest())
	save := func() {
		c := countsOf(r.bus.Latest())
		if c == saved {
			return
		}
		b, _ := json.Marshal(c)
		if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
			r.log.Warn("save today's mail counts", "err", err)
			return
		}
		saved = c
	}
	r.addWorker("daily-counts", func(ctx context.Context) error {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				save()
			}
		}
	})
	return save
}
