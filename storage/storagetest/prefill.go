package storagetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"postroom/storage"
)

// PrefillAccount owns the messages of a Prefilled store.
const PrefillAccount = "alice@example.test"

// PrefillMessages is how many messages a Prefilled store's INBOX holds.
const PrefillMessages = 100_000

var (
	prefillOnce sync.Once
	prefillDir  string
	prefillErr  error
	keepPrefill bool
)

// Message builds a plausible plain-text message of about size bytes whose
// Subject names i.
func Message(size, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sender <sender@example.org>\r\nTo: %s\r\nSubject: message %d\r\n"+
		"Message-ID: <%d@example.org>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n", PrefillAccount, i, i)
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:70] + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.String()
}

// Prefilled returns a closed store folder whose PrefillAccount INBOX holds
// PrefillMessages messages of 2 KB, for benchmarks "into a full mailbox".
// It is built once per test process (about a minute) and removed by
// CleanupPrefilled. With POSTROOM_PREFILL_DIR set it is built there, if that
// folder holds no store yet, and kept (e.g. to measure the appliance on it).
// Benchmarks that open it add messages to it.
func Prefilled(tb testing.TB) string {
	tb.Helper()
	prefillOnce.Do(func() { prefillDir, prefillErr = prefill() })
	if prefillErr != nil {
		tb.Fatalf("prefill: %v", prefillErr)
	}
	return prefillDir
}

// CleanupPrefilled removes the Prefilled folder unless it was asked to be
// kept; call it from TestMain after m.Run.
func CleanupPrefilled() {
	if prefillDir != "" && !keepPrefill {
		os.RemoveAll(prefillDir)
	}
}

func prefill() (string, error) {
	dir := os.Getenv("POSTROOM_PREFILL_DIR")
	if dir != "" {
		keepPrefill = true
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
			return dir, nil
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "postroom-prefill-"); err != nil {
			return "", err
		}
	}
	st, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		return "", err
	}
	defer st.Close()
	a, err := st.CreateAccount(PrefillAccount, "password-"+PrefillAccount)
	if err != nil {
		return "", err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > PrefillMessages {
					return
				}
				_, err := st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}},
					strings.NewReader(Message(2048, int(i))))
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return "", err
	}
	return dir, st.Close()
}
