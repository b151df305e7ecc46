package pop3

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// BenchmarkLogin is a whole POP3 login over loopback (connect, greeting,
// USER, PASS with its argon2id check, QUIT) by 10 clients at once, each of
// its own account (POP3 locks the maildrop), as phones that reconnect
// often, with the store's credential cache (storage/credcache.go) and
// without it. ns/op is per login.
func BenchmarkLogin(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			st := storagetest.OpenOptions(b, storage.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CredentialCacheTTL: tc.ttl})
			const clients = 10
			for i := range clients {
				storagetest.Account(b, st, fmt.Sprintf("user%d@example.test", i))
			}
			addr := benchServer(b, st)
			work := make(chan struct{})
			var wg sync.WaitGroup
			b.ResetTimer()
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprintf("user%d@example.test", i)
					for range work {
						c := dialRaw(b, addr, 4096)
						c.login(b, name)
						c.quit(b)
					}
				}()
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(st.PasswordChecks())/float64(b.N), "checks/op")
		})
	}
}
