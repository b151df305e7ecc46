package pop3

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// BenchmarkLogin is a whole POP3 login over loopback (connect, greeting,
// USER, PASS with its argon2id check, QUIT) by 10 clients of one account at
// once, as phones that reconnect often, with the store's credential cache
// (storage/credcache.go) and without it. ns/op is per login.
func BenchmarkLogin(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			st := storagetest.OpenOptions(b, storage.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CredentialCacheTTL: tc.ttl})
			storagetest.Account(b, st, alice)
			addr := benchServer(b, st)
			const clients = 10
			work := make(chan struct{})
			var wg sync.WaitGroup
			b.ResetTimer()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						c := dialRaw(b, addr, 4096)
						c.login(b, alice)
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
