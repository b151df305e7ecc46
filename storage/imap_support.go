package storage

// Reads the IMAP session (appliance/imapd) needs beyond Messages and
// Message: a mailbox and its messages from one snapshot, and the messages
// of a few UID ranges without reading the whole mailbox.

import (
	"bytes"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// UIDRange is an inclusive range of UIDs.
type UIDRange struct{ First, Last uint32 }

// MailboxSnapshot returns a mailbox by name and the metadata of all its
// messages from one read transaction, so that the counts, UIDNEXT and
// HIGHESTMODSEQ agree with the list exactly (IMAP SELECT): a change event
// whose MODSEQ is above the snapshot's HighestModSeq happened after it.
func (s *Store) MailboxSnapshot(acct AccountID, name string) (Mailbox, []Message, error) {
	var mb Mailbox
	var msgs []Message
	err := s.view(func(txn *badger.Txn) error {
		m, err := getMailboxByName(txn, acct, name)
		if err != nil {
			return err
		}
		mb = *m
		msgs, err = listMessagesTxn(txn, acct, m.ID, 0)
		return err
	})
	return mb, msgs, err
}

// seekGap is how far ahead the next range may start before
// MessagesInRanges seeks instead of stepping: stepping over a few records
// is cheaper than a seek through every level of the LSM tree.
const seekGap = 64

// MessagesInRanges returns the messages whose UIDs fall in ranges, in UID
// order. ranges must be ascending and must not overlap. It fails with
// ErrNoMailbox once the mailbox is gone.
func (s *Store) MessagesInRanges(acct AccountID, mbox MailboxID, ranges []UIDRange) ([]Message, error) {
	var out []Message
	err := s.view(func(txn *badger.Txn) error {
		if _, err := getMailbox(txn, acct, mbox); err != nil {
			return err
		}
		if len(ranges) == 0 {
			return nil
		}
		prefix := keys.MessagePrefix(uint64(acct), uint64(mbox))
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
		defer it.Close()
		it.Seek(keys.Message(uint64(acct), uint64(mbox), ranges[0].First))
		r := 0
		for it.Valid() && r < len(ranges) {
			k := it.Item().Key()
			if !bytes.HasPrefix(k, prefix) {
				break
			}
			_, _, uid, err := keys.ParseMessage(k)
			if err != nil {
				return err
			}
			for r < len(ranges) && uid > ranges[r].Last {
				r++
			}
			if r == len(ranges) {
				break
			}
			if uid < ranges[r].First {
				if ranges[r].First-uid > seekGap {
					it.Seek(keys.Message(uint64(acct), uint64(mbox), ranges[r].First))
				} else {
					it.Next()
				}
				continue
			}
			err = it.Item().Value(func(v []byte) error {
				m, err := decodeMessage(uid, v)
				out = append(out, m)
				return err
			})
			if err != nil {
				return err
			}
			it.Next()
		}
		return nil
	})
	return out, err
}
