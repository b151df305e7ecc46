package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// Messages returns the metadata of every message of a mailbox in UID order.
// It reads only the small message records (100,000 of them in well under a
// second on the board), never bodies.
func (s *Store) Messages(acct AccountID, mbox MailboxID) ([]Message, error) {
	var out []Message
	err := s.view(func(txn *badger.Txn) error {
		if _, err := getMailbox(txn, acct, mbox); err != nil {
			return err
		}
		var err error
		out, err = listMessagesTxn(txn, acct, mbox, 0)
		return err
	})
	return out, err
}

// listMessagesTxn reads message records in UID order, at most limit (0: all).
func listMessagesTxn(txn *badger.Txn, acct AccountID, mbox MailboxID, limit int) ([]Message, error) {
	var out []Message
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keys.MessagePrefix(uint64(acct), uint64(mbox))})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		_, _, uid, err := keys.ParseMessage(it.Item().Key())
		if err != nil {
			return nil, err
		}
		err = it.Item().Value(func(v []byte) error {
			m, err := decodeMessage(uid, v)
			out = append(out, m)
			return err
		})
		if err != nil {
			return nil, err
		}
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func getMessage(txn *badger.Txn, acct AccountID, mbox MailboxID, uid uint32) (*Message, error) {
	it, err := txn.Get(keys.Message(uint64(acct), uint64(mbox), uid))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("message %d: %w", uid, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var m Message
	err = it.Value(func(v []byte) error {
		var err error
		m, err = decodeMessage(uid, v)
		return err
	})
	return &m, err
}

// Message returns one message's metadata.
func (s *Store) Message(acct AccountID, mbox MailboxID, uid uint32) (Message, error) {
	var out Message
	err := s.view(func(txn *badger.Txn) error {
		m, err := getMessage(txn, acct, mbox, uid)
		if err == nil {
			out = *m
		}
		return err
	})
	return out, err
}

// Object returns a body's size, line count and cached structure.
func (s *Store) Object(id ObjectID) (Object, error) {
	var out Object
	err := s.view(func(txn *badger.Txn) error {
		rec, err := getObject(txn, id)
		if err != nil {
			return err
		}
		out = rec.object(id)
		return nil
	})
	return out, err
}

// Envelope returns a body's cached top-level envelope alone (nil when it
// has none), without decoding its MIME structure: what a header SEARCH
// reads of each message.
func (s *Store) Envelope(id ObjectID) (*Envelope, error) {
	var out *Envelope
	err := s.view(func(txn *badger.Txn) error {
		it, err := txn.Get(keys.Object(uint64(id)))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("object %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) (err error) {
			if out, err = decodeEnvelope(v); err != nil {
				return objectError(id, err)
			}
			return nil
		})
	})
	return out, err
}

// EnvelopeReader reads the cached envelopes of bodies by object id.
type EnvelopeReader interface {
	Envelope(ObjectID) (*Envelope, error)
}

var _ EnvelopeReader = (*Store)(nil)

// ScanEnvelopes returns an EnvelopeReader over one snapshot for reading
// many envelopes asked for in about ascending object order, as the
// messages of a mailbox in UID order mostly are: it steps from record to
// record with one iterator instead of looking each up from the top of the
// LSM tree, which was a third of a SUBJECT search. Call done when
// finished; the reader must not be used after.
func (s *Store) ScanEnvelopes() (r EnvelopeReader, done func()) {
	txn := s.db.NewTransaction(false)
	sc := &envelopeScan{txn: txn, it: txn.NewIterator(badger.IteratorOptions{Prefix: keys.Prefix(keys.TagObject)})}
	return sc, func() { sc.it.Close(); txn.Discard() }
}

type envelopeScan struct {
	txn *badger.Txn
	it  *badger.Iterator
}

// stepTo positions it at k, a key of a family whose keys start with the
// tag and an object id (30, 31), stepping forward when k is a few records
// ahead and seeking otherwise (behind, far ahead); it reports whether k
// exists.
func stepTo(it *badger.Iterator, k []byte) bool {
	if !it.Valid() {
		it.Seek(k)
	} else if cur := it.Item().Key(); len(cur) < 9 || bytes.Compare(cur, k) > 0 ||
		binary.BigEndian.Uint64(k[1:9])-binary.BigEndian.Uint64(cur[1:9]) > seekGap {
		it.Seek(k)
	}
	for steps := 0; it.Valid() && bytes.Compare(it.Item().Key(), k) < 0; steps++ {
		if steps == seekGap {
			it.Seek(k)
			break
		}
		it.Next()
	}
	return it.Valid() && bytes.Equal(it.Item().Key(), k)
}

func (sc *envelopeScan) Envelope(id ObjectID) (*Envelope, error) {
	if !stepTo(sc.it, keys.Object(uint64(id))) {
		return nil, fmt.Errorf("object %d: %w", id, ErrNotFound)
	}
	it := sc.it
	var out *Envelope
	err := it.Item().Value(func(v []byte) (err error) {
		if out, err = decodeEnvelope(v); err != nil {
			return objectError(id, err)
		}
		return nil
	})
	return out, err
}

// batchResult is what one batch transaction produced: events to publish
// and results to keep, both acted on only after the commit succeeded (a
// transaction that conflicts runs again from scratch).
type batchResult struct {
	events []Event
	keep   func()
}

// mutateBatches runs fn over uids in transactions of batchSize under the
// account's writer lock, keeping the mailbox and account records exact, and
// after each commit keeps the batch's results and publishes its events.
func (s *Store) mutateBatches(acct AccountID, mbox MailboxID, uids []uint32,
	fn func(txn *badger.Txn, mb *Mailbox, rec *accountRecord, batch []uint32) (batchResult, error)) error {
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	for len(uids) > 0 {
		batch := uids[:min(len(uids), batchSize)]
		uids = uids[len(batch):]
		var res batchResult
		hold := func() {}
		err := s.update(func(txn *badger.Txn) error {
			hold() // a conflict runs the batch again
			rec, err := s.getAccount(txn, acct)
			if err != nil {
				return err
			}
			mb, err := getMailbox(txn, acct, mbox)
			if err != nil {
				return err
			}
			res, err = fn(txn, mb, rec, batch)
			if err != nil {
				return err
			}
			// Expunged bodies stay until the event is out (imap_hold.go).
			hold = s.holdExpunged(res.events)
			if err := putMailbox(txn, acct, mb); err != nil {
				return err
			}
			return putAccount(txn, acct, rec)
		})
		if err != nil {
			hold()
			return err
		}
		if res.keep != nil {
			res.keep()
		}
		for _, ev := range res.events {
			s.events.publish(ev)
		}
		hold()
	}
	return nil
}

// eachMessage calls fn for every message of batch that still exists.
func eachMessage(txn *badger.Txn, acct AccountID, mbox MailboxID, batch []uint32, fn func(m *Message) error) error {
	for _, uid := range batch {
		m, err := getMessage(txn, acct, mbox, uid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// rewriteMessage applies change to a message under a new MODSEQ, keeping the
// MODSEQ index and the exact counts in step, and returns its flags event.
func rewriteMessage(txn *badger.Txn, acct AccountID, mb *Mailbox, rec *accountRecord, m *Message, change func(*Message)) (Event, error) {
	if err := txn.Delete(keys.ModSeq(uint64(acct), uint64(mb.ID), m.ModSeq, m.UID)); err != nil {
		return Event{}, err
	}
	countMessage(mb, rec, m, -1)
	change(m)
	rec.LastModSeq++
	m.ModSeq = rec.LastModSeq
	mb.HighestModSeq = m.ModSeq
	countMessage(mb, rec, m, +1)
	if err := putMessage(txn, acct, mb.ID, m); err != nil {
		return Event{}, err
	}
	return Event{Kind: EventFlags, Account: acct, Mailbox: mb.ID, Message: *m}, nil
}

// SetFlags changes the flags of the given messages (missing UIDs are
// skipped) and returns every message found, as it is afterwards. Only
// messages whose flags really change get a new MODSEQ.
func (s *Store) SetFlags(acct AccountID, mbox MailboxID, uids []uint32, op FlagOp, flags Flags, keywords []string) ([]Message, error) {
	out, _, err := s.setFlags(acct, mbox, uids, op, flags, keywords, nil)
	return out, err
}

// SetFlagsUnchangedSince is SetFlags for a conditional STORE (RFC 7162
// 3.1.3, UNCHANGEDSINCE since): a message whose MODSEQ is above since is
// left alone, and its UID is in modified (ascending, as uids is). The
// MODSEQ is compared in the transaction that writes, under the account's
// writer lock, so of two sessions storing with the same since one wins
// and the other is told MODIFIED; a test before the write would let both
// win.
func (s *Store) SetFlagsUnchangedSince(acct AccountID, mbox MailboxID, uids []uint32, op FlagOp, flags Flags, keywords []string, since uint64) (changed []Message, modified []uint32, err error) {
	return s.setFlags(acct, mbox, uids, op, flags, keywords, &since)
}

func (s *Store) setFlags(acct AccountID, mbox MailboxID, uids []uint32, op FlagOp, flags Flags, keywords []string, since *uint64) ([]Message, []uint32, error) {
	var out []Message
	var modified []uint32
	err := s.mutateBatches(acct, mbox, uids, func(txn *badger.Txn, mb *Mailbox, rec *accountRecord, batch []uint32) (batchResult, error) {
		var events []Event
		var got []Message
		var mod []uint32
		err := eachMessage(txn, acct, mbox, batch, func(m *Message) error {
			if since != nil && m.ModSeq > *since {
				mod = append(mod, m.UID)
				return nil
			}
			nf, nk := applyFlags(m.Flags, m.Keywords, op, flags, keywords)
			if nf != m.Flags || !slices.Equal(nk, m.Keywords) {
				ev, err := rewriteMessage(txn, acct, mb, rec, m, func(m *Message) { m.Flags, m.Keywords = nf, nk })
				if err != nil {
					return err
				}
				events = append(events, ev)
			}
			got = append(got, *m)
			return nil
		})
		return batchResult{events, func() { out, modified = append(out, got...), append(modified, mod...) }}, err
	})
	return out, modified, err
}

func applyFlags(cur Flags, curKw []string, op FlagOp, f Flags, kw []string) (Flags, []string) {
	switch op {
	case FlagsAdd:
		out := slices.Clone(curKw)
		for _, k := range kw {
			out = appendKeyword(out, k)
		}
		return cur | f, out
	case FlagsRemove:
		var out []string
		for _, k := range curKw {
			if !slices.Contains(kw, k) {
				out = append(out, k)
			}
		}
		return cur &^ f, out
	default:
		var out []string
		for _, k := range kw {
			out = appendKeyword(out, k)
		}
		return f, out
	}
}

// Copy copies messages into the mailbox dst of the same account, adding a
// reference to each body rather than copying bytes. It returns dst as it is
// afterwards and the source and new UIDs, pairwise (RFC 4315 COPYUID).
func (s *Store) Copy(acct AccountID, src MailboxID, uids []uint32, dst string) (Mailbox, []uint32, []uint32, error) {
	return s.copyMove(acct, src, uids, dst, false)
}

// Move is Copy followed by expunging the sources, atomically per batch
// (RFC 6851).
func (s *Store) Move(acct AccountID, src MailboxID, uids []uint32, dst string) (Mailbox, []uint32, []uint32, error) {
	return s.copyMove(acct, src, uids, dst, true)
}

func (s *Store) copyMove(acct AccountID, src MailboxID, uids []uint32, dst string, move bool) (Mailbox, []uint32, []uint32, error) {
	dstMb, err := s.Mailbox(acct, dst)
	if err != nil {
		return Mailbox{}, nil, nil, err
	}
	var srcUIDs, dstUIDs []uint32
	err = s.mutateBatches(acct, src, uids, func(txn *badger.Txn, smb *Mailbox, rec *accountRecord, batch []uint32) (batchResult, error) {
		var events []Event
		var bs, bd []uint32
		dmb := smb
		if dstMb.ID != src {
			var err error
			if dmb, err = getMailbox(txn, acct, dstMb.ID); err != nil {
				return batchResult{}, err
			}
		}
		err := eachMessage(txn, acct, src, batch, func(m *Message) error {
			nm := *m
			nm.UID = dmb.UIDNext
			dmb.UIDNext++
			rec.LastModSeq++
			nm.ModSeq = rec.LastModSeq
			if err := putMessage(txn, acct, dmb.ID, &nm); err != nil {
				return err
			}
			countMessage(dmb, rec, &nm, +1)
			dmb.HighestModSeq = nm.ModSeq
			if err := addRef(txn, m.Object, +1); err != nil {
				return err
			}
			origin := OriginCopy
			if move {
				origin = OriginMove
			}
			events = append(events, Event{Kind: EventAdded, Account: acct, Mailbox: dmb.ID, Message: nm, Origin: origin})
			if move {
				ev, err := expungeTxn(txn, acct, smb, rec, m)
				if err != nil {
					return err
				}
				events = append(events, ev)
			}
			bs, bd = append(bs, m.UID), append(bd, nm.UID)
			return nil
		})
		if err != nil {
			return batchResult{}, err
		}
		if dmb != smb {
			if err := putMailbox(txn, acct, dmb); err != nil {
				return batchResult{}, err
			}
		}
		return batchResult{events, func() { srcUIDs, dstUIDs = append(srcUIDs, bs...), append(dstUIDs, bd...) }}, nil
	})
	if err != nil {
		return Mailbox{}, nil, nil, err
	}
	dstMb, err = s.MailboxByID(acct, dstMb.ID)
	return dstMb, srcUIDs, dstUIDs, err
}

// expungeTxn removes one message: its record and index entry go, a
// tombstone remembers the expunge for QRESYNC, and the body loses a reference.
func expungeTxn(txn *badger.Txn, acct AccountID, mb *Mailbox, rec *accountRecord, m *Message) (Event, error) {
	if err := txn.Delete(keys.Message(uint64(acct), uint64(mb.ID), m.UID)); err != nil {
		return Event{}, err
	}
	if err := txn.Delete(keys.ModSeq(uint64(acct), uint64(mb.ID), m.ModSeq, m.UID)); err != nil {
		return Event{}, err
	}
	countMessage(mb, rec, m, -1)
	rec.LastModSeq++
	mb.HighestModSeq = rec.LastModSeq
	if err := txn.Set(keys.Tombstone(uint64(acct), uint64(mb.ID), rec.LastModSeq, m.UID), nil); err != nil {
		return Event{}, err
	}
	if err := addRef(txn, m.Object, -1); err != nil {
		return Event{}, err
	}
	// The event carries the message as it was, so that IMAP sessions that
	// still show it can serve it until they tell their client.
	gone := *m
	gone.ModSeq = rec.LastModSeq
	return Event{Kind: EventExpunged, Account: acct, Mailbox: mb.ID, Message: gone}, nil
}

// Expunge removes messages. With uids == nil it removes every message
// flagged \Deleted (IMAP EXPUNGE); otherwise exactly the given UIDs, whatever
// their flags (POP3 QUIT; IMAP UID EXPUNGE filters \Deleted itself). Missing
// UIDs are skipped. It returns the UIDs removed, ascending.
func (s *Store) Expunge(acct AccountID, mbox MailboxID, uids []uint32) ([]uint32, error) {
	if uids == nil {
		var err error
		if uids, err = s.deletedUIDs(acct, mbox); err != nil {
			return nil, err
		}
	}
	uids = slices.Clone(uids)
	slices.Sort(uids)
	uids = slices.Compact(uids)
	var gone []uint32
	var lo, hi uint64 // the MODSEQs of the expunges, for pruning
	err := s.mutateBatches(acct, mbox, uids, func(txn *badger.Txn, mb *Mailbox, rec *accountRecord, batch []uint32) (batchResult, error) {
		var events []Event
		var bg []uint32
		err := eachMessage(txn, acct, mbox, batch, func(m *Message) error {
			ev, err := expungeTxn(txn, acct, mb, rec, m)
			if lo == 0 {
				lo = ev.Message.ModSeq
			}
			hi = ev.Message.ModSeq
			events = append(events, ev)
			bg = append(bg, m.UID)
			return err
		})
		if err != nil {
			return batchResult{}, err
		}
		return batchResult{events, func() { gone = append(gone, bg...) }}, nil
	})
	if len(gone) > 0 {
		s.kickEraser()
		s.maybePruneTombstones(acct, mbox, lo, hi)
	}
	return gone, err
}

// expungeAll empties a mailbox in bounded transactions.
func (s *Store) expungeAll(acct AccountID, mbox MailboxID) error {
	for {
		var uids []uint32
		err := s.view(func(txn *badger.Txn) error {
			msgs, err := listMessagesTxn(txn, acct, mbox, batchSize)
			for _, m := range msgs {
				uids = append(uids, m.UID)
			}
			return err
		})
		if err != nil || len(uids) == 0 {
			return err
		}
		if _, err := s.Expunge(acct, mbox, uids); err != nil {
			return err
		}
	}
}

// MarkPOPDownloaded records the first POP3 download of messages (for the
// retention policy) and sets \Seen, as IMAP users expect of mail read
// elsewhere.
func (s *Store) MarkPOPDownloaded(acct AccountID, mbox MailboxID, uids []uint32, at time.Time) error {
	return s.mutateBatches(acct, mbox, uids, func(txn *badger.Txn, mb *Mailbox, rec *accountRecord, batch []uint32) (batchResult, error) {
		var events []Event
		err := eachMessage(txn, acct, mbox, batch, func(m *Message) error {
			if !m.POPDownloaded.IsZero() && m.Flags&FlagSeen != 0 {
				return nil
			}
			ev, err := rewriteMessage(txn, acct, mb, rec, m, func(m *Message) {
				if m.POPDownloaded.IsZero() {
					m.POPDownloaded = at
				}
				m.Flags |= FlagSeen
			})
			events = append(events, ev)
			return err
		})
		return batchResult{events: events}, err
	})
}

// DeleteAccount removes an account, its addresses, mailboxes and messages.
func (s *Store) DeleteAccount(name string) (err error) {
	a, err := s.Account(name)
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			s.setQuotaCache(a.ID, 0)
			s.creds.forget(a.ID)
			s.logins.forget(a.ID)
		}
	}()
	mbs, err := s.Mailboxes(a.ID)
	if err != nil {
		return err
	}
	for _, mb := range mbs {
		if err := s.expungeAll(a.ID, mb.ID); err != nil {
			return err
		}
	}
	mu := s.accountLock(a.ID)
	mu.Lock()
	defer mu.Unlock()
	for _, mb := range mbs {
		if err := s.deletePrefix(keys.TombstonePrefix(uint64(a.ID), uint64(mb.ID))); err != nil {
			return err
		}
		if err := s.dropUIDIndex(a.ID, mb.ID); err != nil {
			return err
		}
	}
	err = s.update(func(txn *badger.Txn) error {
		rec, err := s.getAccount(txn, a.ID)
		if err != nil {
			return err
		}
		if rec.Messages != 0 {
			return fmt.Errorf("storage: account %s received mail while being deleted; try again", a.Name)
		}
		for _, addr := range rec.Addresses {
			if err := removeAddress(txn, addr); err != nil {
				return err
			}
		}
		for _, mb := range mbs {
			if err := txn.Delete(keys.MailboxName(uint64(a.ID), mb.Name)); err != nil {
				return err
			}
			if err := txn.Delete(keys.Mailbox(uint64(a.ID), uint64(mb.ID))); err != nil {
				return err
			}
		}
		if err := deleteAccountExtras(txn, a.ID); err != nil {
			return err
		}
		if err := deleteSubscriptionsTxn(txn, a.ID); err != nil {
			return err
		}
		return txn.Delete(keys.Account(uint64(a.ID)))
	})
	if err != nil {
		return err
	}
	s.log.Info("account deleted", "account", a.Name)
	return nil
}

// deletePrefix deletes every key under prefix in bounded transactions.
func (s *Store) deletePrefix(prefix []byte) error {
	for {
		var ks [][]byte
		err := s.view(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(ks) < batchSize; it.Next() {
				ks = append(ks, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(ks) == 0 {
			return err
		}
		err = s.update(func(txn *badger.Txn) error {
			for _, k := range ks {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}
