package storage

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// Reclaim gives the space of deleted mail back to the disk now: it erases
// bodies whose last reference is gone, moves the deletions out of the
// memtable and compacts them (flushDeletes), then rewrites value-log files
// that are mostly garbage until none is left. It returns how many bytes the
// disk gained (counting the reserve file as free). The store runs it by
// itself when space is short and when idle; postroomctl and tests may call
// it.
func (s *Store) Reclaim(ctx context.Context) (int64, error) {
	if s.space.readOnly {
		return 0, ErrDiskFull
	}
	s.space.reclaimMu.Lock()
	defer s.space.reclaimMu.Unlock()
	start := time.Now()
	before, err := s.space.free()
	if err != nil {
		return 0, err
	}
	short := s.space.short(before)
	if err := s.eraseQueued(); err != nil {
		return 0, err
	}
	// Flushing, compacting and GC write before they free: give them the
	// held reserve when the file system has less than a value-log file's
	// backing and a table's worth free.
	if f, err := s.space.fsFree(); err == nil && f < s.space.vlogBack+2*s.space.walBack {
		s.space.releaseReserve("reclaim deleted mail")
	}
	ratio := 0.5 // rewrite files at least half garbage
	if short {
		ratio = 0.2 // a full disk is worth more rewriting
	}
	erased := s.space.erased.Swap(0)
	// Deletions from before a restart are not counted in erased: the
	// first reclaim after Open flushes and compacts whatever there is.
	if erased > 0 || !s.space.flushed {
		s.space.flushed = true
		if err := s.flushDeletes(); err != nil {
			return 0, err
		}
	}
	files := s.gcFiles(ctx, ratio)
	if files == 0 && erased > 0 && short {
		// Deletions whose values sit on deeper levels than the one
		// level-0 compacts into are only counted by compacting those
		// levels too; worth it when the disk is full.
		if err := s.db.Flatten(2); err != nil {
			s.log.Warn("reclaim: flatten", "err", err)
		}
		files = s.gcFiles(ctx, ratio)
	}
	s.space.back() // the flush and GC may have started new files
	after, err := s.space.free()
	if err != nil {
		return 0, err
	}
	freed := after - before
	if freed > 0 && (files > 0 || erased > 0) {
		s.log.Info("reclaimed the space of deleted mail", "bytes", freed, "value_log_files", files,
			"erased", erased, "took", time.Since(start).Round(time.Millisecond))
		s.space.reclaimedNow(freed)
	}
	s.space.keepReserve()
	s.space.observe(after, -1)
	return max(freed, 0), nil
}

// gcFiles runs value-log GC until no file has ratio of garbage, the store
// closes or ctx ends, and returns how many files it rewrote.
func (s *Store) gcFiles(ctx context.Context, ratio float64) int {
	n := 0
	for ; n < 256 && ctx.Err() == nil && s.ctx.Err() == nil; n++ {
		if err := s.db.RunValueLogGC(ratio); err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value-log GC", "err", err)
			}
			break
		}
	}
	return n
}

// flushDeletes makes Badger count the values of deleted keys as garbage in
// its discard statistics, which value-log GC picks files by. Badger counts
// a value when a compaction drops it, which happens only once the deletion
// has left the memtable; on a quiet box the memtable (16 MiB of keys) does
// not fill for days. Badger has no call that only flushes the memtable:
// DropPrefix flushes every memtable and compacts level 0 into the next
// level before it drops its prefix, so the store writes a marker key and
// drops that. Writes wait meanwhile (update retries on ErrBlockedWrites).
func (s *Store) flushDeletes() error {
	marker := keys.Meta("reclaim")
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(marker, []byte{1}) }); err != nil {
		return err
	}
	err := s.db.DropPrefix(marker)
	s.space.afterWrite() // DropPrefix started a new memtable log
	return err
}

// spaceLoop watches the free space: it keeps the status's "refusing mail"
// current, backs new files a failed commit could not, reclaims deleted
// mail's space as soon as space is short and bodies were erased (the eraser
// and refusals kick it), and remakes the reserve file when there is room.
func (s *Store) spaceLoop() {
	defer s.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	// Without erased bodies a reclaim only finds what deletions from
	// before a restart left (the idle loop's reclaim finds that too), and
	// it costs a flush and new files: try that rarely.
	lastTry := time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.space.shortKick:
		}
		free, err := s.space.free()
		if err != nil {
			continue
		}
		if !s.space.writable.Load() {
			s.space.back()
		}
		s.space.observe(free, -1)
		if s.space.short(free) && (s.space.erased.Load() > 0 || time.Since(lastTry) > 10*time.Minute) {
			lastTry = time.Now()
			if _, err := s.Reclaim(s.ctx); err != nil && s.ctx.Err() == nil {
				s.log.Warn("reclaim deleted mail", "err", err)
			}
		}
		s.space.keepReserve()
	}
}
