package boot

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStateCountBoot(t *testing.T) {
	s := State{Dir: filepath.Join(t.TempDir(), "postroom-init")}
	for want := 1; want <= 3; want++ {
		n, err := s.CountBoot()
		if err != nil || n != want {
			t.Fatalf("CountBoot = %d, %v; want %d", n, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "boots"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountBoot(); err == nil {
		t.Errorf("a damaged count gave %d, want an error", n)
	}
}

func TestStateClock(t *testing.T) {
	s := State{Dir: t.TempDir()}
	last, err := s.LastClock()
	if err != nil || !last.IsZero() {
		t.Fatalf("LastClock with nothing saved = %v, %v", last, err)
	}
	saved := time.Date(2031, 7, 4, 10, 20, 30, 0, time.UTC)
	if err := s.SaveClock(saved); err != nil {
		t.Fatal(err)
	}
	if last, err = s.LastClock(); err != nil || !last.Equal(saved) {
		t.Fatalf("LastClock = %v, %v; want %v", last, err, saved)
	}
	cases := []struct {
		now  time.Time
		want bool
	}{
		{time.Unix(0, 0), true},         // a Pi just booted: 1970
		{saved.Add(-time.Second), true}, // a second behind
		{saved, false},                  // the same second
		{saved.Add(time.Hour), false},   // NTP, or time moved on
	}
	for _, c := range cases {
		if got := ClockBehind(c.now, last); got != c.want {
			t.Errorf("ClockBehind(%v, %v) = %v, want %v", c.now, last, got, c.want)
		}
	}
	if ClockBehind(time.Unix(0, 0), time.Time{}) {
		t.Error("behind a zero last time")
	}
}
