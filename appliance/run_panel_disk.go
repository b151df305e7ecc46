package appliance

import (
	"context"
	"time"

	"postroom/appliance/status"
)

// The disk reading: the data disk's free and total space from the file
// system, and the store's own view of it (storage.Space): whether it is
// refusing mail for lack of space, whether it opened read-only, and when it
// last gave deleted mail's space back. The file system is read every
// readEvery with the rest of the machine; the store's view is published
// the moment the store reports a change, because "mail is being refused:
// the disk is full" must light the red LED when the first sender is turned
// away, not at the next reading.

// readDisk reads the data disk and the store's view of it.
func (rd *readings) readDisk(now time.Time) status.Disk {
	var disk status.Disk
	if free, total, err := diskSpace(rd.dataDir); err != nil {
		rd.log.Debug("disk space unknown", "err", err)
	} else {
		disk = status.Disk{FreeBytes: free, TotalBytes: total, TrendBytesPerDay: rd.diskTrend(now, free)}
	}
	setStoreSpace(&disk, rd.store)
	return disk
}

// setStoreSpace copies the store's view of the disk into d.
func setStoreSpace(d *status.Disk, st unreadStore) {
	sp := st.Space()
	d.RefusingMail, d.ReadOnly = sp.Refusing, sp.ReadOnly
	d.ReclaimedBytes, d.ReclaimedAt = sp.ReclaimedBytes, sp.ReclaimedAt
}

// watchSpace publishes the store's view of the disk at once whenever it
// changes, until ctx ends. It touches only those fields: the file system's
// numbers stay readMachine's.
func (rd *readings) watchSpace(ctx context.Context) error {
	for {
		changed := rd.store.SpaceChanged() // before reading, so no change is missed
		var d status.Disk
		setStoreSpace(&d, rd.store)
		rd.publish(func(s *status.Snapshot) {
			s.Disk.RefusingMail, s.Disk.ReadOnly = d.RefusingMail, d.ReadOnly
			s.Disk.ReclaimedBytes, s.Disk.ReclaimedAt = d.ReclaimedBytes, d.ReclaimedAt
		})
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
