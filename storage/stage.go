package storage

// Two-phase delivery (maddy's delivery target is the model): Stage reads a
// message body into the store once; the caller checks it (SPF, DKIM and
// DMARC read it from here), then commits it to local mailboxes (Deliver)
// and to the outbound queue (Enqueue), each commit one more reference to
// the same object, or lets it go (Close without a commit).
//
// Staging makes no change that Close cannot undo: a body up to inlineLimit
// stays in memory, a larger one is written as chunks under a staged marker
// (tag 0x33) that Close turns into an erase and that the start-up sweep
// erases after a crash. A commit writes records only, never body bytes
// again.
//
// Trace header fields differ per commit, not per body, so they are kept
// beside it as a prefix (mox's MsgPrefix): the local copies' Return-Path,
// Authentication-Results and Received in the object record, the queue's
// Received and DKIM-Signature in its queue record.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Staged is a message body read into the store and not yet committed. It
// is for one goroutine. Close it in every case.
type Staged struct {
	s         *Store
	obj       *pendingObject
	delivered bool // Deliver ran: the object's prefix is set
	closed    bool
}

// ErrStagedUsed is a commit that the order of commits does not allow: a
// second Deliver, a Deliver after Enqueue, any commit after Close.
var ErrStagedUsed = errors.New("storage: staged body already committed this way or closed")

// Stage reads body (CRLF-normalised, at most maxSize bytes; 0 means the
// store's limit) for later commits.
func (s *Store) Stage(ctx context.Context, body io.Reader, maxSize int64) (*Staged, error) {
	if err := s.CheckDiskSpace(0); err != nil {
		return nil, err
	}
	if maxSize <= 0 {
		maxSize = s.maxSize
	}
	obj, err := s.readBody(ctx, body, maxSize)
	if err != nil {
		return nil, err
	}
	return &Staged{s: s, obj: obj}, nil
}

// Size is the staged body's length in octets.
func (st *Staged) Size() int64 { return st.obj.rec.Size }

// ReaderAt reads the staged body (without any prefix). It is valid until
// Close.
func (st *Staged) ReaderAt() io.ReaderAt {
	if st.obj.staged {
		return &chunkReader{s: st.s, id: st.obj.id, size: st.obj.rec.Size}
	}
	return prefixedReader{nil, st.obj.inline[:st.obj.rec.Size]}
}

// Reader reads the staged body from the start.
func (st *Staged) Reader() io.Reader { return io.NewSectionReader(st.ReaderAt(), 0, st.Size()) }

// Deliver commits the body to local mailboxes with prefix (whole header
// fields, CRLF-terminated) in front of it: every recipient's copy is one
// more reference to the object. d.MaxSize is not used (Stage bounded the
// body). Deliver at most once, and before Enqueue.
func (st *Staged) Deliver(d Delivery, prefix []byte) ([]Delivered, error) {
	if st.closed || st.delivered || st.obj.written {
		return nil, ErrStagedUsed
	}
	targets, err := deliveryTargets(d)
	if err != nil {
		return nil, err
	}
	st.delivered = true
	st.obj.rec.Prefix = prefix
	return st.s.commitTargets(st.obj, targets, d.InternalDate, d.Quota)
}

// Enqueue commits the body to the outbound queue as a reference to the
// same object; n.Prefix goes in front of it when sending, and n.Prepare
// sees prefix and body. n.MaxSize is not used. The queue never reads the
// MIME structure, so nothing parses it for a body only the queue has.
func (st *Staged) Enqueue(n QueueNew) (QueueMessage, error) {
	if st.closed {
		return QueueMessage{}, ErrStagedUsed
	}
	if len(n.To) == 0 {
		return QueueMessage{}, errors.New("storage: queue: message without recipients")
	}
	s, obj := st.s, st.obj
	qid, err := next(s.seqObj)
	if err != nil {
		return QueueMessage{}, err
	}
	created := n.Created
	if created.IsZero() {
		created = time.Now()
	}
	m := QueueMessage{
		ID: QueueID(qid), From: n.From, Object: obj.id, Size: obj.rec.Size,
		Created: created.UTC(), Prefix: n.Prefix,
	}
	for i, to := range n.To {
		m.Recipients = append(m.Recipients, QueueRecipient{Index: uint32(i), Addr: to, NextAttempt: m.Created})
	}
	if n.Prepare != nil {
		var body io.ReaderAt = prefixedReader{n.Prefix, obj.inline[:min(int64(len(obj.inline)), obj.rec.Size)]}
		if obj.staged {
			body = &chunkReader{s: s, id: obj.id, size: int64(len(n.Prefix)) + obj.rec.Size, prefix: n.Prefix}
		}
		if err := n.Prepare(body, int64(len(n.Prefix))+obj.rec.Size, &m); err != nil {
			return QueueMessage{}, fmt.Errorf("storage: queue: prepare: %w", err)
		}
	}
	if !obj.written && !obj.staged { // the body is written now (staged ones were checked as they were written)
		if err := s.CheckDiskSpace(obj.rec.Size); err != nil {
			return QueueMessage{}, err
		}
	}
	err = s.update(func(txn *badger.Txn) error {
		if obj.written {
			if err := addRef(txn, obj.id, +1); err != nil {
				return err
			}
		} else if err := writeObject(txn, obj); err != nil {
			return err
		}
		if err := putQueueRecord(txn, &m); err != nil {
			return err
		}
		for _, r := range m.Recipients {
			if err := putQueueRcpt(txn, m.ID, &r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return QueueMessage{}, fmt.Errorf("storage: queue: add: %w", mapDiskErr(err))
	}
	if !obj.written {
		s.bodyBytes.Add(obj.inlineBytes())
	}
	obj.written = true
	return m, nil
}

// BodyBytesWritten is how many body bytes this Store has handed to Badger
// since Open: for tests and benchmarks that check a body is written once.
func (s *Store) BodyBytesWritten() int64 { return s.bodyBytes.Load() }

// Close ends the stage: a body that no commit took is freed (abort).
// Later calls do nothing.
func (st *Staged) Close() {
	if st.closed {
		return
	}
	st.closed = true
	st.s.release(st.obj)
}
