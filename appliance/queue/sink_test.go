package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"postroom/storage"
)

// TestSink: with a Sink every message goes there, byte for byte as it
// would have been sent (DKIM prefix and body), one call per destination;
// no DNS query and no connection is made, even with a smarthost set; a
// Sink error is a temporary failure retried later.
func TestSink(t *testing.T) {
	var mu sync.Mutex
	type call struct {
		env Envelope
		msg []byte
	}
	var calls []call
	fail := true
	var dials int
	e := newEnv(t, 25, func(o *Options) {
		o.Smarthost = Smarthost{Host: "relay.remote.test", TLS: "none"}
		o.Dial = func(context.Context, string, string) (net.Conn, error) {
			mu.Lock()
			dials++
			mu.Unlock()
			return nil, errors.New("test: no dialing")
		}
		o.Sink = func(_ context.Context, env Envelope, msg io.Reader) error {
			b, err := io.ReadAll(msg)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errors.New("disk trouble")
			}
			calls = append(calls, call{env, b})
			return nil
		}
	}, mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "127.0.0.1"), a("relay.remote.test", "127.0.0.1"))

	e.enqueue(t, "ann@local.test", "bob@remote.test")
	e.run(t)
	q := e.queued(t)
	if len(q) != 1 || q[0].Recipients[0].State != storage.QueuePending ||
		!strings.Contains(q[0].Recipients[0].LastError, "disk trouble") || q[0].Recipients[0].RemoteMTA != sinkName {
		t.Fatalf("after a failing Sink: %+v", q)
	}
	prefix := q[0].Prefix
	if !bytes.HasPrefix(prefix, []byte("DKIM-Signature:")) {
		t.Fatalf("prefix %q; want a DKIM signature", prefix)
	}

	mu.Lock()
	fail = false
	mu.Unlock()
	e.clk.Advance(DefaultRetry[0])
	e.run(t)
	if q := e.queued(t); len(q) != 0 {
		t.Fatalf("still queued after the Sink took it: %+v", q)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("Sink called %d times; want 1", len(calls))
	}
	c := calls[0]
	if c.env.From != "ann@local.test" || len(c.env.To) != 1 || c.env.To[0] != "bob@remote.test" {
		t.Errorf("envelope %+v", c.env)
	}
	if want := append(append([]byte{}, prefix...), testMsg...); !bytes.Equal(c.msg, want) {
		t.Errorf("Sink got\n%q\nwant\n%q", c.msg, want)
	}
	if n := e.dns.Queries(); n != 0 || dials != 0 {
		t.Errorf("%d DNS queries and %d dials with a Sink; want none", n, dials)
	}
}
