// Package testutil holds the few helpers that tests of several packages
// share: a goroutine-safe buffer for captured output and a writer that
// sends log lines to the test's own log.
package testutil

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// SyncBuffer collects output written from several goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// LogWriter writes each line it gets to tb.Log, so server logs show up
// next to the failing test (and only with -v or on failure).
type LogWriter struct{ TB testing.TB }

func (w LogWriter) Write(p []byte) (int, error) {
	w.TB.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// Logger is a debug-level logger that writes to tb's log.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(LogWriter{TB: tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
