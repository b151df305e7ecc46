package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// The day's mail counts (the display's "mail today", "sent today") are
// kept in the store, written in the same transaction as the mail they
// count, so that no crash, SIGKILL or power cut can lose or double them:
// a message that was acknowledged is counted, one that was not is not.
//
// One record per account and local date (key family 50), changed only by
// that account's commits under its writer lock, so concurrent deliveries
// to different accounts never conflict on a shared counter. The recipients
// the outbound queue delivered to other servers are counted under account
// 0 in the queue's update transaction. Records of old days go with
// PruneDayCounts.

// DayCounts is what the store counted on one local date.
type DayCounts struct {
	// Added counts new messages by Origin: every delivery (inbound,
	// submission, sent copy, bounce, delay notice), not APPEND, COPY or
	// MOVE, which are a user's own filing.
	Added map[Origin]int
	// Relayed counts recipients delivered to other servers.
	Relayed int
}

// vDayCount is the value's version: then pairs of (kind byte, uvarint
// count), kind an Origin or kindRelayed.
const (
	vDayCount   byte = 1
	kindRelayed byte = 0xff
)

// dayKey is the local date of t as yyyymmdd.
func dayKey(t time.Time) uint32 {
	y, m, d := t.Local().Date()
	return uint32(y*10000 + int(m)*100 + d)
}

// countsOrigin reports whether a new message of this origin is counted.
func countsOrigin(o Origin) bool {
	switch o {
	case OriginInbound, OriginSubmission, OriginSentCopy, OriginBounce, OriginDelayNotice:
		return true
	}
	return false
}

// addDayCounts adds the deliveries among events (EventAdded) to the
// account's counts of the days they were delivered, inside the delivery's
// own transaction.
func addDayCounts(txn *badger.Txn, acct AccountID, events []Event) error {
	var adds map[uint32]map[byte]int
	for _, ev := range events {
		if ev.Kind != EventAdded || !countsOrigin(ev.Origin) {
			continue
		}
		day := dayKey(ev.Message.InternalDate)
		if adds == nil {
			adds = map[uint32]map[byte]int{}
		}
		if adds[day] == nil {
			adds[day] = map[byte]int{}
		}
		adds[day][byte(ev.Origin)]++
	}
	for day, add := range adds {
		if err := addDayCount(txn, keys.DayCount(day, uint64(acct)), add); err != nil {
			return err
		}
	}
	return nil
}

// addRelayed counts the recipients that an update of a queued message
// turned to delivered, on the day of their attempt, in the update's
// transaction.
func addRelayed(txn *badger.Txn, before, after []QueueRecipient) error {
	adds := map[uint32]int{}
	for i := range after {
		if after[i].State != QueueDelivered || before[i].State == QueueDelivered {
			continue
		}
		at := after[i].LastAttempt
		if at.IsZero() {
			at = time.Now()
		}
		adds[dayKey(at)]++
	}
	for day, n := range adds {
		if err := addDayCount(txn, keys.DayCount(day, 0), map[byte]int{kindRelayed: n}); err != nil {
			return err
		}
	}
	return nil
}

func addDayCount(txn *badger.Txn, k []byte, add map[byte]int) error {
	counts := map[byte]int{}
	item, err := txn.Get(k)
	switch {
	case err == nil:
		if err := item.Value(func(v []byte) error { return decodeDayCount(v, counts) }); err != nil {
			return fmt.Errorf("day count %x: %w", k, err)
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	for kind, n := range add {
		counts[kind] += n
	}
	return txn.Set(k, encodeDayCount(counts))
}

func encodeDayCount(counts map[byte]int) []byte {
	b := []byte{vDayCount}
	for kind := range 256 {
		if n := counts[byte(kind)]; n > 0 {
			b = binary.AppendUvarint(append(b, byte(kind)), uint64(n))
		}
	}
	return b
}

func decodeDayCount(v []byte, into map[byte]int) error {
	if len(v) == 0 || v[0] != vDayCount {
		return errors.New("storage: day count: unknown version")
	}
	for v = v[1:]; len(v) > 0; {
		kind := v[0]
		n, size := binary.Uvarint(v[1:])
		if size <= 0 {
			return errors.New("storage: day count: bad number")
		}
		into[kind] += int(n)
		v = v[1+size:]
	}
	return nil
}

// DayCounts returns the counts of the local date of day, over every
// account.
func (s *Store) DayCounts(day time.Time) (DayCounts, error) {
	counts := map[byte]int{}
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keys.DayCountPrefix(dayKey(day))})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := it.Item().Value(func(v []byte) error { return decodeDayCount(v, counts) }); err != nil {
				return fmt.Errorf("day count %x: %w", it.Item().Key(), err)
			}
		}
		return nil
	})
	if err != nil {
		return DayCounts{}, fmt.Errorf("storage: read the day's counts: %w", err)
	}
	out := DayCounts{Added: map[Origin]int{}, Relayed: counts[kindRelayed]}
	for kind, n := range counts {
		if kind != kindRelayed {
			out.Added[Origin(kind)] = n
		}
	}
	return out, nil
}

// PruneDayCounts deletes the counts of every local date before the one of
// before.
func (s *Store) PruneDayCounts(before time.Time) error {
	limit := keys.DayCountPrefix(dayKey(before))
	var old [][]byte
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.DayCountFamily()})
		defer it.Close()
		for it.Rewind(); it.Valid() && string(it.Item().Key()) < string(limit); it.Next() {
			old = append(old, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return err
	}
	return s.update(func(txn *badger.Txn) error {
		for _, k := range old {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
