package status

import (
	"sync"
	"testing"
	"time"
)

func TestPublishLatestCopies(t *testing.T) {
	b := NewBus(Snapshot{Phase: PhaseBooting})
	if got := b.Latest(); got.Phase != PhaseBooting || got.Time.IsZero() {
		t.Fatalf("Latest after NewBus = %+v; want booting with a time", got)
	}

	s := Snapshot{Phase: PhaseRunning, Services: []Service{{Name: "smtp", State: ServiceListening}}}
	b.Publish(s)
	s.Services[0].State = ServiceFailed // the caller's slice must not leak into the Bus
	got := b.Latest()
	if got.Services[0].State != ServiceListening {
		t.Fatalf("Publish kept the caller's slice: %+v", got.Services)
	}
	got.Services[0].Name = "changed" // nor a reader's copy
	if b.Latest().Services[0].Name != "smtp" {
		t.Fatal("Latest returned a shared slice")
	}
}

func TestUpdate(t *testing.T) {
	var b Bus // zero value is usable
	fixed := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return fixed }
	b.Update(func(s *Snapshot) {
		s.Phase = PhaseRunning
		s.SetService(Service{Name: "smtp", Addr: "127.0.0.1:25", State: ServiceStarting})
		s.SetService(Service{Name: "web", State: ServiceStarting})
		s.SetService(Service{Name: "smtp", Addr: "127.0.0.1:25", State: ServiceListening})
	})
	got := b.Latest()
	if !got.Time.Equal(fixed) {
		t.Errorf("Time = %v; want %v", got.Time, fixed)
	}
	if len(got.Services) != 2 {
		t.Fatalf("services = %+v; want smtp and web", got.Services)
	}
	if sv, ok := got.Service("smtp"); !ok || sv.State != ServiceListening {
		t.Errorf("smtp = %+v, %v; want listening", sv, ok)
	}
	if _, ok := got.Service("imap"); ok {
		t.Error("found a service that was never set")
	}
}

func TestAddMail(t *testing.T) {
	day1 := time.Date(2026, 11, 26, 23, 59, 0, 0, time.Local)
	day2 := day1.Add(2 * time.Minute)
	tests := []struct {
		name  string
		steps []time.Time
		at    time.Time
		want  int
	}{
		{"none", nil, day1, 0},
		{"same day", []time.Time{day1, day1}, day1, 2},
		{"rolls over at midnight", []time.Time{day1, day1, day2}, day2, 1},
		{"old count reads as zero", []time.Time{day1}, day2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Snapshot
			for _, at := range tt.steps {
				s.AddMail(1, at)
			}
			if got := s.MailOn(tt.at); got != tt.want {
				t.Errorf("MailOn = %d; want %d", got, tt.want)
			}
		})
	}
}

func TestFailed(t *testing.T) {
	s := Snapshot{Services: []Service{
		{Name: "a", State: ServiceListening},
		{Name: "b", State: ServiceFailed, Error: "port in use"},
	}}
	f := s.Failed()
	if len(f) != 1 || f[0].Name != "b" {
		t.Fatalf("Failed = %+v", f)
	}
}

func TestSubscribeStartsPendingAndCoalesces(t *testing.T) {
	b := NewBus(Snapshot{})
	c, cancel := b.Subscribe()
	defer cancel()
	select {
	case <-c:
	default:
		t.Fatal("a new subscription has no pending notification")
	}
	for i := 0; i < 100; i++ { // nobody reads: the writer must not block
		b.Update(func(s *Snapshot) { s.MailToday = i })
	}
	select {
	case <-c:
	default:
		t.Fatal("no notification after updates")
	}
	select {
	case <-c:
		t.Fatal("notifications were not coalesced")
	default:
	}
	if got := b.Latest().MailToday; got != 99 {
		t.Fatalf("Latest().MailToday = %d; want 99", got)
	}
}

func TestCancelClosesAndIsIdempotent(t *testing.T) {
	b := NewBus(Snapshot{})
	c, cancel := b.Subscribe()
	cancel()
	cancel()
	for range c { // drains the pending value, then ends because c is closed
	}
	b.Publish(Snapshot{Phase: PhaseRunning}) // must not panic on a closed channel
	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d subscriptions left after cancel", n)
	}
}

// TestSlowReaderNeverBlocksWriter runs one writer against a fast reader and
// a reader that never reads; run with -race.
func TestSlowReaderNeverBlocksWriter(t *testing.T) {
	b := NewBus(Snapshot{})
	_, cancelStuck := b.Subscribe() // never read
	defer cancelStuck()
	c, cancel := b.Subscribe()

	const n = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	last := -1
	go func() {
		defer wg.Done()
		for range c {
			s := b.Latest()
			if s.MailToday < last {
				t.Errorf("went backwards: %d after %d", s.MailToday, last)
			}
			last = s.MailToday
			if last == n {
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			b.Update(func(s *Snapshot) {
				s.MailToday = i
				s.SetService(Service{Name: "smtp", State: ServiceListening})
			})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writer blocked")
	}
	wg.Wait()
	cancel()
	if last != n {
		t.Fatalf("reader saw %d last; want %d", last, n)
	}
}

// BenchmarkUpdate measures one Update with ten subscribers that never read.
func BenchmarkUpdate(b *testing.B) {
	bus := NewBus(Snapshot{Services: make([]Service, 8)})
	for i := 0; i < 10; i++ {
		_, cancel := bus.Subscribe()
		defer cancel()
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bus.Update(func(s *Snapshot) { s.MailToday = i })
	}
}
