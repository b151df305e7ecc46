package storage

import (
	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// IMAP subscriptions (RFC 9051 6.3.7-6.3.9) are kept apart from the
// mailbox records (family 12): a subscription outlives DELETE, and
// LIST (SUBSCRIBED) shows it with \NonExistent until the mailbox is
// created again. A mailbox record's Subscribed flag (set for the special
// mailboxes at creation) counts as a subscription too; DELETE turns it
// into a record of its own.

// subscribedValue is a subscription's value: a version byte.
var subscribedValue = []byte{1}

// Subscriptions returns the names an account subscribed to that are kept
// apart from mailbox records (see Mailbox.Subscribed for the others), in
// key order.
func (s *Store) Subscriptions(acct AccountID) ([]string, error) {
	var out []string
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.SubscribedPrefix(uint64(acct))})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_, name, err := keys.ParseSubscribed(it.Item().Key())
			if err != nil {
				return err
			}
			out = append(out, name)
		}
		return nil
	})
	return out, err
}

// setSubscribedTxn records or removes a subscription apart from the
// mailbox; removing one that does not exist reports false.
func setSubscribedTxn(txn *badger.Txn, acct AccountID, name string, on bool) (bool, error) {
	k := keys.Subscribed(uint64(acct), name)
	if on {
		return true, txn.Set(k, subscribedValue)
	}
	if _, err := txn.Get(k); err == badger.ErrKeyNotFound {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, txn.Delete(k)
}

// deleteSubscriptionsTxn removes an account's subscriptions.
func deleteSubscriptionsTxn(txn *badger.Txn, acct AccountID) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.SubscribedPrefix(uint64(acct))})
	var ks [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		ks = append(ks, it.Item().KeyCopy(nil))
	}
	it.Close()
	for _, k := range ks {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
