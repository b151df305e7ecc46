// Package logring keeps the appliance's most recent log lines in memory,
// for the web page's log and its diagnostics bundle: an office manager
// who is asked "what does the log say?" can answer without a terminal.
//
// A Ring is an io.Writer for slog's TextHandler (Handler), which writes
// each record with one Write; it keeps the last N lines, each cut to
// MaxLine bytes, so its memory is bounded whatever is logged. It keeps
// what the log holds and nothing more: the rest of the box never logs a
// password (STYLE convention 10), so neither does the ring.
package logring

import (
	"log/slog"
	"strings"
	"sync"
)

// MaxLine is the longest line kept; a longer one is cut and marked.
const MaxLine = 2048

// Ring keeps the last lines written to it. It is safe for concurrent use.
type Ring struct {
	mu    sync.Mutex
	lines []string // a circle: next is the oldest once full
	next  int
	full  bool
}

// New returns a Ring that keeps n lines (at least 1).
func New(n int) *Ring { return &Ring{lines: make([]string, max(n, 1))} }

// Write keeps p as one line (or several, if it holds line breaks).
func (r *Ring) Write(p []byte) (int, error) {
	s := strings.TrimRight(string(p), "\n")
	r.mu.Lock()
	defer r.mu.Unlock()
	for line := range strings.SplitSeq(s, "\n") {
		if len(line) > MaxLine {
			line = line[:MaxLine] + " [cut]"
		}
		r.lines[r.next] = line
		r.next++
		if r.next == len(r.lines) {
			r.next, r.full = 0, true
		}
	}
	return len(p), nil
}

// Lines returns the lines kept, oldest first.
func (r *Ring) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]string(nil), r.lines[:r.next]...)
	}
	return append(append([]string(nil), r.lines[r.next:]...), r.lines[:r.next]...)
}

// Handler returns a slog handler that writes records of level and above
// to the ring as text lines; join it to the box's own handler with
// slog.NewMultiHandler.
func (r *Ring) Handler(level slog.Leveler) slog.Handler {
	return slog.NewTextHandler(r, &slog.HandlerOptions{Level: level})
}
