// Package ratelimit is a token bucket per key (a client address, an
// account) in a map of bounded size, for anything that faces strangers.
//
// Each key's bucket holds Burst tokens and refills PerSecond tokens a
// second; Allow takes one. The map never holds more than MaxKeys buckets:
// when it is full, buckets that have refilled completely are dropped
// first (forgetting them loses nothing, a new bucket starts full too);
// when every bucket is still in use, a new key is refused until one
// refills. Under a flood from more addresses than MaxKeys the limiter
// therefore fails closed for newcomers, and its memory stays bounded.
package ratelimit

import (
	"sync"
	"time"
)

// Options configures New. Zero values take the default in brackets.
type Options struct {
	PerSecond float64          // tokens added a second [1]
	Burst     int              // tokens a full bucket holds [10]
	MaxKeys   int              // most buckets kept at once [4096]
	Now       func() time.Time // the clock [time.Now]
}

// Limiter is a set of token buckets keyed by K. Safe for concurrent use.
type Limiter[K comparable] struct {
	opts    Options
	mu      sync.Mutex
	buckets map[K]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns an empty Limiter.
func New[K comparable](o Options) *Limiter[K] {
	if o.PerSecond <= 0 {
		o.PerSecond = 1
	}
	if o.Burst <= 0 {
		o.Burst = 10
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter[K]{opts: o, buckets: make(map[K]*bucket)}
}

// Allow takes a token from k's bucket and reports whether there was one.
func (l *Limiter[K]) Allow(k K) bool {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= l.opts.MaxKeys && !l.sweep(now) {
			return false
		}
		b = &bucket{tokens: float64(l.opts.Burst), last: now}
		l.buckets[k] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Len is the number of buckets held.
func (l *Limiter[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Limiter[K]) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(float64(l.opts.Burst), b.tokens+el*l.opts.PerSecond)
	}
	// A clock that steps back does not hand out tokens twice.
	if now.After(b.last) {
		b.last = now
	}
}

// sweep drops the buckets that have refilled completely and reports
// whether there is room for a new one. Called with mu held, only when the
// map is full, so a flood pays O(MaxKeys) per new address and no more.
func (l *Limiter[K]) sweep(now time.Time) bool {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= float64(l.opts.Burst) {
			delete(l.buckets, k)
		}
	}
	return len(l.buckets) < l.opts.MaxKeys
}
