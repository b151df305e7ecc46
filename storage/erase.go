package storage

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

func (s *Store) kickEraser() {
	select {
	case s.eraseKick <- struct{}{}:
	default:
	}
}

// eraseLoop frees bodies whose last reference went away, outside any mail
// path, and retries pinned ones a little later.
func (s *Store) eraseLoop() {
	defer s.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := s.eraseQueued(); err != nil && s.ctx.Err() == nil {
			s.log.Warn("erase bodies", "err", err)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.eraseKick:
		case <-t.C:
		}
	}
}

// eraseQueued erases every object in the erase queue that is not pinned.
// One runs at a time (the eraser and Reclaim both call it).
func (s *Store) eraseQueued() error {
	s.eraseMu.Lock()
	defer s.eraseMu.Unlock()
	var ids []ObjectID
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.Prefix(keys.TagErase)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, err := keys.ParseObjectKey(it.Item().Key())
			if err != nil {
				return err
			}
			ids = append(ids, ObjectID(id))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if s.ctx.Err() != nil {
			return nil
		}
		if s.pinned(id) {
			continue
		}
		if err := s.eraseObject(id, keys.Erase(uint64(id))); err != nil {
			return err
		}
	}
	return nil
}

// eraseObject deletes an unreferenced object's chunks in bounded
// transactions, then its record and marker. A crash in between leaves the
// marker, so the work resumes at the next start.
func (s *Store) eraseObject(id ObjectID, marker []byte) error {
	var refs uint32
	var size int64
	err := s.view(func(txn *badger.Txn) error {
		rec, err := getObject(txn, id)
		if err == nil {
			refs, size = rec.RefCount, rec.Size
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if refs > 0 {
		// Referenced after all (should not happen): keep the body.
		s.log.Warn("erase marker on a referenced body; keeping it", "object", id, "refs", refs)
		return s.update(func(txn *badger.Txn) error { return txn.Delete(marker) })
	}
	if err := s.deletePrefix(keys.ChunkPrefix(uint64(id))); err != nil {
		return err
	}
	err = s.update(func(txn *badger.Txn) error {
		if err := txn.Delete(keys.Object(uint64(id))); err != nil {
			return err
		}
		return txn.Delete(marker)
	})
	if err == nil && size > 0 {
		s.space.erased.Add(size)
		s.space.kick() // the space loop reclaims at once if space is short
	}
	return err
}

// sweep runs at Open: bodies staged by a delivery that never committed (the
// process died before "250 OK") are freed, and the erase queue is drained.
func (s *Store) sweep() error {
	var staged []ObjectID
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.Prefix(keys.TagStaged)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, err := keys.ParseObjectKey(it.Item().Key())
			if err != nil {
				return err
			}
			staged = append(staged, ObjectID(id))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range staged {
		if err := s.eraseObject(id, keys.Staged(uint64(id))); err != nil {
			return err
		}
	}
	if len(staged) > 0 {
		s.log.Info("start-up sweep freed staged bodies", "count", len(staged))
	}
	return s.eraseQueued()
}

// idleLoop does the housekeeping that competes with mail for the disk or
// the CPU only when no write has happened for a while: value-log GC (Badger
// never shrinks its value log by itself, so deleted mail would keep its
// space) at most every 10 minutes, and, once per idle period, TrimMemory.
func (s *Store) idleLoop(gc, trim bool) {
	defer s.wg.Done()
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	var lastGC time.Time
	var trimmedAt int64 // lastWrite value when we last trimmed
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		lw := s.lastWrite.Load()
		if time.Since(time.Unix(0, lw)) < 30*time.Second {
			continue
		}
		if gc && time.Since(lastGC) > 10*time.Minute {
			s.RunGC()
			lastGC = time.Now()
		}
		if trim && trimmedAt != lw {
			s.TrimMemory()
			trimmedAt = lw
		}
	}
}

// RunGC reclaims the space of deleted mail (Reclaim), logging a failure.
func (s *Store) RunGC() {
	if _, err := s.Reclaim(s.ctx); err != nil && s.ctx.Err() == nil {
		s.log.Warn("reclaim deleted mail", "err", err)
	}
}
