package queue

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/internal/dnstest"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// BenchmarkDelivery measures outbound throughput: b.N messages of 2 KiB,
// each to its own recipient at one loopback sink (go-smtp server), with
// the default limits (8 at a time, 2 per domain -> 4 domains used so the
// overall limit is what bounds). Every message is one SMTP transaction and
// two synced queue updates (in flight, then delivered) plus the removal.
func BenchmarkDelivery(b *testing.B) {
	p := startPeer(b, peerOpts{})
	zone := dnstest.Start(b, "d0.test. 300 IN A 127.0.0.1", "d1.test. 300 IN A 127.0.0.1",
		"d2.test. 300 IN A 127.0.0.1", "d3.test. 300 IN A 127.0.0.1")
	st := storagetest.OpenOptions(b, storage.Options{NoGC: true})
	q, err := New(Options{Store: st, Logger: slog.New(slog.DiscardHandler), Hostname: "bench.test",
		Resolver: zone.Resolver(), Port: p.port})
	if err != nil {
		b.Fatal(err)
	}
	body := "From: a@bench.test\r\nSubject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 32)
	for i := 0; i < b.N; i++ {
		if _, err := q.Enqueue(bg, "a@bench.test", []string{fmt.Sprintf("u%d@d%d.test", i, i%4)}, strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	if err := q.RunDue(bg); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	if n := len(p.received()); n != b.N {
		b.Fatalf("sink got %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}

// BenchmarkStartup10k measures what a restart with 10,000 queued messages
// costs: opening the store and reading the whole queue (Queue.LoadIndex,
// which Run's first scan also does), and the heap that holds.
func BenchmarkStartup10k(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	st, err := storage.Open(storage.Options{Dir: dir, NoGC: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	body := "From: a@bench.test\r\nSubject: bench\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n"
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ { // concurrent adds share fsyncs
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, err := st.QueueAdd(bg, storage.QueueNew{From: "a@bench.test", To: []string{fmt.Sprintf("u%d@remote.test", i)}}, strings.NewReader(body)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	st.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		st, err := storage.Open(storage.Options{Dir: dir, NoGC: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		var opened runtime.MemStats
		runtime.ReadMemStats(&opened)
		q, err := New(Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if err := q.LoadIndex(); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		msgs, err := st.QueueMessages() // what Run's first scan holds at its peak
		if err != nil || len(msgs) != n || q.Stats().Length != n {
			b.Fatalf("%d messages, %v", len(msgs), err)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(el.Milliseconds()), "ms-open+load")
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "MiB-heap")
		b.ReportMetric(float64(after.HeapInuse-opened.HeapInuse)/(1<<20), "MiB-heap-queue")
		runtime.KeepAlive(msgs)
		st.Close()
	}
}
