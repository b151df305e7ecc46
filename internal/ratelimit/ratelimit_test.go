package ratelimit

import (
	"testing"
	"time"

	"postroom/internal/testutil"
)

func TestBucket(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC))
	l := New[string](Options{PerSecond: 2, Burst: 3, MaxKeys: 2, Now: clock.Now})
	steps := []struct {
		advance time.Duration
		key     string
		want    bool
	}{
		{0, "a", true}, {0, "a", true}, {0, "a", true}, // the burst
		{0, "a", false},                      // empty
		{0, "b", true},                       // another key has its own bucket
		{0, "c", false},                      // map full, both buckets in use: refused
		{499 * time.Millisecond, "a", false}, // not yet a whole token
		{time.Millisecond, "a", true},        // 0.5 s at 2/s: one token
		{0, "a", false},
		{-time.Hour, "a", false},   // a clock stepping back gives nothing
		{2 * time.Hour, "c", true}, // a and b refilled: swept, room for c
		{0, "c", true}, {0, "c", true}, {0, "c", false},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		if got := l.Allow(s.key); got != s.want {
			t.Fatalf("step %d (%s): Allow = %v, want %v", i, s.key, got, s.want)
		}
	}
	if n := l.Len(); n != 1 {
		t.Errorf("Len = %d after the sweep, want 1", n)
	}
}

func TestBoundedUnderFlood(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := New[int](Options{PerSecond: 1, Burst: 2, MaxKeys: 100, Now: clock.Now})
	for i := range 10000 {
		l.Allow(i)
		if i%100 == 0 {
			clock.Advance(time.Second)
		}
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("%d buckets, bound is 100", n)
	}
}
