package storage

// Reads the IMAP session (appliance/imapd) needs beyond Messages and
// Message: a mailbox and its messages from one snapshot, and the messages
// of a few UID ranges without reading the whole mailbox.

import (
	"bytes"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// UIDRange is an inclusive range of UIDs.
type UIDRange struct{ First, Last uint32 }

// SelectView is what IMAP SELECT needs of a mailbox, from one read
// transaction so that the counts, UIDNEXT and HIGHESTMODSEQ agree with the
// list exactly: a change event whose MODSEQ is above HighestModSeq
// happened after it.
type SelectView struct {
	Mailbox
	Runs        []UIDRange // every message, as ascending runs of consecutive UIDs
	FirstUnseen uint32     // position (1-based) of the first message without \Seen; 0: none
	Keywords    []string   // keywords in use, at most the maxKeywords asked for
}

// MailboxSelect reads a mailbox by name for SELECT from its UID index
// (uidindex.go): a block record per 4,096 UIDs rather than a record per
// message. A mailbox without an index yet (a store from before it) gets
// one built here, once; should the index disagree with the mailbox's
// counts, it is rebuilt and, failing that, the records answer.
func (s *Store) MailboxSelect(acct AccountID, name string, maxKeywords int) (SelectView, error) {
	out, err := s.selectView(acct, name, maxKeywords, true)
	if !errors.Is(err, errNoUIDIndex) {
		return out, err
	}
	if errors.Is(err, errStaleUIDIndex) {
		s.log.Warn("mailbox UID index disagrees with the mailbox's counts; rebuilding it", "account", acct, "mailbox", out.Name)
	}
	if err := s.rebuildUIDIndex(acct, out.ID, false); err != nil {
		s.log.Warn("building a mailbox UID index", "account", acct, "mailbox", out.Name, "err", err)
	} else if out, err = s.selectView(acct, name, maxKeywords, true); !errors.Is(err, errNoUIDIndex) {
		return out, err
	}
	return s.selectView(acct, name, maxKeywords, false)
}

// selectView reads a SelectView from the UID index or, when !fromIndex,
// from the message records. With the index missing or stale it returns
// errNoUIDIndex and the Mailbox alone.
func (s *Store) selectView(acct AccountID, name string, maxKeywords int, fromIndex bool) (SelectView, error) {
	var out SelectView
	err := s.view(func(txn *badger.Txn) error {
		mb, err := getMailboxByName(txn, acct, name)
		if err != nil {
			return err
		}
		out.Mailbox = *mb
		if fromIndex {
			return readUIDIndex(txn, acct, mb, maxKeywords, &out, nil)
		}
		seen := map[string]bool{}
		n := uint32(0)
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keys.MessagePrefix(uint64(acct), uint64(mb.ID))})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_, _, uid, err := keys.ParseMessage(it.Item().Key())
			if err != nil {
				return err
			}
			err = it.Item().Value(func(v []byte) error {
				m, err := decodeMessage(uid, v)
				if err != nil {
					return err
				}
				n++
				if k := len(out.Runs); k > 0 && out.Runs[k-1].Last+1 == uid {
					out.Runs[k-1].Last = uid
				} else {
					out.Runs = append(out.Runs, UIDRange{First: uid, Last: uid})
				}
				if out.FirstUnseen == 0 && m.Flags&FlagSeen == 0 {
					out.FirstUnseen = n
				}
				for _, k := range m.Keywords {
					if !seen[k] && len(out.Keywords) < maxKeywords {
						seen[k] = true
						out.Keywords = append(out.Keywords, k)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
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
