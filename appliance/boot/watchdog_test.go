package boot

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// petLog records what the watchdog writes, and signals each write.
type petLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
	fail  error
}

func (p *petLog) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer func() { p.mu.Unlock(); p.wrote <- struct{}{} }()
	if p.fail != nil {
		return 0, p.fail
	}
	return p.buf.Write(b)
}

func TestWatchdogPetsOnEveryTick(t *testing.T) {
	ticks := make(chan time.Time)
	log := &petLog{wrote: make(chan struct{}, 10)}
	var interval time.Duration
	w := &Watchdog{Dev: log, Interval: 5 * time.Second, Tick: func(d time.Duration) (<-chan time.Time, func()) {
		interval = d
		return ticks, func() {}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-log.wrote // a pet at once, before the first tick
	for i := 0; i < 3; i++ {
		ticks <- time.Time{}
		<-log.wrote
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := log.buf.Bytes(); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Errorf("wrote %q, want four pets and never the magic close 'V'", got)
	}
	if interval != 5*time.Second {
		t.Errorf("ticker interval %v, want 5s", interval)
	}
}

func TestWatchdogWriteFails(t *testing.T) {
	log := &petLog{wrote: make(chan struct{}, 10), fail: errors.New("device gone")}
	w := &Watchdog{Dev: log, Interval: time.Second, Tick: func(time.Duration) (<-chan time.Time, func()) {
		return make(chan time.Time), func() {}
	}}
	if err := w.Run(context.Background()); err == nil || !errors.Is(err, log.fail) {
		t.Fatalf("Run = %v, want the write error", err)
	}
}
