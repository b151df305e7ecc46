package pop3

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postroom/appliance/authguard"
	"postroom/storage"
	"postroom/storage/storagetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	storagetest.CleanupPrefilled()
	closeRetrStore()
	os.Exit(code)
}

// benchServer serves st on a loopback port with plaintext logins allowed
// (the benchmarks measure POP3, not TLS) and returns its address.
func benchServer(b *testing.B, st Maildrop) string {
	b.Helper()
	srv, err := New(Options{Hostname: "pop.example.test", Store: st, AllowPlaintextLAN: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Guard:  authguard.New(authguard.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// rawClient is a lean POP3 client: its own cost should not hide the
// server's.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(tb testing.TB, addr string, bufSize int) *rawClient {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	c := &rawClient{conn: conn, br: bufio.NewReaderSize(conn, bufSize)}
	c.expectOK(tb)
	return c
}

func (c *rawClient) expectOK(tb testing.TB) {
	line, err := c.br.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("+OK")) {
		tb.Fatalf("reply %q: %v", line, err)
	}
}

func (c *rawClient) cmd(tb testing.TB, s string) {
	if _, err := io.WriteString(c.conn, s+"\r\n"); err != nil {
		tb.Fatal(err)
	}
	c.expectOK(tb)
}

// drain reads a multi-line body up to ".\r\n" and returns its octets.
func (c *rawClient) drain(tb testing.TB) int64 {
	var n int64
	for {
		line, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			n += int64(len(line))
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		if len(line) == 3 && line[0] == '.' {
			return n
		}
		n += int64(len(line))
	}
}

func (c *rawClient) login(tb testing.TB, name string) {
	c.cmd(tb, "USER "+name)
	c.cmd(tb, "PASS "+password(name))
}

func (c *rawClient) quit(tb testing.TB) {
	c.cmd(tb, "QUIT")
	io.Copy(io.Discard, c.br) // the server releases the lock before it hangs up
	c.conn.Close()
}

// BenchmarkLoginStatUIDL100k: log in to a 100,000-message INBOX (argon2
// password check, snapshot, pin), STAT, UIDL of all 100,000, QUIT.
// Target: under 0.5 s per iteration.
func BenchmarkLoginStatUIDL100k(b *testing.B) {
	st := storagetest.OpenOptions(b, storage.Options{Dir: storagetest.Prefilled(b)})
	addr := benchServer(b, st)
	name := storagetest.PrefillAccount
	b.Run("login+STAT", func(b *testing.B) {
		for b.Loop() {
			c := dialRaw(b, addr, 4096)
			c.login(b, name)
			c.cmd(b, "STAT")
			c.quit(b)
		}
	})
	b.Run("login+STAT+UIDL", func(b *testing.B) {
		for b.Loop() {
			c := dialRaw(b, addr, 4096)
			c.login(b, name)
			c.cmd(b, "STAT")
			c.cmd(b, "UIDL")
			if n := c.drain(b); n < storagetest.PrefillMessages*20 {
				b.Fatalf("UIDL listing of %d octets", n)
			}
			c.quit(b)
		}
	})
}

// The RETR store: 10,000 messages of 50 KB, built once per process.
const (
	retrMessages = 10_000
	retrSize     = 50_000
)

var (
	retrOnce  sync.Once
	retrDir   string
	retrSt    *storage.Store
	retrAcct  storage.Account
	retrErr   error
	retrTotal int64
)

func closeRetrStore() {
	if retrSt != nil {
		retrSt.Close()
		os.RemoveAll(retrDir)
	}
}

func retrStore(b *testing.B) (*storage.Store, storage.Account) {
	retrOnce.Do(func() {
		if retrDir, retrErr = os.MkdirTemp("", "postroom-pop3-bench-"); retrErr != nil {
			return
		}
		if retrSt, retrErr = storage.Open(storage.Options{Dir: retrDir}); retrErr != nil {
			return
		}
		if retrAcct, retrErr = retrSt.CreateAccount(alice, password(alice)); retrErr != nil {
			return
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				for i := next.Add(1); i <= retrMessages; i = next.Add(1) {
					_, err := retrSt.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: retrAcct.ID}}},
						strings.NewReader(storagetest.Message(retrSize, int(i))))
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		retrErr = <-errs
		mb, err := retrSt.Mailbox(retrAcct.ID, storage.InboxName)
		if err == nil {
			retrTotal = mb.Size
		}
	})
	if retrErr != nil {
		b.Fatal(retrErr)
	}
	return retrSt, retrAcct
}

// BenchmarkRETR10k50KB: one POP3 session retrieves all 10,000 messages,
// next to reading the same bodies from the store directly, in the same
// process and run. MB/s is per pass over the 500 MB.
func BenchmarkRETR10k50KB(b *testing.B) {
	st, acct := retrStore(b)
	mb, err := st.Mailbox(acct.ID, storage.InboxName)
	if err != nil {
		b.Fatal(err)
	}
	msgs, err := st.Messages(acct.ID, mb.ID)
	if err != nil || len(msgs) != retrMessages {
		b.Fatalf("%d messages: %v", len(msgs), err)
	}
	b.Run("store-direct", func(b *testing.B) {
		b.SetBytes(retrTotal)
		buf := make([]byte, 32<<10)
		for b.Loop() {
			for _, m := range msgs {
				body, err := st.OpenBody(m.Object)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, body.Reader(), buf); err != nil {
					b.Fatal(err)
				}
				body.Close()
			}
		}
	})
	addr := benchServer(b, st)
	b.Run("pop3-RETR", func(b *testing.B) {
		b.SetBytes(retrTotal)
		for b.Loop() {
			c := dialRaw(b, addr, 64<<10)
			c.login(b, alice)
			var got int64
			for i := 1; i <= retrMessages; i++ {
				c.cmd(b, "RETR "+strconv.Itoa(i))
				got += c.drain(b)
			}
			c.quit(b)
			if got != retrTotal {
				b.Fatalf("received %d octets, want %d", got, retrTotal)
			}
		}
	})
}

// BenchmarkSessionMemory: live heap (HeapAlloc after GC) held per idle logged-in session (server and
// the lean client together, each client with a 512-byte buffer), over 50
// accounts of 20 messages; and the extra heap of one session over the
// 100,000-message INBOX (the snapshot and the pins).
func BenchmarkSessionMemory(b *testing.B) {
	b.Run("idle-20msgs", func(b *testing.B) {
		const n = 50
		st := storagetest.Open(b)
		var names []string
		for i := range n {
			a := storagetest.Account(b, st, fmt.Sprintf("user%d@example.test", i))
			for j := range 20 {
				st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}},
					strings.NewReader(storagetest.Message(2000, j)))
			}
			names = append(names, a.Name)
		}
		addr := benchServer(b, st)
		for b.Loop() {
			before := heapInUse()
			var cs []*rawClient
			for _, name := range names {
				c := dialRaw(b, addr, 512)
				c.login(b, name)
				c.cmd(b, "STAT")
				cs = append(cs, c)
			}
			after := heapInUse()
			b.ReportMetric(float64(after-before)/n, "heap-B/session")
			for _, c := range cs {
				c.quit(b)
			}
		}
	})
	b.Run("100k-inbox", func(b *testing.B) {
		st := storagetest.OpenOptions(b, storage.Options{Dir: storagetest.Prefilled(b)})
		addr := benchServer(b, st)
		// A first session grows the store's pin table, which keeps its
		// size afterwards; measure the ones after it.
		warm := dialRaw(b, addr, 512)
		warm.login(b, storagetest.PrefillAccount)
		warm.quit(b)
		for b.Loop() {
			before := heapInUse()
			c := dialRaw(b, addr, 512)
			c.login(b, storagetest.PrefillAccount)
			c.cmd(b, "STAT")
			after := heapInUse()
			b.ReportMetric(float64(after-before), "heap-B/session")
			c.quit(b)
		}
	})
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	time.Sleep(10 * time.Millisecond) // let finalizers and the scavenger settle; measurement only
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
