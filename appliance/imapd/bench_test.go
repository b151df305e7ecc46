package imapd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// The benchmarks share one server over storagetest.Prefilled: alice's
// INBOX of 100,000 messages of 2 KB.
var (
	benchOnce sync.Once
	benchE    *testEnv
	benchStop func()
)

// benchEnv opens the prefilled store and a server on it once per process;
// TestMain's cleanup closes them.
func benchEnv(b *testing.B) *testEnv {
	benchOnce.Do(func() {
		dir := storagetest.Prefilled(b)
		st, err := storage.Open(storage.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(testutil.LogWriter{TB: b}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			b.Fatal(err)
		}
		a, err := st.Account(storagetest.PrefillAccount)
		if err != nil {
			b.Fatal(err)
		}
		srv, err := New(Options{Store: st, AllowPlaintextLAN: true, MaxConnections: 1000, MaxConnectionsPerIP: 1000,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(l)
		benchE = &testEnv{st: st, srv: srv, addr: l.Addr().String(), alice: a}
		if _, err := st.Mailbox(a.ID, "Bench"); err != nil {
			if _, err := st.CreateMailbox(a.ID, "Bench", ""); err != nil {
				b.Fatal(err)
			}
		}
		benchStop = func() { srv.Close(); st.Close() }
	})
	if benchE == nil {
		b.Fatal("benchmark environment failed earlier")
	}
	e := *benchE
	e.t = b
	return &e
}

func benchLogin(b *testing.B, e *testEnv) *rawConn {
	rc := e.raw()
	rc.timeout = 10 * time.Minute // a body search reads 200 MB
	rc.do(step{send: "L LOGIN " + storagetest.PrefillAccount + " password-" + storagetest.PrefillAccount, want: []string{`^L OK`}})
	return rc
}

// timeCmd runs one command b.N times, reading every response line as a
// client must, but without the transcript checks' regular expressions.
func timeCmd(b *testing.B, rc *rawConn, cmd, wantLast string) {
	b.Helper()
	want := regexp.MustCompile(wantLast)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rc.send("t " + cmd + "\r\n")
		n := 0
		for {
			l, err := rc.r.ReadSlice('\n')
			if err != nil {
				b.Fatalf("read: %v", err)
			}
			n++
			if bytes.HasPrefix(l, []byte("t ")) {
				if !want.Match(l) {
					b.Fatalf("%s: got %q", cmd, l)
				}
				break
			}
		}
		if i == 0 {
			b.ReportMetric(float64(n), "lines/op")
		}
	}
}

func BenchmarkSelect100k(b *testing.B) {
	e := benchEnv(b)
	rc := benchLogin(b, e)
	timeCmd(b, rc, "SELECT INBOX", `^t OK \[READ-WRITE\]`)
}

// benchInbox times cmd with the 100,000-message INBOX selected.
func benchInbox(b *testing.B, cmd string) {
	rc := benchLogin(b, benchEnv(b))
	rc.do(step{send: "s SELECT INBOX", want: []string{`^s OK`}})
	timeCmd(b, rc, cmd, `^t OK`)
}

func BenchmarkFetchFlags100k(b *testing.B) { benchInbox(b, "UID FETCH 1:* (UID FLAGS RFC822.SIZE)") }

func BenchmarkSearchHeader100k(b *testing.B) { benchInbox(b, `SEARCH SUBJECT "message 99999"`) }

func BenchmarkSearchBody100k(b *testing.B) { benchInbox(b, `SEARCH BODY "no such words"`) }

// BenchmarkFetchFull1000 fetches everything of 1,000 messages.
func BenchmarkFetchFull1000(b *testing.B) {
	benchInbox(b, "FETCH 50001:51000 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[])")
}

// BenchmarkAppend appends 2 KB messages one after another on one
// connection (each synced to disk before its OK).
func BenchmarkAppend(b *testing.B) {
	e := benchEnv(b)
	rc := benchLogin(b, e)
	msg := storagetest.Message(2048, 1)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rc.do(step{send: fmt.Sprintf("a APPEND Bench {%d+}\r\n%s", len(msg), msg), want: []string{`^a OK \[APPENDUID`}})
	}
}

// BenchmarkIdleWakeup measures from the end of a delivery (committed and
// published) to the EXISTS arriving at a client in IDLE.
func BenchmarkIdleWakeup(b *testing.B) {
	e := benchEnv(b)
	rc := benchLogin(b, e)
	rc.do(step{send: "s SELECT Bench", want: []string{`^s OK`}})
	rc.send("i IDLE\r\n")
	rc.until(`^\+ `)
	msg := storagetest.Message(2048, 2)
	var wake time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := e.st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: e.alice.ID, Mailbox: "Bench"}}}, strings.NewReader(msg))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		rc.until(` EXISTS$`)
		wake += time.Since(t0)
	}
	b.StopTimer()
	b.ReportMetric(float64(wake.Microseconds())/float64(b.N), "wake-µs/op")
	rc.send("DONE\r\n")
	rc.until(`^i OK`)
}

// BenchmarkIdleConnections200 opens 200 connections that log in, select
// the 100,000-message INBOX and IDLE, and reports the heap they add (the
// test clients' own buffers included, so this is an upper bound).
func BenchmarkIdleConnections200(b *testing.B) {
	e := benchEnv(b)
	const n = 200
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		conns := make([]*rawConn, n)
		for j := range conns {
			rc := benchLogin(b, e)
			rc.do(step{send: "s SELECT INBOX", want: []string{`^s OK`}})
			rc.send("i IDLE\r\n")
			rc.until(`^\+ `)
			conns[j] = rc
		}
		after := heapInUse()
		extra := float64(after) - float64(before)
		b.ReportMetric(extra/(1<<20), "MiB-extra")
		b.ReportMetric(extra/n/1024, "KiB/conn")
		for _, rc := range conns {
			rc.c.Close()
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
