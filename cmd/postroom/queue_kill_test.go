package main

import (
	"context"
	"fmt"
	"path/filepath"
	"postroom/appliance/config"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postroom/internal/dnstest"
	"postroom/internal/testutil"
	"postroom/storage"
)

// The outbound queue's kill test (issue 5): the real appliance is killed
// (SIGKILL) while it delivers a full queue to a recording SMTP sink; after
// every restart it carries on. In the end every message has arrived (none
// lost) and the only duplicates are the transactions that were in flight at
// a kill (at most the overall concurrency per kill).
const (
	qkillMessages = 400
	qkillRounds   = 3
	qkillEvery    = 60 // messages the sink receives per round before the kill
	qkillRoundIn  = 60 * time.Second
)

func TestKillDuringQueueDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	sink := startSink(t)
	zone := dnstest.Start(t,
		"remote.test. 300 IN MX 10 mx.remote.test.",
		"mx.remote.test. 300 IN A 127.0.0.1",
	)
	dir := t.TempDir()
	const concurrency = 4
	writeConfig(t, dir, func(c *config.Config) {
		c.Hostname = "mail.local.test"
		c.Resolver = zone.Addr()
		c.Queue.Port = sink.port
		c.Queue.Concurrency = concurrency
		c.Queue.PerDomain = concurrency
		c.Queue.RetrySchedule = []string{"1s"}
	})
	st, err := storage.Open(storage.Options{Dir: filepath.Join(dir, "store"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount("ann@local.test", "password-ann"); err != nil {
		t.Fatal(err)
	}
	for i := range qkillMessages {
		body := fmt.Sprintf("From: ann@local.test\r\nTo: bob@remote.test\r\nSubject: qkill %d\r\n\r\nmessage %d\r\n", i, i)
		if _, err := st.QueueAdd(context.Background(), storage.QueueNew{From: "ann@local.test", To: []string{"bob@remote.test"}}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for round := range qkillRounds {
		ctx, cancel := context.WithTimeout(context.Background(), qkillRoundIn)
		before := sink.total()
		p := startPostroom(ctx, t, dir)
		select {
		case <-sink.reached(before + qkillEvery):
		case <-p.exited:
			t.Fatalf("round %d: postroom ended:\n%s", round, p.logTail())
		case <-ctx.Done():
			t.Fatalf("round %d: the sink got %d messages in time:\n%s", round, sink.total()-before, p.logTail())
		}
		p.stop() // SIGKILL mid-delivery
		cancel()
		t.Logf("round %d: %d delivered before the kill", round, sink.total()-before)
	}

	// The last start runs until every message has arrived.
	ctx, cancel := context.WithTimeout(context.Background(), qkillRoundIn)
	defer cancel()
	p := startPostroom(ctx, t, dir)
	select {
	case <-sink.distinctReached(qkillMessages):
	case <-ctx.Done():
		t.Fatalf("only %d of %d messages arrived:\n%s", sink.distinct(), qkillMessages, p.logTail())
	}
	// Wait for the queue to record the last outcomes: it is empty when the
	// appliance restarts with nothing to do. SIGTERM lets it finish cleanly.
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited

	st, err = storage.Open(storage.Options{Dir: filepath.Join(dir, "store"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
	left, err := st.QueueMessages()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d messages left in the queue after everything arrived", len(left))
	}
	dups := sink.duplicates()
	t.Logf("%d messages, %d duplicates over %d kills", qkillMessages, dups, qkillRounds)
	if dups > qkillRounds*concurrency {
		t.Errorf("%d duplicates: more than the %d attempts that can be in flight at %d kills", dups, qkillRounds*concurrency, qkillRounds)
	}
}

// sink is a recording SMTP server: it counts every message by the number
// in its subject.
type sink struct {
	port  int
	mu    sync.Mutex
	seen  map[int]int
	n     int
	waits []sinkWait
}

type sinkWait struct {
	distinct bool
	at       int
	ch       chan struct{}
}

var subjectNum = regexp.MustCompile(`Subject: qkill (\d+)`)

func startSink(t *testing.T) *sink {
	s := &sink{seen: map[int]int{}}
	s.port = testutil.StartSMTPSink(t, "mx.remote.test", func(b []byte) error {
		m := subjectNum.FindSubmatch(b)
		if m == nil {
			return &smtp.SMTPError{Code: 550, Message: "no qkill subject"}
		}
		id, _ := strconv.Atoi(string(m[1]))
		s.add(id)
		return nil
	})
	return s
}

func (s *sink) add(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[id]++
	s.n++
	kept := s.waits[:0]
	for _, w := range s.waits {
		if (w.distinct && len(s.seen) >= w.at) || (!w.distinct && s.n >= w.at) {
			close(w.ch)
			continue
		}
		kept = append(kept, w)
	}
	s.waits = kept
}

func (s *sink) wait(distinct bool, at int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	if (distinct && len(s.seen) >= at) || (!distinct && s.n >= at) {
		close(ch)
	} else {
		s.waits = append(s.waits, sinkWait{distinct, at, ch})
	}
	return ch
}

func (s *sink) reached(n int) <-chan struct{}         { return s.wait(false, n) }
func (s *sink) distinctReached(n int) <-chan struct{} { return s.wait(true, n) }

func (s *sink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *sink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *sink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n - len(s.seen)
}
