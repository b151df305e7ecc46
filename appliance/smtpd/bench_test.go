package smtpd

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// BenchmarkSMTPDeliver measures accepted messages per second through SMTP on
// loopback into a real store with sync on (a 250 means the message is on
// disk). Each sender keeps one connection and sends message after message,
// RSET between them; b.N is the total over all senders.
//
//	go test -run '^$' -bench BenchmarkSMTPDeliver -benchtime 2000x ./appliance/smtpd/
func BenchmarkSMTPDeliver(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"2KB", 2 << 10}, {"100KB", 100 << 10}} {
		msg := benchMessage(size.bytes)
		for _, fill := range []string{"empty", "100k"} {
			for _, senders := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("inbox=%s/size=%s/senders=%d", fill, size.name, senders), func(b *testing.B) {
					var st *storage.Store
					if fill == "100k" {
						// alice's INBOX already holds 100,000 messages.
						st = storagetest.OpenOptions(b, storage.Options{Dir: storagetest.Prefilled(b)})
					} else {
						st = storagetest.Open(b)
						storagetest.Account(b, st, alice)
					}
					benchDeliver(b, st, msg, senders)
				})
			}
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	storagetest.CleanupPrefilled()
	os.Exit(code)
}

// benchMessage is a plain message of about n bytes with 76-octet lines.
func benchMessage(n int) []byte {
	var m bytes.Buffer
	m.WriteString("From: Bench <bench@remote.test>\r\nTo: <alice@example.test>\r\n" +
		"Subject: benchmark\r\nMessage-ID: <bench@remote.test>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:74] + "\r\n"
	for m.Len() < n {
		m.WriteString(line)
	}
	return m.Bytes()
}

func benchDeliver(b *testing.B, st *storage.Store, msg []byte, senders int) {
	before := countInbox(b, st, alice)
	runBench(b, benchCase{
		opts:    Options{Store: st},
		senders: senders,
		dial:    dialPlain,
		from:    "bench@remote.test",
		rcpt:    alice,
		msg:     msg,
	})
	if got := countInbox(b, st, alice) - before; got != b.N {
		b.Fatalf("alice received %d messages, sent %d", got, b.N)
	}
}

// benchCase is one benchmark run: a server with opts (the limits are set
// by runBench), senders clients from dial, each sending msg from from to
// rcpt over and over, RSET between messages.
type benchCase struct {
	opts       Options
	senders    int
	dial       func(addr string) (*smtp.Client, error) // connect, EHLO, and log in for submission
	from, rcpt string
	msg        []byte
}

func runBench(b *testing.B, bc benchCase) {
	o := bc.opts
	o.Hostname = "mx.example.test"
	o.Logger = slog.New(slog.DiscardHandler)
	o.MaxConnections = bc.senders + 1
	o.MaxConnectionsPerIP = bc.senders + 1
	o.MaxMessagesPerConnection = b.N + 1
	srv, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })

	clients := make([]*smtp.Client, bc.senders)
	for i := range clients {
		c, err := bc.dial(l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
		defer c.Close()
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, bc.senders)
	b.SetBytes(int64(len(bc.msg)))
	b.ResetTimer()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := sendOne(c, bc.from, bc.rcpt, bc.msg); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	for _, c := range clients {
		c.Quit()
	}
}

func dialPlain(addr string) (*smtp.Client, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	return c, c.Hello("bench.test")
}

func sendOne(c *smtp.Client, from, rcpt string, msg []byte) error {
	if err := c.Reset(); err != nil {
		return err
	}
	if err := c.Mail(from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

func countInbox(tb testing.TB, st *storage.Store, name string) int {
	acct, err := st.Account(name)
	if err != nil {
		tb.Fatal(err)
	}
	mb, err := st.Mailbox(acct.ID, storage.InboxName)
	if err != nil {
		tb.Fatal(err)
	}
	msgs, err := st.Messages(acct.ID, mb.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return len(msgs)
}
