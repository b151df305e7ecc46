package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postroom/storage"
	"postroom/storage/storagetest"
)

func message(size, i int) string { return storagetest.Message(size, i) }

func prefilled(b *testing.B) string { return storagetest.Prefilled(b) }

func TestMain(m *testing.M) {
	code := m.Run()
	storagetest.CleanupPrefilled()
	os.Exit(code)
}

// BenchmarkDeliver measures deliveries per second with sync on, straight
// into storage: message size x concurrent senders x mailbox already empty
// or holding 100,000 messages.
func BenchmarkDeliver(b *testing.B) {
	for _, fill := range []string{"empty", "100k"} {
		for _, size := range []int{2 << 10, 100 << 10} {
			for _, senders := range []int{1, 8, 32} {
				name := fmt.Sprintf("inbox=%s/size=%dKB/senders=%d", fill, size>>10, senders)
				b.Run(name, func(b *testing.B) {
					dir := b.TempDir()
					if fill == "100k" {
						dir = prefilled(b)
					}
					st, err := storage.Open(storage.Options{Dir: dir, NoGC: true})
					if err != nil {
						b.Fatal(err)
					}
					defer st.Close()
					a, err := st.Account(storagetest.PrefillAccount)
					if err != nil {
						if a, err = st.CreateAccount(storagetest.PrefillAccount, "password-a-long"); err != nil {
							b.Fatal(err)
						}
					}
					msg := message(size, 0)
					b.SetBytes(int64(len(msg)))
					b.ResetTimer()
					start := time.Now()
					var next atomic.Int64
					var wg sync.WaitGroup
					for w := 0; w < senders; w++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for next.Add(1) <= int64(b.N) {
								if _, err := st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}},
									strings.NewReader(msg)); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
					b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
				})
			}
		}
	}
}

// BenchmarkOpen100k measures opening a store of 100,000 messages and
// listing its INBOX (what IMAP SELECT and POP3 login need).
func BenchmarkOpen100k(b *testing.B) {
	dir := prefilled(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := storage.Open(storage.Options{Dir: dir, NoGC: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
}

// BenchmarkList100k measures reading the metadata of a 100,000-message INBOX.
func BenchmarkList100k(b *testing.B) {
	st, err := storage.Open(storage.Options{Dir: prefilled(b), NoGC: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a, _ := st.Account(storagetest.PrefillAccount)
	in, _ := st.Mailbox(a.ID, "INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs, err := st.Messages(a.ID, in.ID)
		if err != nil || len(msgs) < 100_000 {
			b.Fatalf("%d %v", len(msgs), err)
		}
	}
}

// BenchmarkCheck100k measures Check over a store of 100,000 messages.
func BenchmarkCheck100k(b *testing.B) {
	st, err := storage.Open(storage.Options{Dir: prefilled(b), NoGC: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Check(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdleMemory100k reports the Go heap and the process's resident
// memory after opening a 100,000-message store and leaving it idle.
func BenchmarkIdleMemory100k(b *testing.B) {
	dir := prefilled(b)
	for i := 0; i < b.N; i++ {
		st, err := storage.Open(storage.Options{Dir: dir, NoGC: true})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(rssKiB())/1024, "rss-MiB")
		st.Close()
	}
}

func rssKiB() int64 {
	data, err := os.ReadFile(filepath.Join("/proc", "self", "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var n int64
			fmt.Sscanf(strings.TrimSpace(l[6:]), "%d", &n)
			return n
		}
	}
	return 0
}
