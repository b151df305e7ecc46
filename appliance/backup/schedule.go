package backup

import (
	"context"
	"time"
)

// retryAfter is how soon a failed scheduled backup is tried again (a USB
// disk plugged back in, a server back up).
const retryAfter = time.Hour

// Due says whether the scheduled backup is due at now: the day's slot
// (hour o'clock in loc) has come and the last attempt was before it. A box
// that was off at the hour catches up when it is on again. A failed last
// attempt is tried again retryAfter later.
func Due(now, lastRun time.Time, lastFailed bool, hour int, loc *time.Location) bool {
	n := now.In(loc)
	slot := time.Date(n.Year(), n.Month(), n.Day(), hour, 0, 0, 0, loc)
	if n.Before(slot) {
		slot = time.Date(n.Year(), n.Month(), n.Day()-1, hour, 0, 0, 0, loc)
	}
	if lastRun.Before(slot) {
		return true
	}
	return lastFailed && !now.Before(lastRun.Add(retryAfter))
}

// Kick asks the running scheduler (Run) for a backup now: the "back up
// now" button. It returns false when one is running or asked for already.
func (m *Manager) Kick() bool {
	if !m.run.TryLock() {
		return false
	}
	m.run.Unlock()
	select {
	case m.kick <- struct{}{}:
		return true
	default:
		return false
	}
}

// Run runs backups until ctx ends: on each tick it checks Due against the
// current config (nothing happens while no target is set up), and on each
// Kick it backs up at once. The ticks come from the caller (a minute
// ticker on the box, a channel in tests).
func (m *Manager) Run(ctx context.Context, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-tick:
			bc := m.o.Config().Backup
			if bc.Target == "" {
				continue
			}
			m.mu.Lock()
			last, failed := m.st.LastRun, false
			if n := len(m.st.History); n > 0 {
				h := m.st.History[n-1]
				failed = !h.OK()
			}
			m.mu.Unlock()
			if !Due(m.o.Now(), last, failed, bc.Hour, time.Local) {
				continue
			}
		}
		// The result is in the progress and the state; the error is logged.
		m.Now(ctx)
	}
}
