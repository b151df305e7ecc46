package storage

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Putting a mailbox back from a backup (appliance/backup) so that mail
// programs do not download it again: a mailbox that is gone is made anew
// with its old UIDVALIDITY, its messages get their old UIDs, and UIDNEXT
// is set back to where it was. A client that still holds the folder finds
// the same UIDVALIDITY and UIDs and keeps its copy. UIDs only ever go up
// within a mailbox (RFC 9051 2.3.1.1), so AppendUID refuses a UID below
// UIDNEXT: messages are put back in UID order, into a fresh mailbox.

// RecreateMailbox makes the mailbox name with the given UIDVALIDITY (and
// special use and subscription, as they were); it
// fails with ErrMailboxExists when the account has one by that name. The
// account's next UIDVALIDITY is raised past it, so no later mailbox
// takes it.
func (s *Store) RecreateMailbox(acct AccountID, name, specialUse string, subscribed bool, uidValidity uint32) (Mailbox, error) {
	cn, err := CanonicalMailboxName(name)
	if err != nil {
		return Mailbox{}, err
	}
	if uidValidity == 0 {
		return Mailbox{}, fmt.Errorf("%w: UIDVALIDITY 0", ErrInvalidName)
	}
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	var mb *Mailbox
	err = s.update(func(txn *badger.Txn) error {
		rec, err := s.getAccount(txn, acct)
		if err != nil {
			return err
		}
		if mb, err = s.createMailboxTxn(txn, acct, rec, cn, specialUse, subscribed); err != nil {
			return err
		}
		mb.UIDValidity = uidValidity
		if rec.NextUIDValidity <= uidValidity {
			rec.NextUIDValidity = uidValidity + 1
		}
		if err := putMailbox(txn, acct, mb); err != nil {
			return err
		}
		return putAccount(txn, acct, rec)
	})
	if err != nil {
		return Mailbox{}, err
	}
	s.events.publish(Event{Kind: EventMailboxCreated, Account: acct, Mailbox: mb.ID, Name: mb.Name})
	return *mb, nil
}

// AppendUID is Append with the message's UID given: at least the
// mailbox's UIDNEXT, which becomes uid+1. Quota is not enforced: the
// mail was the account's before.
func (s *Store) AppendUID(ctx context.Context, acct AccountID, mailbox string, uid uint32, flags Flags, keywords []string, date time.Time, body io.Reader) (Delivered, error) {
	cn, err := CanonicalMailboxName(mailbox)
	if err != nil {
		return Delivered{}, err
	}
	if uid == 0 {
		return Delivered{}, fmt.Errorf("storage: UID 0")
	}
	out, err := s.store(ctx, []target{{acct: acct, mailbox: cn, flags: flags, keywords: keywords, origin: OriginAppend, uid: uid}}, date, body, s.maxSize, false)
	if err != nil {
		return Delivered{}, err
	}
	return out[0], nil
}

// RaiseUIDNext sets the mailbox's UIDNEXT to uidNext when that is higher:
// UIDs of messages expunged before the backup stay used.
func (s *Store) RaiseUIDNext(acct AccountID, mailbox string, uidNext uint32) error {
	cn, err := CanonicalMailboxName(mailbox)
	if err != nil {
		return err
	}
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	return s.update(func(txn *badger.Txn) error {
		mb, err := getMailboxByName(txn, acct, cn)
		if err != nil {
			return err
		}
		if mb.UIDNext >= uidNext {
			return nil
		}
		mb.UIDNext = uidNext
		return putMailbox(txn, acct, mb)
	})
}
