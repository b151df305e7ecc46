// Package storagetest opens real Badger stores for tests of any package.
package storagetest

import (
	"context"
	"log/slog"
	"testing"

	"postroom/internal/testutil"
	"postroom/storage"
)

// Open opens a store in a fresh temp dir. At cleanup it runs Check, failing
// the test on any broken invariant, then closes the store.
func Open(tb testing.TB) *storage.Store {
	tb.Helper()
	return OpenOptions(tb, storage.Options{})
}

// OpenOptions is Open with options; Dir defaults to a fresh temp dir.
func OpenOptions(tb testing.TB, opts storage.Options) *storage.Store {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testutil.LogWriter{TB: tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	st, err := storage.Open(opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Check(context.Background()); err != nil {
			tb.Errorf("store check after test: %v", err)
		}
		if err := st.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return st
}

// Account creates an account with password "password-"+name and returns it.
func Account(tb testing.TB, st *storage.Store, name string) storage.Account {
	tb.Helper()
	a, err := st.CreateAccount(name, "password-"+name)
	if err != nil {
		tb.Fatalf("create account %s: %v", name, err)
	}
	return a
}
