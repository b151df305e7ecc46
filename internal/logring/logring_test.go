package logring

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestRing: the ring keeps the last lines in order, cuts long ones, and
// takes slog records below its level nowhere.
func TestRing(t *testing.T) {
	for _, tc := range []struct {
		keep, write int
		want        []string
	}{
		{3, 0, nil},
		{3, 2, []string{"line 0", "line 1"}},
		{3, 3, []string{"line 0", "line 1", "line 2"}},
		{3, 7, []string{"line 4", "line 5", "line 6"}},
		{0, 2, []string{"line 1"}},
	} {
		r := New(tc.keep)
		for i := range tc.write {
			fmt.Fprintf(r, "line %d\n", i)
		}
		if got := r.Lines(); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("keep %d, write %d: %q, want %q", tc.keep, tc.write, got, tc.want)
		}
	}
	r := New(10)
	r.Write([]byte(strings.Repeat("x", MaxLine+100) + "\n"))
	r.Write([]byte("two\nlines\n"))
	if got := r.Lines(); len(got) != 3 || len(got[0]) != MaxLine+len(" [cut]") || got[1] != "two" || got[2] != "lines" {
		t.Errorf("long and multi-line writes: %d lines, first %d bytes", len(got), len(got[0]))
	}
	r = New(10)
	log := slog.New(r.Handler(slog.LevelInfo))
	log.Debug("not kept")
	log.Info("kept", "user", "ann@example.org")
	if got := r.Lines(); len(got) != 1 || !strings.Contains(got[0], `msg=kept user=ann@example.org`) {
		t.Errorf("slog lines: %q", got)
	}
}
