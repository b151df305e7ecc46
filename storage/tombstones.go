package storage

// Expunge tombstone pruning (RFC 7162 3.2.5.1, QRESYNC). Every expunge
// leaves a tombstone (22 acct mbox modseq uid); without a bound a mailbox
// that has lived for years keeps a key for every message it ever lost.
// Pruning keeps the newest maxTombstones of a mailbox and records the
// floor: the highest MODSEQ of a tombstone that went. Below the floor the
// store no longer knows which UIDs vanished when.
//
// The bound is a count per mailbox, not an age: a count bounds the keys
// whatever the traffic (one mass expunge of 50,000 messages would keep
// them all for an age bound's whole span), needs no clock, and a count is
// what a client that syncs rarely cares about: how many expunges back the
// store can answer exactly.
//
// The IMAP engine does not read tombstones for VANISHED: it computes what
// vanished from the mailbox's UID list (every UID below UIDNEXT that is
// not there), which is exact at any MODSEQ, so a QRESYNC below the floor
// still gets the full, correct answer (RFC 7162 3.2.5.2 allows UIDs the
// client already knew were gone).

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

const (
	// maxTombstones is how many tombstones a mailbox keeps at least
	// (about 300 KB of keys at most).
	maxTombstones = 10000
	// pruneEvery: an Expunge whose MODSEQs cross a multiple of it prunes
	// the mailbox, so the cost of a pruning pass (reading the kept keys)
	// is spread over about that many changes of the account.
	pruneEvery      = 1024
	vTombFloor byte = 1
)

// TombstoneFloor returns the MODSEQ at or below which expunges of the
// mailbox may have been forgotten (0: none ever were).
func (s *Store) TombstoneFloor(acct AccountID, mbox MailboxID) (uint64, error) {
	var floor uint64
	err := s.view(func(txn *badger.Txn) error {
		var err error
		floor, err = tombFloorTxn(txn, acct, mbox)
		return err
	})
	return floor, err
}

func tombFloorTxn(txn *badger.Txn, acct AccountID, mbox MailboxID) (uint64, error) {
	it, err := txn.Get(keys.TombstoneFloor(uint64(acct), uint64(mbox)))
	if err == badger.ErrKeyNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var floor uint64
	err = it.Value(func(v []byte) error {
		if len(v) < 2 || v[0] != vTombFloor {
			return fmt.Errorf("tombstone floor of mailbox %d: %w", mbox, errCorrupt)
		}
		n := 0
		floor, n = binary.Uvarint(v[1:])
		if n <= 0 {
			return fmt.Errorf("tombstone floor of mailbox %d: %w", mbox, errCorrupt)
		}
		return nil
	})
	return floor, err
}

// Tombstones returns the expunges the store remembers for a mailbox with
// a MODSEQ above since, as UIDs in MODSEQ order; complete only when since
// is at or above TombstoneFloor.
func (s *Store) Tombstones(acct AccountID, mbox MailboxID, since uint64) ([]uint32, error) {
	var uids []uint32
	err := s.view(func(txn *badger.Txn) error {
		prefix := keys.TombstonePrefix(uint64(acct), uint64(mbox))
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(keys.Tombstone(uint64(acct), uint64(mbox), since+1, 0)); it.Valid(); it.Next() {
			_, _, ms, uid, err := keys.ParseModSeq(it.Item().Key())
			if err != nil {
				return err
			}
			if ms > 0 {
				uids = append(uids, uid)
			}
		}
		return nil
	})
	return uids, err
}

// PruneTombstones keeps the newest keep tombstones of a mailbox, deletes
// the older ones and raises the mailbox's floor to the highest MODSEQ
// deleted. It returns the floor and how many went.
func (s *Store) PruneTombstones(acct AccountID, mbox MailboxID, keep int) (uint64, int, error) {
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	var old [][]byte
	var top uint64
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.TombstonePrefix(uint64(acct), uint64(mbox)), Reverse: true})
		defer it.Close()
		// Reverse iteration starts from the prefix's last possible key.
		n := 0
		for it.Seek(keys.Tombstone(uint64(acct), uint64(mbox), ^uint64(0), ^uint32(0))); it.Valid(); it.Next() {
			_, _, ms, _, err := keys.ParseModSeq(it.Item().Key())
			if err != nil {
				return err
			}
			if ms == 0 {
				continue // the floor record
			}
			if n++; n > keep {
				if top == 0 {
					top = ms
				}
				old = append(old, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune tombstones of mailbox %d: %w", mbox, err)
	}
	var floor uint64
	// The floor goes up before the tombstones go, so that it never
	// claims more than the store knows.
	err = s.update(func(txn *badger.Txn) error {
		var err error
		if floor, err = tombFloorTxn(txn, acct, mbox); err != nil || top <= floor {
			return err
		}
		floor = top
		return txn.Set(keys.TombstoneFloor(uint64(acct), uint64(mbox)), binary.AppendUvarint([]byte{vTombFloor}, floor))
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune tombstones of mailbox %d: %w", mbox, err)
	}
	pruned := len(old)
	for len(old) > 0 {
		n := min(len(old), batchSize)
		err := s.update(func(txn *badger.Txn) error {
			for _, k := range old[:n] {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return floor, 0, fmt.Errorf("prune tombstones of mailbox %d: %w", mbox, err)
		}
		old = old[n:]
	}
	return floor, pruned, nil
}

// prunesAt reports whether an Expunge whose MODSEQs ran from lo to hi
// prunes: when the range holds a multiple of pruneEvery.
func prunesAt(lo, hi uint64) bool {
	return lo != 0 && (lo%pruneEvery == 0 || lo/pruneEvery != hi/pruneEvery)
}

// maybePruneTombstones prunes a mailbox when the MODSEQs lo..hi of an
// Expunge crossed a multiple of pruneEvery.
func (s *Store) maybePruneTombstones(acct AccountID, mbox MailboxID, lo, hi uint64) {
	if !prunesAt(lo, hi) {
		return
	}
	if _, _, err := s.PruneTombstones(acct, mbox, maxTombstones); err != nil {
		// Pruning is housekeeping: the expunge itself succeeded.
		s.log.Warn("storage: pruning expunge tombstones", "mailbox", mbox, "err", err)
	}
}
