package appliance

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"postroom/appliance/status"
	"postroom/storage"
)

// The display's "mail today", "sent today" and "failed today" must not go
// back to zero at a restart, nor at a crash, a SIGKILL or a power cut. The
// store counts every delivery on its day in the same transaction that
// stores it (storage.DayCounts), so the counts at start are exactly the
// mail that was acknowledged today. restoreDaily reads them once at start;
// from then on the readings worker (run_panel.go) counts the store's
// events and the queue's deliveries (run_queue.go) in the Snapshot.

// dayCountsKept is how many days of counts the store keeps.
const dayCountsKept = 35

// legacyDailyFile is where the counts were saved once a minute before the
// store kept them; it is removed at start.
const legacyDailyFile = "today.json"

// restoreDaily puts today's counts from the store into the Snapshot, and
// drops the counts of days long gone. A store that cannot say only means
// starting from zero.
func (r *runner) restoreDaily(st *storage.Store, dataDir string) {
	if err := os.Remove(filepath.Join(dataDir, legacyDailyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.log.Warn("remove the old counts file", "file", legacyDailyFile, "err", err)
	}
	now := time.Now()
	if err := st.PruneDayCounts(now.AddDate(0, 0, -dayCountsKept)); err != nil {
		r.log.Warn("drop old day counts", "err", err)
	}
	d, err := st.DayCounts(now)
	if err != nil {
		r.log.Warn("today's mail counts start from zero", "err", err)
		return
	}
	// The same rule as the live count: which origins are received, sent
	// or failed is countOrigin's to say.
	var c mailCounts
	for o, n := range d.Added {
		for range n {
			c.countOrigin(o)
		}
	}
	c.sent += d.Relayed
	r.update(func(s *status.Snapshot) {
		// Set, not added: a runner that starts again after an offline
		// step finds the previous run's counts in the Snapshot.
		s.MailToday, s.MailDay, s.SentToday, s.SentDay, s.FailedToday, s.FailedDay = 0, "", 0, "", 0, ""
		s.AddMail(c.received, now)
		s.AddSent(c.sent, now)
		s.AddFailed(c.failed, now)
	})
}
