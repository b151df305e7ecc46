package storage

// The outbound queue's persistent state (appliance/queue does the
// delivering). A queued message is two key families:
//
//	40 qid        queueRecord: sender, body object, header prefix, flags
//	41 qid rcpt   queueRcptRecord: one recipient's state, attempts, errors
//
// The body is an ordinary object (30/31) holding one reference per queued
// message, so it is stored once however many recipients it has, is staged
// in chunks like any delivery (stage.go), and is erased by the usual eraser
// when the queue and every mailbox let go of it: a submission to local and
// remote recipients stores one object that both reference. Queue IDs come
// from the objects' sequence, so they are never reused, but a queue ID
// names no object.
//
// Each recipient is its own key so that recording the outcome of one
// attempt rewrites a few dozen bytes, not the whole recipient list.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// QueueID names a message of the outbound queue.
type QueueID uint64

// QueueState is where one recipient of a queued message stands.
type QueueState uint8

const (
	QueuePending   QueueState = iota // to be (re)tried at NextAttempt
	QueueDelivered                   // a server accepted it
	QueueFailed                      // given up: permanent error or expiry
)

func (s QueueState) String() string {
	switch s {
	case QueuePending:
		return "pending"
	case QueueDelivered:
		return "delivered"
	case QueueFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// QueueRecipient is one recipient's delivery state.
type QueueRecipient struct {
	Index       uint32     `json:"-"` // position in the message's list (its key)
	Addr        string     `json:"addr"`
	State       QueueState `json:"state"`
	Attempts    int        `json:"attempts,omitempty"`
	NextAttempt time.Time  `json:"next"`
	LastAttempt time.Time  `json:"last,omitzero"`
	// InFlight is set, durably, before an attempt starts and cleared with
	// its outcome: found set at start-up, the attempt was cut short and the
	// recipient may or may not have the message.
	InFlight  bool   `json:"inflight,omitempty"`
	LastError string `json:"err,omitempty"`    // the server's reply or our error, in words
	Status    string `json:"status,omitempty"` // enhanced status code of the last outcome, "5.1.1"
	RemoteMTA string `json:"mta,omitempty"`    // host that gave the last answer
	// Notified: the sender has been told of the failure (DSN sent or not
	// needed), so the recipient is finished.
	Notified bool `json:"notified,omitempty"`
}

// Done reports whether nothing more will happen for this recipient.
func (r QueueRecipient) Done() bool {
	return r.State == QueueDelivered || (r.State == QueueFailed && r.Notified)
}

// QueueMessage is a queued message with its recipients.
type QueueMessage struct {
	ID      QueueID
	From    string // envelope sender; "" is the null sender (bounces)
	Object  ObjectID
	Size    int64 // body bytes, without Prefix
	Created time.Time
	// Prefix is prepended to the stored body when sending: the
	// DKIM-Signature and trace header fields, computed once at enqueue.
	// The object's own prefix (its local copies' trace fields) is not sent.
	Prefix []byte
	// EightBit: the body has bytes above 127 (BODY=8BITMIME, RFC 6152).
	// UTF8: an address or header field needs SMTPUTF8 (RFC 6531).
	EightBit, UTF8 bool
	// DelayWarned: the 4-hour delay notice went out.
	DelayWarned bool
	Recipients  []QueueRecipient
}

// QueueNew describes a message for QueueAdd.
type QueueNew struct {
	From    string
	To      []string
	Created time.Time // zero means now
	MaxSize int64     // 0 means the store's limit
	// Prefix is header fields to send before the body (Received:), the
	// first value of QueueMessage.Prefix.
	Prefix []byte
	// Prepare, if set, sees Prefix and the stored (CRLF-normalised) body
	// before the message is committed and may change the message's Prefix
	// (put DKIM signatures in front) and flags (8-bit detection). An error
	// abandons the message.
	Prepare func(body io.ReaderAt, size int64, m *QueueMessage) error
}

const (
	vQueueMsg  byte = 1
	vQueueRcpt byte = 1
)

// queueRecord is the stored form of a QueueMessage without recipients.
type queueRecord struct {
	From        string    `json:"from"`
	Object      ObjectID  `json:"obj"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
	Prefix      []byte    `json:"prefix,omitempty"`
	EightBit    bool      `json:"8bit,omitempty"`
	UTF8        bool      `json:"utf8,omitempty"`
	DelayWarned bool      `json:"warned,omitempty"`
	Rcpts       uint32    `json:"rcpts"`
}

// QueueAdd stores a message for the outbound queue, durably (synced) on
// return. The body is read, CRLF-normalised and staged like a delivery.
func (s *Store) QueueAdd(ctx context.Context, n QueueNew, body io.Reader) (QueueMessage, error) {
	if len(n.To) == 0 {
		return QueueMessage{}, errors.New("storage: queue: message without recipients")
	}
	st, err := s.Stage(ctx, body, n.MaxSize)
	if err != nil {
		return QueueMessage{}, err
	}
	defer st.Close()
	return st.Enqueue(n)
}

func putQueueRecord(txn *badger.Txn, m *QueueMessage) error {
	b, err := encodeJSON(vQueueMsg, queueRecord{
		From: m.From, Object: m.Object, Size: m.Size, Created: m.Created, Prefix: m.Prefix,
		EightBit: m.EightBit, UTF8: m.UTF8, DelayWarned: m.DelayWarned, Rcpts: uint32(len(m.Recipients)),
	})
	if err != nil {
		return err
	}
	return txn.Set(keys.QueueMsg(uint64(m.ID)), b)
}

func putQueueRcpt(txn *badger.Txn, id QueueID, r *QueueRecipient) error {
	b, err := encodeJSON(vQueueRcpt, r)
	if err != nil {
		return err
	}
	return txn.Set(keys.QueueRcpt(uint64(id), r.Index), b)
}

// getQueueMessage reads a message and its recipients.
func getQueueMessage(txn *badger.Txn, id QueueID) (*QueueMessage, error) {
	it, err := txn.Get(keys.QueueMsg(uint64(id)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("queue message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var rec queueRecord
	if err := it.Value(func(v []byte) error { return decodeJSON(vQueueMsg, v, &rec) }); err != nil {
		return nil, fmt.Errorf("queue message %d: %w", id, err)
	}
	m := queueFromRecord(id, &rec)
	err = scanQueueRcpts(txn, id, func(r QueueRecipient) { m.Recipients = append(m.Recipients, r) })
	return m, err
}

func queueFromRecord(id QueueID, rec *queueRecord) *QueueMessage {
	return &QueueMessage{
		ID: id, From: rec.From, Object: rec.Object, Size: rec.Size, Created: rec.Created,
		Prefix: rec.Prefix, EightBit: rec.EightBit, UTF8: rec.UTF8, DelayWarned: rec.DelayWarned,
	}
}

func scanQueueRcpts(txn *badger.Txn, id QueueID, fn func(QueueRecipient)) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 16, Prefix: keys.QueueRcptPrefix(uint64(id))})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		_, idx, err := keys.ParseQueueRcpt(it.Item().Key())
		if err != nil {
			return err
		}
		r := QueueRecipient{Index: idx}
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(vQueueRcpt, v, &r) }); err != nil {
			return fmt.Errorf("queue message %d recipient %d: %w", id, idx, err)
		}
		fn(r)
	}
	return nil
}

// QueueMessage returns one queued message with its recipients.
func (s *Store) QueueMessage(id QueueID) (QueueMessage, error) {
	var m *QueueMessage
	err := s.view(func(txn *badger.Txn) (err error) {
		m, err = getQueueMessage(txn, id)
		return err
	})
	if err != nil {
		return QueueMessage{}, err
	}
	return *m, nil
}

// QueueMessages returns every queued message with its recipients, oldest
// (lowest ID) first, in one consistent snapshot.
func (s *Store) QueueMessages() ([]QueueMessage, error) {
	var out []QueueMessage
	err := s.view(func(txn *badger.Txn) error {
		byID := map[QueueID]int{}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keys.Prefix(keys.TagQueueMsg)})
		for it.Rewind(); it.Valid(); it.Next() {
			id, err := keys.ParseQueueMsg(it.Item().Key())
			if err != nil {
				it.Close()
				return err
			}
			var rec queueRecord
			if err := it.Item().Value(func(v []byte) error { return decodeJSON(vQueueMsg, v, &rec) }); err != nil {
				it.Close()
				return fmt.Errorf("queue message %d: %w", id, err)
			}
			byID[QueueID(id)] = len(out)
			out = append(out, *queueFromRecord(QueueID(id), &rec))
		}
		it.Close()
		// One pass over every recipient instead of a seek per message: at
		// start-up with 10,000 queued messages this is most of the work.
		it = txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keys.Prefix(keys.TagQueueRcpt)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, idx, err := keys.ParseQueueRcpt(it.Item().Key())
			if err != nil {
				return err
			}
			i, ok := byID[QueueID(id)]
			if !ok {
				continue // Check reports orphans
			}
			r := QueueRecipient{Index: idx}
			if err := it.Item().Value(func(v []byte) error { return decodeJSON(vQueueRcpt, v, &r) }); err != nil {
				return fmt.Errorf("queue message %d recipient %d: %w", id, idx, err)
			}
			out[i].Recipients = append(out[i].Recipients, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: queue: list: %w", err)
	}
	return out, nil
}

// QueueUpdate changes a queued message in one transaction: fn gets the
// current state and may change the message's DelayWarned flag and any
// recipient's state (not their number or addresses); the changed records
// are written and synced. When every recipient is then done (delivered, or
// failed and notified), the message is removed in the same transaction. fn may run more than once if a concurrent update
// conflicts, so it must only set values, not accumulate side effects.
func (s *Store) QueueUpdate(id QueueID, fn func(m *QueueMessage) error) (QueueMessage, error) {
	var out QueueMessage
	var removed bool
	err := s.update(func(txn *badger.Txn) error {
		m, err := getQueueMessage(txn, id)
		if err != nil {
			return err
		}
		before := *m
		before.Recipients = append([]QueueRecipient(nil), m.Recipients...)
		if err := fn(m); err != nil {
			return err
		}
		if len(m.Recipients) != len(before.Recipients) {
			return errors.New("storage: queue: update changed the number of recipients")
		}
		if m.DelayWarned != before.DelayWarned {
			if err := putQueueRecord(txn, m); err != nil {
				return err
			}
		}
		for i := range m.Recipients {
			r := &m.Recipients[i]
			if r.Index != before.Recipients[i].Index || r.Addr != before.Recipients[i].Addr {
				return errors.New("storage: queue: update changed a recipient's identity")
			}
			if *r != before.Recipients[i] {
				if err := putQueueRcpt(txn, id, r); err != nil {
					return err
				}
			}
		}
		if err := addRelayed(txn, before.Recipients, m.Recipients); err != nil { // daycount.go
			return err
		}
		out = *m
		removed = m.Done()
		if removed {
			return deleteQueued(txn, m)
		}
		return nil
	})
	if err != nil {
		return QueueMessage{}, fmt.Errorf("storage: queue: update %d: %w", id, err)
	}
	if removed {
		s.kickEraser()
	}
	return out, nil
}

// Done reports whether every recipient is done: QueueUpdate then removes
// the message in the same transaction.
func (m *QueueMessage) Done() bool {
	for _, r := range m.Recipients {
		if !r.Done() {
			return false
		}
	}
	return true
}

// deleteQueued removes a message's records and its body reference.
func deleteQueued(txn *badger.Txn, m *QueueMessage) error {
	for _, r := range m.Recipients {
		if err := txn.Delete(keys.QueueRcpt(uint64(m.ID), r.Index)); err != nil {
			return err
		}
	}
	if err := txn.Delete(keys.QueueMsg(uint64(m.ID))); err != nil {
		return err
	}
	return addRef(txn, m.Object, -1)
}

// QueueRemove deletes a queued message and its recipients and lets go of
// its body (the eraser frees it when nothing else references it).
func (s *Store) QueueRemove(id QueueID) error {
	err := s.update(func(txn *badger.Txn) error {
		m, err := getQueueMessage(txn, id)
		if err != nil {
			return err
		}
		return deleteQueued(txn, m)
	})
	if err != nil {
		return fmt.Errorf("storage: queue: remove %d: %w", id, err)
	}
	s.kickEraser()
	return nil
}

// checkQueue adds the queue's body references to refs (so the object
// reference counts check out) and reports queue records without
// recipients, recipients without a message, and gaps in the numbering.
// Called by CheckReport.
func checkQueue(txn *badger.Txn, refs map[ObjectID]uint32, bad func(string, ...any)) error {
	msgs := map[QueueID]*queueRecord{}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keys.Prefix(keys.TagQueueMsg)})
	for it.Rewind(); it.Valid(); it.Next() {
		id, err := keys.ParseQueueMsg(it.Item().Key())
		if err != nil {
			bad("%v", err)
			continue
		}
		rec := &queueRecord{}
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(vQueueMsg, v, rec) }); err != nil {
			bad("queue message %d: undecodable: %v", id, err)
			continue
		}
		msgs[QueueID(id)] = rec
		refs[rec.Object]++
	}
	it.Close()
	seen := map[QueueID]uint32{}
	it = txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keys.Prefix(keys.TagQueueRcpt)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		id, idx, err := keys.ParseQueueRcpt(it.Item().Key())
		if err != nil {
			bad("%v", err)
			continue
		}
		if msgs[QueueID(id)] == nil {
			bad("queue recipient %d/%d: no queued message", id, idx)
			continue
		}
		var r QueueRecipient
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(vQueueRcpt, v, &r) }); err != nil {
			bad("queue recipient %d/%d: undecodable: %v", id, idx, err)
		} else if r.Addr == "" || (r.State == QueueDelivered && r.InFlight) {
			bad("queue recipient %d/%d: inconsistent state %+v", id, idx, r)
		}
		if idx != seen[QueueID(id)] {
			bad("queue message %d: recipient %d out of sequence", id, idx)
		}
		seen[QueueID(id)] = idx + 1
	}
	for id, rec := range msgs {
		if seen[id] != rec.Rcpts {
			bad("queue message %d: %d recipients stored, record says %d", id, seen[id], rec.Rcpts)
		}
		if rec.From != "" && !strings.Contains(rec.From, "@") {
			bad("queue message %d: sender %q is not an address", id, rec.From)
		}
	}
	return nil
}
