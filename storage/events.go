package storage

import "sync"

// maxQueued bounds a watcher's queue. A watcher that falls this far behind
// gets overflow=true and must reread the mailbox instead of applying events;
// the writer never waits for a reader.
const maxQueued = 10000

type eventHub struct {
	mu       sync.Mutex
	watchers map[*Watcher]struct{}
}

func (h *eventHub) init() { h.watchers = map[*Watcher]struct{}{} }

func (h *eventHub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		if w.all || w.acct == ev.Account {
			w.push(ev)
		}
	}
}

func (h *eventHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		w.shut()
		delete(h.watchers, w)
	}
}

// Watcher receives change events for one account (or all) without ever
// blocking the writer: events queue inside the watcher, and C signals that
// some are waiting. Every writer publishes after its transaction committed
// and before it releases the account's writer lock (STYLE convention 4), so
// a watcher sees one account's events in commit order, MODSEQ ascending;
// events of different accounts interleave in no promised order. An
// EventAdded says where the message came from (Event.Origin): the status
// counts mail received and sent from these events alone.
type Watcher struct {
	hub  *eventHub
	acct AccountID
	all  bool
	c    chan struct{}

	mu       sync.Mutex
	queue    []Event
	overflow bool
	closed   bool

	// store is set for WatchHolding: the bodies of expunged messages are
	// pinned from the event until Release, Close or an overflow that drops
	// the event.
	store *Store
	holds map[ObjectID]int
}

// Watch subscribes to an account's changes. Close the watcher when done.
func (s *Store) Watch(acct AccountID) *Watcher { return s.watch(acct, false) }

// WatchAll subscribes to every account's changes (status panel, counters).
func (s *Store) WatchAll() *Watcher { return s.watch(0, true) }

func (s *Store) watch(acct AccountID, all bool) *Watcher {
	w := &Watcher{hub: &s.events, acct: acct, all: all, c: make(chan struct{}, 1)}
	s.events.mu.Lock()
	s.events.watchers[w] = struct{}{}
	s.events.mu.Unlock()
	return w
}

func (w *Watcher) push(ev Event) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if len(w.queue) >= maxQueued {
		for _, q := range w.queue {
			w.releaseLocked(q)
		}
		w.overflow, w.queue = true, nil
	} else {
		w.queue = append(w.queue, ev)
		w.holdLocked(ev)
	}
	// Signal under the lock: shut may not close the channel in between.
	select {
	case w.c <- struct{}{}:
	default:
	}
	w.mu.Unlock()
}

// C is signalled when events are waiting; it is closed when the store closes.
func (w *Watcher) C() <-chan struct{} { return w.c }

// Next takes every waiting event. overflow reports that events were dropped
// since the last call because the watcher fell too far behind.
func (w *Watcher) Next() (events []Event, overflow bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	events, overflow = w.queue, w.overflow
	w.queue, w.overflow = nil, false
	return events, overflow
}

// Close unsubscribes.
func (w *Watcher) Close() {
	w.hub.mu.Lock()
	delete(w.hub.watchers, w)
	w.hub.mu.Unlock()
	w.shut()
}

func (w *Watcher) shut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.c)
		w.releaseAllLocked()
	}
}
