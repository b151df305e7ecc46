package smtpd

import (
	"sync"
	"time"

	"postroom/storage"
)

// RateLimiter bounds how fast each account may send: a token bucket per
// account (one token per accepted recipient) that holds Burst tokens and
// refills PerHour tokens an hour. A stolen password then sends a few hundred
// messages, not a million, before someone notices. One RateLimiter is shared
// by the submission ports so that a client cannot double its rate by using
// both. Safe for concurrent use.
type RateLimiter struct {
	perSecond float64
	burst     float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[storage.AccountID]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a limiter refilling perHour tokens an hour up to
// burst. now is the clock (nil: time.Now). perHour <= 0 returns nil, which
// allows everything.
func NewRateLimiter(perHour, burst int, now func() time.Time) *RateLimiter {
	if perHour <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = perHour
	}
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{
		perSecond: float64(perHour) / 3600,
		burst:     float64(burst),
		now:       now,
		buckets:   make(map[storage.AccountID]*bucket),
	}
}

// Allow takes one token from the account's bucket, or reports false when it
// is empty.
func (l *RateLimiter) Allow(acct storage.AccountID) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[acct]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[acct] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.perSecond)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
