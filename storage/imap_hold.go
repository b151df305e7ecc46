package storage

// Holding the bodies of expunged messages for IMAP sessions. A session's
// view of its mailbox is pinned until it has told its client of an
// expunge (RFC 9051 7.5.1), and until then the client may FETCH the
// message: its body must outlive the expunge. A holding watcher pins the
// body of every expunged message from the moment the event is queued;
// the session releases it once the EXPUNGE went out. Expunges pin their
// bodies themselves from before their commit until after they published
// the event, so the eraser never runs in between.

// WatchHolding is Watch for an IMAP session: every EventExpunged holds
// its message's body until Release (or Close).
func (s *Store) WatchHolding(acct AccountID) *Watcher {
	w := &Watcher{hub: &s.events, acct: acct, c: make(chan struct{}, 1), store: s, holds: map[ObjectID]int{}}
	s.events.mu.Lock()
	s.events.watchers[w] = struct{}{}
	s.events.mu.Unlock()
	return w
}

// Release lets the body of an expunged message go, once the session has
// no more use for it. Releasing what is not held does nothing.
func (w *Watcher) Release(id ObjectID) {
	if w.store == nil || id == 0 {
		return
	}
	w.mu.Lock()
	n := w.holds[id]
	if n > 0 {
		if n == 1 {
			delete(w.holds, id)
		} else {
			w.holds[id] = n - 1
		}
	}
	w.mu.Unlock()
	if n > 0 {
		w.store.unpinObject(id)
	}
}

func (w *Watcher) holdLocked(ev Event) {
	if w.store == nil || ev.Kind != EventExpunged || ev.Message.Object == 0 {
		return
	}
	w.holds[ev.Message.Object]++
	w.store.pinObject(ev.Message.Object)
}

// releaseLocked lets go of the hold of an event that is dropped.
func (w *Watcher) releaseLocked(ev Event) {
	if w.store == nil || ev.Kind != EventExpunged {
		return
	}
	id := ev.Message.Object
	if n := w.holds[id]; n > 0 {
		if n == 1 {
			delete(w.holds, id)
		} else {
			w.holds[id] = n - 1
		}
		w.store.unpinObject(id)
	}
}

func (w *Watcher) releaseAllLocked() {
	if w.store == nil {
		return
	}
	for id, n := range w.holds {
		for range n {
			w.store.unpinObject(id)
		}
	}
	clear(w.holds)
}

func (s *Store) pinObject(id ObjectID) {
	s.pinsMu.Lock()
	s.pins[id]++
	s.pinsMu.Unlock()
}

func (s *Store) unpinObject(id ObjectID) {
	s.pinsMu.Lock()
	if s.pins[id]--; s.pins[id] <= 0 {
		delete(s.pins, id)
	}
	s.pinsMu.Unlock()
	s.kickEraser()
}

// holdExpunged pins the bodies of a batch's expunged messages; the result
// unpins them.
func (s *Store) holdExpunged(events []Event) func() {
	var ids []ObjectID
	for _, ev := range events {
		if ev.Kind == EventExpunged && ev.Message.Object != 0 {
			ids = append(ids, ev.Message.Object)
		}
	}
	if len(ids) == 0 {
		return func() {}
	}
	return s.Pin(ids...)
}

// Settle returns once every change to the account that has committed has
// also published its events: writers publish before they let go of the
// account's writer lock. An IMAP session that finds a message gone from
// storage calls it before it looks for the expunge among its events.
func (s *Store) Settle(acct AccountID) {
	mu := s.accountLock(acct)
	mu.Lock()
	mu.Unlock() //nolint:staticcheck // an empty critical section is the point
}
