package status

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSystemProblems(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	failed := System{LastUpdate: "update failed, rolled back to 1.0 (version 2.0: its self-test failed)", LastUpdateFailed: true}
	cases := []struct {
		name string
		sys  System
		want []string // substrings, in order
	}{
		{"all well", System{Version: "1.0", Crashes: 2}, nil},
		{"crash loop", System{Crashes: 3}, []string{"crashed 3 times in a row"}},
		{"rolled back an hour ago", withAt(failed, now.Add(-time.Hour)), []string{"Update failed, rolled back to 1.0"}},
		{"rolled back two days ago", withAt(failed, now.Add(-48*time.Hour)), nil},
		{"kept", System{LastUpdate: "updated from 1.0 to 2.0", LastUpdateAt: now}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Snapshot{Phase: PhaseRunning, System: c.sys}.Attention(now)
			if len(got) != len(c.want) {
				t.Fatalf("Attention = %q, want %d entries", got, len(c.want))
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("Attention[%d] = %q, want %q in it", i, got[i], w)
				}
			}
		})
	}
	if up := (System{Started: now.Add(-90 * time.Minute)}).Uptime(now); up != 90*time.Minute {
		t.Errorf("uptime %v", up)
	}
	if !slices.Equal((System{}).Problems(now), nil) {
		t.Error("a zero System has problems")
	}
}

func withAt(s System, at time.Time) System { s.LastUpdateAt = at; return s }
