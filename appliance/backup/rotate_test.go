package backup

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestRotate(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC).AddDate(0, 0, d) }
	// daily builds n daily backups from day 0, all full.
	daily := func(n int) []Item {
		var out []Item
		for i := 0; i < n; i++ {
			out = append(out, Item{Name: fmt.Sprintf("d%03d", i), Time: day(i)})
		}
		return out
	}
	names := func(ns ...int) []string {
		var out []string
		for _, n := range ns {
			out = append(out, fmt.Sprintf("d%03d", n))
		}
		slices.Sort(out)
		return out
	}
	rangeOf := func(a, b int) []int {
		var out []int
		for i := a; i < b; i++ {
			out = append(out, i)
		}
		return out
	}
	// chain: a full backup every 7 days, incrementals in between.
	chain := func(n int) []Item {
		out := daily(n)
		for i := range out {
			if i%7 != 0 {
				out[i].Parent = out[i-1].Name
			}
		}
		return out
	}
	cases := []struct {
		name  string
		items []Item
		p     Policy
		want  []string
	}{
		{"nothing", nil, Policy{7, 4, 6}, nil},
		{"fewer than kept", daily(5), Policy{7, 4, 6}, nil},
		{"a week of dailies", daily(7), Policy{7, 0, 0}, nil},
		{"the 8th daily goes", daily(8), Policy{7, 0, 0}, names(0)},
		// 2026-01-01 is a Thursday: days 0-3 are ISO week 1, then 4-10,
		// 11-17, 18-24, 25-31. Four weeks: days 29, 24 (a daily), 17, 10.
		{"weeklies keep each week's last", daily(30), Policy{7, 4, 0}, names(slices.DeleteFunc(rangeOf(0, 30), func(i int) bool { return i >= 23 || i == 17 || i == 10 })...)},
		// Day 99 is April 10th; March ends on day 89, February on 58.
		{"monthlies keep each month's last", daily(100), Policy{1, 0, 3}, names(slices.DeleteFunc(rangeOf(0, 100), func(i int) bool { return i == 99 || i == 89 || i == 58 })...)},
		{"several a day: the day's last", []Item{{Name: "a", Time: day(0)}, {Name: "b", Time: day(0).Add(time.Hour)}, {Name: "c", Time: day(1)}}, Policy{2, 0, 0}, []string{"a"}},
		{"the newest always stays", daily(3), Policy{0, 0, 0}, names(0, 1)},
		{"same time: the later name is the newer", []Item{{Name: "x-incr", Time: day(0), Parent: "w-full"}, {Name: "w-full", Time: day(0)}, {Name: "v", Time: day(0)}}, Policy{1, 0, 0}, []string{"v"}},
		{"a kept incremental keeps its chain", chain(10), Policy{1, 0, 0}, names(0, 1, 2, 3, 4, 5, 6)},
		{"old chains go whole", chain(21), Policy{3, 0, 0}, names(rangeOf(0, 14)...)},
		// Day 14 (a full one) is the daily; week 2's last is day 10, an
		// incremental on the full of day 7.
		{"a weekly incremental keeps its full", chain(15), Policy{1, 2, 0}, names(0, 1, 2, 3, 4, 5, 6, 11, 12, 13)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Rotate(c.items, c.p, time.UTC)
			if !slices.Equal(got, c.want) {
				t.Errorf("removed %v, want %v", got, c.want)
			}
		})
	}
}

func TestDue(t *testing.T) {
	loc := time.FixedZone("office", 2*3600)
	at := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, loc) }
	cases := []struct {
		name      string
		now, last time.Time
		failed    bool
		want      bool
	}{
		{"never run", at(10, 12, 0), time.Time{}, false, true},
		{"before the hour, ran yesterday after it", at(10, 1, 59), at(9, 2, 0), false, false},
		{"at the hour", at(10, 2, 0), at(9, 2, 0), false, true},
		{"after the hour, already ran today", at(10, 9, 0), at(10, 2, 1), false, false},
		{"box was off at the hour: catch up", at(10, 9, 0), at(9, 1, 0), false, true},
		{"before the hour, missed yesterday's", at(10, 1, 0), at(8, 23, 0), false, true},
		{"failed: not again within the hour", at(10, 2, 30), at(10, 2, 0), true, false},
		{"failed: again an hour later", at(10, 3, 0), at(10, 2, 0), true, true},
		{"in another zone's words", at(10, 2, 0).UTC(), at(9, 2, 0).UTC(), false, true},
	}
	for _, c := range cases {
		if got := Due(c.now, c.last, c.failed, 2, loc); got != c.want {
			t.Errorf("%s: Due = %v, want %v", c.name, got, c.want)
		}
	}
}
