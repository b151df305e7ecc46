// Command postroom-load sends a bounded load to a Postroom on this machine,
// so that figures in docs/BENCHMARKS.md can be measured against the real
// appliance binary (with `make run`, or a data folder of your own).
//
// SMTP (the default, or `postroom-load smtp ...`) reports the acceptance
// rate; it stops after -n messages or -timeout, whichever comes first:
//
//	postroom-load -smtp 127.0.0.1:2525 -to demo@example.test -n 10000 -c 8 -size 2048
//
// `postroom-load imap` runs the IMAP stress mix (internal/imapstress) and
// reports commands per second and every error, bounded by -duration and -n:
//
//	POSTROOM_LOAD_PASSWORD=... postroom-load imap -imap 127.0.0.1:1143 -user demo@example.test -c 10 -shared
//
// It only talks to loopback addresses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "postroom-load:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "imap":
			return runIMAP(args[1:])
		case "smtp":
			args = args[1:]
		}
	}
	fs := flag.NewFlagSet("postroom-load", flag.ContinueOnError)
	addr := fs.String("smtp", "127.0.0.1:2525", "SMTP address of the appliance (loopback only)")
	to := fs.String("to", "demo@example.test", "recipient")
	from := fs.String("from", "load@remote.test", "envelope sender")
	n := fs.Int("n", 10000, "messages to send in all")
	c := fs.Int("c", 8, "concurrent connections")
	size := fs.Int("size", 2048, "approximate message size in bytes")
	timeout := fs.Duration("timeout", 5*time.Minute, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	if *n <= 0 || *c <= 0 || *c > 1000 || *size <= 0 {
		return errors.New("-n, -c (1..1000) and -size must be positive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	msg := message(*size, *to)
	var next, sent, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			cl, err := dial(*addr)
			if err != nil {
				fail(err)
				return
			}
			defer func() { cl.Close() }()
			var mine []time.Duration
			for ctx.Err() == nil && next.Add(1) <= int64(*n) {
				t0 := time.Now()
				err := sendOne(cl, *from, *to, msg)
				if reconnect(err) {
					// The server closes a connection after its share of
					// messages (421): a real sender opens a new one and
					// sends the message again, and so do we, once.
					cl.Close()
					if cl, err = dial(*addr); err == nil {
						err = sendOne(cl, *from, *to, msg)
					}
				}
				if err != nil {
					failed.Add(1)
					fail(err)
					return
				}
				mine = append(mine, time.Since(t0))
				sent.Add(1)
			}
			cl.Quit()
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("sent %d messages of %d bytes over %d connections in %.2fs: %.0f msgs/s, %.1f MB/s; latency p50 %v p99 %v; failed %d\n",
		sent.Load(), len(msg), *c, el.Seconds(), float64(sent.Load())/el.Seconds(),
		float64(sent.Load())*float64(len(msg))/el.Seconds()/1e6, pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), failed.Load())
	if firstErr != nil {
		return fmt.Errorf("first error: %w", firstErr)
	}
	return nil
}

// checkLoopback refuses any target that is not this machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address; this tool only loads a Postroom on this machine", host)
	}
	return nil
}

func message(size int, to string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Load <load@remote.test>\r\nTo: <%s>\r\nSubject: load test\r\nMessage-ID: <load@remote.test>\r\n"+
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n", to)
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:74] + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.String()
}

// dial connects and says EHLO.
func dial(addr string) (*smtp.Client, error) {
	cl, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := cl.Hello("load.test"); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// reconnect says whether err is the server closing the connection (421)
// rather than refusing the message.
func reconnect(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code == 421
}

func sendOne(c *smtp.Client, from, to, msg string) error {
	if err := c.Reset(); err != nil {
		return err
	}
	if err := c.Mail(from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}
