package storage

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// BenchmarkArgon2id is the cost of one password check for each argon2id
// parameter set OWASP lists as equivalent (and the one in use), so that
// the figures on this machine and on arm64 (qemu-aarch64-static; see
// docs/BENCHMARKS.md) can choose the box's parameters. ns/op is one check.
func BenchmarkArgon2id(b *testing.B) {
	salt := []byte("0123456789abcdef")
	for _, p := range []struct{ mib, t uint32 }{{19, 2}, {12, 3}, {9, 4}, {7, 5}, {46, 1}} {
		b.Run(fmt.Sprintf("m=%dMiB,t=%d,p=1", p.mib, p.t), func(b *testing.B) {
			for b.Loop() {
				argon2.IDKey([]byte("correct horse battery"), salt, p.t, p.mib*1024, 1, 32)
			}
		})
	}
}

// BenchmarkAuthenticate is Store.Authenticate of one account by 8
// goroutines at once (a phone and a desktop program reconnecting), with
// the credential cache and without: the cost of a mail LOGIN's password
// check. ns/op is per login; "checks/op" counts argon2id runs.
func BenchmarkAuthenticate(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  int64
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			st, err := Open(Options{Dir: b.TempDir(), NoGC: true, Logger: slog.New(slog.DiscardHandler), CredentialCacheTTL: time.Duration(tc.ttl)})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if _, err := st.CreateAccount("anna@example.test", "anna's password"); err != nil {
				b.Fatal(err)
			}
			start := st.PasswordChecks()
			var fails atomic.Int64
			b.SetParallelism(4) // x GOMAXPROCS goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.Authenticate("anna@example.test", "anna's password"); err != nil {
						fails.Add(1)
					}
				}
			})
			b.StopTimer()
			if fails.Load() > 0 {
				b.Fatalf("%d logins failed", fails.Load())
			}
			b.ReportMetric(float64(st.PasswordChecks()-start)/float64(b.N), "checks/op")
		})
	}
}
