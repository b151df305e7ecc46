package status

import (
	"slices"
	"testing"
	"time"
)

func TestMovingAttention(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := Snapshot{Moving: []Moving{
		{Account: "anna@example.org", From: "anna@old.example on imap.old.example", Fetched: 10, Seen: 40},
		{Account: "bob@example.org", From: "bob on pop.old.example", Fetched: 3, Seen: 3, Error: "The old server refused the user name or password."},
	}}
	got := s.Attention(now)
	want := "Moving mail into bob@example.org stopped: The old server refused the user name or password."
	if !slices.Contains(got, want) || len(got) != 1 {
		t.Errorf("Attention: %q, want only %q", got, want)
	}
	if f, seen, failed := s.MovingTotals(); f != 13 || seen != 43 || failed != 1 {
		t.Errorf("MovingTotals: %d %d %d", f, seen, failed)
	}
	s.Moving[1].Error = ""
	if got := s.Attention(now); len(got) != 0 {
		t.Errorf("moves going well need no one: %q", got)
	}
}
