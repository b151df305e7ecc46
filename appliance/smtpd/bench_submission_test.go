package smtpd

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/authguard"
	"postroom/appliance/mailauth"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// countingOutbound is a queue that reads and counts: the cost of the
// queue itself is not what these benchmarks measure.
type countingOutbound struct{ n atomic.Int64 }

func (c *countingOutbound) EnqueueStaged(ctx context.Context, from string, to []string, body *storage.Staged, prefix []byte) (string, error) {
	if _, err := io.Copy(io.Discard, body.Reader()); err != nil {
		return "", err
	}
	c.n.Add(1)
	return "q", nil
}

// BenchmarkSubmission measures accepted messages per second on the
// submission port: 2 KB messages, 16 clients, each logged in once over
// STARTTLS (TLS 1.3) and sending message after message. "local" delivers to
// a local account with sync on (a 250 means it is on disk); "outbound"
// hands each message to a queue that only counts it.
//
//	go test -run '^$' -bench BenchmarkSubmission -benchtime 2000x ./appliance/smtpd/
func BenchmarkSubmission(b *testing.B) {
	msg := benchMessage(2 << 10)
	msg = append([]byte("From: alice@example.test\r\n"), msg[len("From: Bench <bench@remote.test>\r\n"):]...)
	for _, dest := range []string{"local", "outbound"} {
		b.Run("to="+dest+"/size=2KB/senders=16", func(b *testing.B) {
			st := storagetest.Open(b)
			storagetest.Account(b, st, alice)
			storagetest.Account(b, st, bob)
			out := &countingOutbound{}
			rcpt := bob
			if dest == "outbound" {
				rcpt = "friend@remote.test"
			}
			before := countInbox(b, st, bob)
			runBench(b, benchCase{
				opts: Options{Store: st, TLSConfig: testTLSConfig(b), Submission: &Submission{
					Accounts: st, Outbound: out,
					Guard: authguard.New(authguard.Options{Logger: slog.New(slog.DiscardHandler)}),
				}},
				senders: 16,
				dial: func(addr string) (*smtp.Client, error) {
					c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
					if err != nil {
						return nil, err
					}
					if err := c.Hello("bench.test"); err != nil {
						return nil, err
					}
					return c, c.Auth(sasl.NewPlainClient("", alice, password(alice)))
				},
				from: alice, rcpt: rcpt, msg: msg,
			})
			got := countInbox(b, st, bob) - before
			if dest == "outbound" {
				got = int(out.n.Load())
			}
			if got != b.N {
				b.Fatalf("%d messages arrived, %d sent", got, b.N)
			}
		})
	}
}

// BenchmarkInboundChecks measures the MX path with the SPF/DKIM/DMARC
// checks off (streamed into storage) and on (staged, verified against a
// DNS server on loopback: an SPF and a DMARC lookup per message, no cache),
// 2 KB, 16 clients, sync on.
//
//	go test -run '^$' -bench BenchmarkInboundChecks -benchtime 2000x ./appliance/smtpd/
//
// "stage" has a Checker that only reads the message: the cost of staging
// without DNS, to tell the two apart.
func BenchmarkInboundChecks(b *testing.B) {
	msg := benchMessage(2 << 10)
	for _, checks := range []string{"off", "stage", "on"} {
		b.Run("checks="+checks+"/size=2KB/senders=16", func(b *testing.B) {
			st := storagetest.Open(b)
			storagetest.Account(b, st, alice)
			opts := Options{Store: st}
			switch checks {
			case "stage":
				opts.Checker = readOnlyChecker{}
			case "on":
				opts.Checker = benchChecker(b) // bench_writes_test.go
			}
			before := countInbox(b, st, alice)
			runBench(b, benchCase{
				opts: opts, senders: 16,
				dial: dialPlain,
				from: "bench@remote.test", rcpt: alice, msg: msg,
			})
			if got := countInbox(b, st, alice) - before; got != b.N {
				b.Fatalf("alice received %d messages, sent %d", got, b.N)
			}
		})
	}
}

// readOnlyChecker reads the message and passes it.
type readOnlyChecker struct{}

func (readOnlyChecker) Verify(ctx context.Context, in mailauth.Input, msg io.Reader) (mailauth.Verdict, error) {
	_, err := io.Copy(io.Discard, msg)
	return mailauth.Verdict{}, err
}
