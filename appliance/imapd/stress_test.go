package imapd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postroom/internal/dovecottest"
	"postroom/internal/imapstress"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestStress runs the IMAP stress tool (internal/imapstress, validated
// against Dovecot there) against the real server over a real Badger store
// for a few seconds: clients sharing one mailbox, then a mailbox each,
// every command of the mix, and no error allowed (issue #11). Run with
// -race it also looks for data races under that load; storagetest's
// Check at cleanup recounts the store afterwards.
func TestStress(t *testing.T) {
	for _, shared := range []bool{true, false} {
		name := "separate"
		if shared {
			name = "shared"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			res, err := imapstress.Run(context.Background(), imapstress.Options{
				Addr: e.addr, User: alice, Password: "password-" + alice,
				Clients: 6, Shared: shared, Duration: 3 * time.Second, Commands: 20000, Seed: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			res.Report(&b)
			if res.ErrorCount() != 0 {
				res.ReportKinds(&b)
				t.Errorf("errors under stress:\n%s", b.String())
			} else {
				t.Log(b.String())
			}
		})
	}
}

// stressSeconds is how long each BenchmarkStress run lasts:
// POSTROOM_STRESS_SECONDS, or 10; stressRounds how many turns each server
// takes: POSTROOM_STRESS_ROUNDS, or 3.
func stressSeconds() time.Duration {
	return time.Duration(envInt("POSTROOM_STRESS_SECONDS", 10)) * time.Second
}
func stressRounds() int { return envInt("POSTROOM_STRESS_ROUNDS", 3) }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkStress runs the stress mix with 10 clients on one mailbox and
// on 10 mailboxes, against this server and against a private Dovecot
// (Debian's, mdbox, started once per call), taking turns: round 1 of each
// server and mode, then round 2, so that a change in the machine's load
// falls on both (-count would repeat one sub-benchmark before the next).
// Each sub-benchmark is one run of POSTROOM_STRESS_SECONDS whatever b.N
// is: the figures are the reported cmds/s and errors, not ns/op. Run it
// with -benchtime 1x (make bench-imap does): with Nx the testing package
// calls each sub-benchmark twice, N=1 and N. Errors are reported, not
// fatal, so that today's server can be measured too.
func BenchmarkStress(b *testing.B) {
	const user, pass = "stress@example.test", "stress secret"
	d := dovecottest.StartWith(b, dovecottest.Options{MailLocation: "mdbox:~/mdbox"}, dovecottest.User{Name: user, Password: pass})
	for round := 1; round <= stressRounds(); round++ {
		for _, mode := range []string{"shared", "separate"} {
			for _, server := range []string{"postroom", "dovecot"} {
				b.Run(fmt.Sprintf("%s/%s/round%d", mode, server, round), func(b *testing.B) {
					o := imapstress.Options{Clients: 10, Shared: mode == "shared", Duration: stressSeconds(), Seed: uint64(round)}
					if server == "dovecot" {
						o.Addr, o.User, o.Password = d.IMAP, user, pass
					} else {
						e := newEnv(b, func(o *Options) { o.Logger = slog.New(slog.DiscardHandler) })
						o.Addr, o.User, o.Password = e.addr, alice, "password-"+alice
					}
					res, err := imapstress.Run(context.Background(), o)
					if err != nil {
						b.Fatal(err)
					}
					var sb strings.Builder
					res.Report(&sb)
					b.Log(sb.String())
					b.ReportMetric(res.PerSecond(), "cmds/s")
					b.ReportMetric(float64(res.ErrorCount()), "errors")
					b.ReportMetric(0, "ns/op")
				})
			}
		}
	}
}

// BenchmarkIMAP20k takes issue #11's figures on a mailbox of 20,000
// messages of 2 KB (storagetest.Message), this server against a private
// Dovecot (mdbox) filled with the same messages: SELECT, a UID SEARCH
// SUBJECT that one message matches, and UID FETCH of every BODY[]. Each
// server is filled once per call; the loops time one command each, after
// a first one reported apart as first-ms.
func BenchmarkIMAP20k(b *testing.B) {
	const n = 20000
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = storagetest.Message(2048, i+1)
	}
	e := newEnv(b, func(o *Options) { o.Logger = slog.New(slog.DiscardHandler) })
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				if _, err := e.st.Deliver(context.Background(), storage.Delivery{
					Recipients: []storage.Recipient{{Account: e.alice.ID}}, InternalDate: testInternalDate,
				}, strings.NewReader(msgs[i])); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	const user, pass = "bench@example.test", "bench secret"
	d := dovecottest.StartWith(b, dovecottest.Options{MailLocation: "mdbox:~/mdbox"}, dovecottest.User{Name: user, Password: pass})
	fill, err := imapstress.Login(d.IMAP, user, pass, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	if err := fill.Append("INBOX", msgs); err != nil {
		b.Fatal(err)
	}
	fill.Close()
	if b.Failed() {
		return
	}
	servers := []struct{ name, addr, user, pass string }{
		{"postroom", e.addr, alice, "password-" + alice},
		{"dovecot", d.IMAP, user, pass},
	}
	for _, op := range []struct {
		name, line string
		selected   bool
		min        int64 // bytes the answer must have, at least
	}{
		{"select", "SELECT INBOX", false, 0},
		{"search-subject", `UID SEARCH SUBJECT "message 12345"`, true, 0},
		{"fetch-bodies", "UID FETCH 1:* (BODY.PEEK[])", true, n * 2048},
	} {
		for _, srv := range servers {
			b.Run(op.name+"/"+srv.name, func(b *testing.B) {
				s, err := imapstress.Login(srv.addr, srv.user, srv.pass, 5*time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if op.selected {
					if _, _, err := s.Do("SELECT INBOX"); err != nil {
						b.Fatal(err)
					}
				}
				do := func() {
					untagged, bytes, err := s.Do(op.line)
					if err != nil {
						b.Fatal(err)
					}
					if bytes < op.min || untagged == 0 {
						b.Fatalf("%s: %d responses, %d bytes", op.line, untagged, bytes)
					}
				}
				// The first time apart: Dovecot builds its cache of the
				// header fields a search used on the first search.
				t0 := time.Now()
				do()
				first := time.Since(t0)
				for b.Loop() {
					do()
				}
				b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
			})
		}
	}
}
