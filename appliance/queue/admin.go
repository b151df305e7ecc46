package queue

import (
	"errors"
	"fmt"
	"sync"

	"postroom/storage"
)

// What an administrator does to the queue (appliance/admin): try a message
// again now, or remove it. Both work on a queue whose Run is going (the
// running appliance) and on one that was only made with New over a
// stopped box's store, through the same per-message lock as the
// scheduler's own updates.

// ErrSending: the message is being sent (or bounced) right now.
var ErrSending = errors.New("queue: the message is being sent right now")

// Retry makes every pending recipient of the messages due now and wakes
// Run. It returns the messages changed; an ID not in the queue is
// storage.ErrNotFound (wrapped) and stops there.
func (q *Queue) Retry(ids ...storage.QueueID) (int, error) {
	now := q.o.Now()
	n := 0
	for _, id := range ids {
		m, err := q.update(id, func(m *storage.QueueMessage) error {
			for i := range m.Recipients {
				if m.Recipients[i].State == storage.QueuePending {
					m.Recipients[i].NextAttempt = now
				}
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("queue: retry %s: %w", FormatID(id), err)
		}
		q.mu.Lock()
		q.fresh[id] = &m // Run's next round considers it without a full scan
		q.mu.Unlock()
		n++
	}
	if n > 0 {
		q.Kick()
	}
	return n, nil
}

// Delete removes a message from the queue: it is not sent, and nobody is
// told. A message with an attempt going on is ErrSending: deleting it
// under the attempt would let the message go out and its outcome be lost.
func (q *Queue) Delete(id storage.QueueID) (storage.QueueMessage, error) {
	q.mu.Lock()
	if q.msgLocks[id] == nil {
		q.msgLocks[id] = new(sync.Mutex) // the one q.update takes
	}
	l := q.msgLocks[id]
	q.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	// Under the message's lock an attempt that starts now finds the
	// message gone at its first update; one already going is refused.
	if q.sending(id) {
		return storage.QueueMessage{}, ErrSending
	}
	m, err := q.st.QueueMessage(id)
	if err == nil {
		err = q.st.QueueRemove(id)
	}
	if err != nil {
		return storage.QueueMessage{}, fmt.Errorf("queue: delete %s: %w", FormatID(id), err)
	}
	q.log.Info("removed from the queue by an administrator", "id", FormatID(id), "recipients", len(m.Recipients))
	q.forget(id)
	return m, nil
}

// sending reports whether a job of message id runs.
func (q *Queue) sending(id storage.QueueID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k := range q.running {
		if k.id == id {
			return true
		}
	}
	return false
}
