package appliance

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"postroom/appliance/dkim"
	"postroom/appliance/queue"
	"postroom/appliance/status"
	"postroom/storage"
)

// outboundQueue returns the runner's outbound queue, building it on first
// use and registering its delivery loop as a worker. Submission calls it to
// hand over mail for remote recipients (Queue.Enqueue).
func (r *runner) outboundQueue(st *storage.Store) (*queue.Queue, error) {
	if r.queue != nil {
		return r.queue, nil
	}
	cfg := r.cfg
	retry, err := cfg.Queue.Retry()
	if err != nil {
		return nil, fmt.Errorf("queue.retry_schedule: %w", err)
	}
	var keys *dkim.Keys
	if cfg.Queue.DKIM {
		if keys, err = r.dkimKeys(); err != nil { // run_netcheck.go: one set of keys
			return nil, fmt.Errorf("data folder: %w", err)
		}
	}
	sh := cfg.Queue.Smarthost
	delay := time.Duration(cfg.Queue.DelayWarning)
	if delay == 0 {
		delay = -1 // the config's "0s" means never; the queue's 0 means default
	}
	var sink func(context.Context, queue.Envelope, io.Reader) error
	var dial func(ctx context.Context, network, addr string) (net.Conn, error) // nil: the queue's own
	if cfg.Dev {
		dial = loopbackDial // run_dev.go: never anything but this machine
		if r.devOutbox != nil {
			sink = r.devOutbox.put
		}
	}
	var q *queue.Queue
	q, err = queue.New(queue.Options{
		Sink:              sink,
		Dial:              dial,
		Store:             st,
		Logger:            r.log,
		Hostname:          cfg.Hostname,
		Resolver:          r.resolver,
		Port:              cfg.Queue.Port,
		Smarthost:         queue.Smarthost{Host: sh.Host, Port: sh.Port, TLS: sh.TLS, Username: sh.Username, Password: sh.Password},
		DKIM:              keys,
		MaxConcurrent:     cfg.Queue.Concurrency,
		MaxPerDestination: cfg.Queue.PerDomain,
		Retry:             retry,
		MaxAge:            time.Duration(cfg.Queue.MaxAge),
		DelayWarning:      delay,
		OnSent: func(n int) {
			r.update(func(s *status.Snapshot) { s.AddSent(n, time.Now()) })
		},
		OnChange: func() { r.publishQueue(q) }, // called only once q is set
	})
	if err != nil {
		return nil, fmt.Errorf("set up outgoing mail: %w", err)
	}
	r.queue = q
	r.addWorker("queue", func(ctx context.Context) error {
		if err := q.LoadIndex(); err != nil {
			return fmt.Errorf("read the outgoing queue: %w", err)
		}
		return q.Run(ctx)
	})
	return q, nil
}

// publishQueue copies the queue's Stats into the status Snapshot.
func (r *runner) publishQueue(q *queue.Queue) {
	s := q.Stats()
	r.update(func(snap *status.Snapshot) {
		snap.Queue = status.Queue{Length: s.Length, Oldest: s.Oldest, LastError: s.LastError}
	})
}
