package admin

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/appliance/queue"
	"postroom/internal/testutil"
	"postroom/storage"
)

// TestLiveQueue: on a queue whose Run is going (the running box), a retry
// starts an attempt at once instead of at the next scheduled time, and a
// message being sent cannot be deleted under the attempt.
func TestLiveQueue(t *testing.T) {
	e := newEnv(t)
	clock := testutil.NewClock(t0)
	attempts := make(chan queue.Envelope, 10)
	release := make(chan struct{})
	var once sync.Once
	q, err := queue.New(queue.Options{
		Store: e.st, Logger: slog.New(slog.NewTextHandler(e.log, nil)), Now: clock.Now,
		Retry: []time.Duration{time.Hour},
		Sink: func(ctx context.Context, env queue.Envelope, msg io.Reader) error {
			attempts <- env
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.a.q, e.a.o.Queue = q, q
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		once.Do(func() { close(release) })
		cancel()
		<-done
	})

	m, err := e.st.QueueAdd(ctx, storage.QueueNew{From: "ann@example.test", To: []string{"bob@remote.example"}}, strings.NewReader("Subject: x\r\n\r\ny\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Due in an hour: nothing happens until the retry asks for it.
	if _, err := e.st.QueueUpdate(m.ID, func(q *storage.QueueMessage) error {
		q.Recipients[0].NextAttempt = t0.Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	id := queue.FormatID(m.ID)
	e.run(t, []step{{op: QueueRetry{ID: id}, want: "again now", check: func(t *testing.T, e *env, res any) {
		if !res.(QueueResult).Running {
			t.Errorf("result %+v: not running", res)
		}
	}}})
	select {
	case env := <-attempts:
		if env.ID != m.ID {
			t.Fatalf("attempt of %v", env)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the retry did not start an attempt")
	}
	e.run(t, []step{{op: QueueDelete{ID: id}, code: CodeConflict, field: "id", want: "being sent right now"}})
	if _, err := e.st.QueueMessage(m.ID); err != nil {
		t.Errorf("the message went while being sent: %v", err)
	}
	once.Do(func() { close(release) })
}
