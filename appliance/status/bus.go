package status

import (
	"sync"
	"time"
)

// Bus holds the latest Snapshot and tells subscribers when it changes.
//
// There is one writer in practice (the appliance), but every method is safe
// for concurrent use. A reader never slows the writer: each subscriber has a
// notification channel of capacity 1 that the Bus fills without blocking, so
// a reader that is busy sees one pending notification however many
// Snapshots were published meanwhile, and then reads the newest with Latest.
// Readers that need every intermediate state must not use a Bus.
//
// The zero Bus is ready to use and holds the zero Snapshot.
type Bus struct {
	mu   sync.Mutex
	snap Snapshot
	subs map[*subscription]struct{}
	now  func() time.Time // for tests; nil means time.Now
}

type subscription struct {
	c chan struct{}
}

// NewBus returns a Bus holding initial. A zero initial.Time is set to now.
func NewBus(initial Snapshot) *Bus {
	b := &Bus{}
	b.Publish(initial)
	return b
}

func (b *Bus) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// Publish replaces the Snapshot with a copy of s and notifies subscribers.
// A zero s.Time is set to the current time.
func (b *Bus) Publish(s Snapshot) {
	s = s.Clone()
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.Time.IsZero() {
		s.Time = b.clock()
	}
	b.snap = s
	b.notifyLocked()
}

// Update changes the Snapshot in place under the Bus's lock and notifies
// subscribers. Time is set to the current time before f runs (f may change
// it). f must be quick and must not call the Bus.
func (b *Bus) Update(f func(*Snapshot)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.snap.Clone()
	s.Time = b.clock()
	f(&s)
	b.snap = s.Clone() // f may have kept references to s's slices
	b.notifyLocked()
}

// Latest returns a copy of the current Snapshot.
func (b *Bus) Latest() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snap.Clone()
}

// Subscribe returns a channel that receives a value after every change
// (coalesced: at most one pending) and a cancel function that stops the
// notifications and closes the channel. Cancel may be called more than once.
// The channel starts with one pending value so that a new reader shows the
// current Snapshot at once.
func (b *Bus) Subscribe() (<-chan struct{}, func()) {
	sub := &subscription{c: make(chan struct{}, 1)}
	sub.c <- struct{}{}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[*subscription]struct{})
	}
	b.subs[sub] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return sub.c, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			delete(b.subs, sub)
			close(sub.c) // safe: every send happens under b.mu
		})
	}
}

func (b *Bus) notifyLocked() {
	for sub := range b.subs {
		select {
		case sub.c <- struct{}{}:
		default: // a notification is already pending: the reader will see this state too
		}
	}
}
