package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

const maxMailboxName = 512

// CanonicalMailboxName validates a mailbox name and spells INBOX (and the
// first level of its children) in upper case: RFC 9051 5.1 makes INBOX the
// one case-insensitive name.
func CanonicalMailboxName(name string) (string, error) {
	if name == "" || len(name) > maxMailboxName || !utf8.ValidString(name) {
		return "", ErrInvalidName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return "", ErrInvalidName
		}
	}
	d := string(Delimiter)
	if strings.HasPrefix(name, d) || strings.HasSuffix(name, d) || strings.Contains(name, d+d) {
		return "", ErrInvalidName
	}
	first, rest, found := strings.Cut(name, d)
	if strings.EqualFold(first, InboxName) {
		if !found {
			return InboxName, nil
		}
		return InboxName + d + rest, nil
	}
	return name, nil
}

func getMailboxID(txn *badger.Txn, acct AccountID, name string) (MailboxID, error) {
	it, err := txn.Get(keys.MailboxName(uint64(acct), name))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, fmt.Errorf("%w: %s", ErrNoMailbox, name)
	}
	if err != nil {
		return 0, err
	}
	var id MailboxID
	err = it.Value(func(v []byte) error {
		if len(v) != 8 {
			return errCorrupt
		}
		id = MailboxID(binary.BigEndian.Uint64(v))
		return nil
	})
	return id, err
}

func getMailbox(txn *badger.Txn, acct AccountID, id MailboxID) (*Mailbox, error) {
	it, err := txn.Get(keys.Mailbox(uint64(acct), uint64(id)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: id %d", ErrNoMailbox, id)
	}
	if err != nil {
		return nil, err
	}
	var mb Mailbox
	err = it.Value(func(v []byte) error {
		var err error
		mb, err = decodeMailbox(id, v)
		return err
	})
	return &mb, err
}

func putMailbox(txn *badger.Txn, acct AccountID, mb *Mailbox) error {
	return txn.Set(keys.Mailbox(uint64(acct), uint64(mb.ID)), encodeMailbox(mb))
}

func getMailboxByName(txn *badger.Txn, acct AccountID, name string) (*Mailbox, error) {
	cn, err := CanonicalMailboxName(name)
	if err != nil {
		return nil, err
	}
	id, err := getMailboxID(txn, acct, cn)
	if err != nil {
		return nil, err
	}
	return getMailbox(txn, acct, id)
}

// createMailboxTxn adds a mailbox inside txn; rec's UIDVALIDITY counter
// advances and the caller writes rec.
func (s *Store) createMailboxTxn(txn *badger.Txn, acct AccountID, rec *accountRecord, name, specialUse string, subscribed bool) (*Mailbox, error) {
	if _, err := getMailboxID(txn, acct, name); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrMailboxExists, name)
	} else if !errors.Is(err, ErrNoMailbox) {
		return nil, err
	}
	n, err := next(s.seqMbox)
	if err != nil {
		return nil, err
	}
	mb := &Mailbox{
		ID: MailboxID(n), Name: name, UIDValidity: rec.NextUIDValidity, UIDNext: 1,
		HighestModSeq: rec.LastModSeq, SpecialUse: specialUse, Subscribed: subscribed,
	}
	rec.NextUIDValidity++
	if err := txn.Set(keys.MailboxName(uint64(acct), name), binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return nil, err
	}
	// A new mailbox is empty, so its UID index is complete from the start.
	if err := putUIDIndexHeader(txn, acct, mb.ID); err != nil {
		return nil, err
	}
	return mb, putMailbox(txn, acct, mb)
}

// Mailboxes lists an account's mailboxes sorted by name.
func (s *Store) Mailboxes(acct AccountID) ([]Mailbox, error) {
	var out []Mailbox
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keys.MailboxPrefix(uint64(acct))})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_, id, err := keys.ParseMailbox(it.Item().Key())
			if err != nil {
				return err
			}
			err = it.Item().Value(func(v []byte) error {
				mb, err := decodeMailbox(MailboxID(id), v)
				out = append(out, mb)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Mailbox returns one mailbox by name.
func (s *Store) Mailbox(acct AccountID, name string) (Mailbox, error) {
	var out Mailbox
	err := s.view(func(txn *badger.Txn) error {
		mb, err := getMailboxByName(txn, acct, name)
		if err == nil {
			out = *mb
		}
		return err
	})
	return out, err
}

// MailboxByID returns one mailbox by ID; it fails with ErrNoMailbox once the
// mailbox was deleted, which sessions holding the ID must expect.
func (s *Store) MailboxByID(acct AccountID, id MailboxID) (Mailbox, error) {
	var out Mailbox
	err := s.view(func(txn *badger.Txn) error {
		mb, err := getMailbox(txn, acct, id)
		if err == nil {
			out = *mb
		}
		return err
	})
	return out, err
}

// CreateMailbox creates a mailbox, with an optional special-use attribute
// (RFC 6154 CREATE-SPECIAL-USE). Parents need not exist.
func (s *Store) CreateMailbox(acct AccountID, name, specialUse string) (Mailbox, error) {
	cn, err := CanonicalMailboxName(name)
	if err != nil {
		return Mailbox{}, err
	}
	switch specialUse {
	case "", SpecialSent, SpecialDrafts, SpecialTrash, SpecialJunk, SpecialArchive, `\All`, `\Flagged`:
	default:
		return Mailbox{}, fmt.Errorf("%w: special-use %s", ErrInvalidName, specialUse)
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
		mb, err = s.createMailboxTxn(txn, acct, rec, cn, specialUse, false)
		if err != nil {
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

// SetSubscribed sets or clears the mailbox's subscription (LSUB / LIST
// (SUBSCRIBED)).
func (s *Store) SetSubscribed(acct AccountID, name string, on bool) error {
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	var mb *Mailbox
	err := s.update(func(txn *badger.Txn) error {
		var err error
		mb, err = getMailboxByName(txn, acct, name)
		if errors.Is(err, ErrNoMailbox) && !on {
			// Unsubscribing from a mailbox that is gone (RFC 9051 6.3.8).
			cn, cerr := CanonicalMailboxName(name)
			if cerr != nil {
				return cerr
			}
			if had, err := setSubscribedTxn(txn, acct, cn, false); err != nil || !had {
				return errors.Join(err, ErrNoMailbox)
			}
			mb = nil
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := setSubscribedTxn(txn, acct, mb.Name, on); err != nil {
			return err
		}
		mb.Subscribed = on
		return putMailbox(txn, acct, mb)
	})
	if err == nil && mb != nil {
		s.events.publish(Event{Kind: EventMailboxSubscribed, Account: acct, Mailbox: mb.ID, Name: mb.Name})
	}
	return err
}

// RenameMailbox renames a mailbox and every mailbox below it. Renaming INBOX
// follows RFC 9051 6.3.6: its messages move to a new mailbox of the new name
// and INBOX stays, empty; INBOX's children do not move.
func (s *Store) RenameMailbox(acct AccountID, oldName, newName string) error {
	on, err := CanonicalMailboxName(oldName)
	if err != nil {
		return err
	}
	nn, err := CanonicalMailboxName(newName)
	if err != nil {
		return err
	}
	if nn == InboxName {
		return fmt.Errorf("%w: cannot rename to INBOX", ErrMailboxExists)
	}
	if on == InboxName {
		return s.renameInbox(acct, nn)
	}
	if nn == on || strings.HasPrefix(nn, on+string(Delimiter)) {
		return fmt.Errorf("%w: cannot rename %s into itself", ErrInvalidName, on)
	}
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	var renamed []Event
	err = s.update(func(txn *badger.Txn) error {
		renamed = renamed[:0]
		all, err := listMailboxesTxn(txn, acct)
		if err != nil {
			return err
		}
		found := false
		for _, mb := range all {
			found = found || mb.Name == on
		}
		if !found {
			return fmt.Errorf("%w: %s", ErrNoMailbox, on)
		}
		for _, mb := range all {
			var target string
			switch {
			case mb.Name == on:
				target = nn
			case strings.HasPrefix(mb.Name, on+string(Delimiter)):
				target = nn + mb.Name[len(on):]
			default:
				continue
			}
			for _, other := range all {
				if other.Name == target {
					return fmt.Errorf("%w: %s", ErrMailboxExists, target)
				}
			}
			if err := txn.Delete(keys.MailboxName(uint64(acct), mb.Name)); err != nil {
				return err
			}
			if err := txn.Set(keys.MailboxName(uint64(acct), target), binary.BigEndian.AppendUint64(nil, uint64(mb.ID))); err != nil {
				return err
			}
			renamed = append(renamed, Event{Kind: EventMailboxRenamed, Account: acct, Mailbox: mb.ID, Name: target, OldName: mb.Name})
			mb.Name = target
			if err := putMailbox(txn, acct, &mb); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, ev := range renamed {
		s.events.publish(ev)
	}
	return nil
}

func listMailboxesTxn(txn *badger.Txn, acct AccountID) ([]Mailbox, error) {
	var out []Mailbox
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keys.MailboxPrefix(uint64(acct))})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		_, id, err := keys.ParseMailbox(it.Item().Key())
		if err != nil {
			return nil, err
		}
		err = it.Item().Value(func(v []byte) error {
			mb, err := decodeMailbox(MailboxID(id), v)
			out = append(out, mb)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) renameInbox(acct AccountID, newName string) error {
	inbox, err := s.Mailbox(acct, InboxName)
	if err != nil {
		return err
	}
	if _, err := s.CreateMailbox(acct, newName, ""); err != nil {
		return err
	}
	for {
		msgs, err := s.Messages(acct, inbox.ID)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		uids := make([]uint32, 0, batchSize)
		for _, m := range msgs {
			if len(uids) == batchSize {
				break
			}
			uids = append(uids, m.UID)
		}
		if _, _, _, err := s.Move(acct, inbox.ID, uids, newName); err != nil {
			return err
		}
	}
}

// DeleteMailbox deletes a mailbox and its messages; its children stay
// (RFC 9051 6.3.5). INBOX cannot be deleted.
func (s *Store) DeleteMailbox(acct AccountID, name string) error {
	cn, err := CanonicalMailboxName(name)
	if err != nil {
		return err
	}
	if cn == InboxName {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrMailboxSpecial)
	}
	mb, err := s.Mailbox(acct, cn)
	if err != nil {
		return err
	}
	// Empty it in bounded transactions first, so that a mailbox of 100,000
	// messages never needs one huge transaction.
	if err := s.expungeAll(acct, mb.ID); err != nil {
		return err
	}
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	if err := s.deletePrefix(keys.TombstonePrefix(uint64(acct), uint64(mb.ID))); err != nil {
		return err
	}
	if err := s.dropUIDIndex(acct, mb.ID); err != nil {
		return err
	}
	err = s.update(func(txn *badger.Txn) error {
		cur, err := getMailbox(txn, acct, mb.ID)
		if err != nil {
			return err
		}
		if cur.Messages != 0 {
			return fmt.Errorf("storage: mailbox %s received mail while being deleted; try again", cn)
		}
		if err := txn.Delete(keys.MailboxName(uint64(acct), cur.Name)); err != nil {
			return err
		}
		if cur.Subscribed {
			// The subscription outlives the mailbox (RFC 9051 6.3.9).
			if _, err := setSubscribedTxn(txn, acct, cur.Name, true); err != nil {
				return err
			}
		}
		return txn.Delete(keys.Mailbox(uint64(acct), uint64(mb.ID)))
	})
	if err != nil {
		return err
	}
	s.events.publish(Event{Kind: EventMailboxDeleted, Account: acct, Mailbox: mb.ID, Name: cn})
	return nil
}
