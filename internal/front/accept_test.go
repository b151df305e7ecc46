package front

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"

	"postroom/internal/testutil"
)

var errClosed = errors.New("closed")

// TestAcceptLoop: connections reach handle; closing the listener with closed()
// true ends acceptLoop with closedErr; a failure without it is returned wrapped.
func TestAcceptLoop(t *testing.T) {
	for _, requested := range []bool{true, false} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var closed atomic.Bool
		got := make(chan net.Conn, 1)
		done := make(chan error, 1)
		go func() {
			done <- acceptLoop(l, "test", testutil.Logger(t), closed.Load, errClosed, func(nc net.Conn) { got <- nc })
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		(<-got).Close()
		c.Close()
		closed.Store(requested)
		l.Close()
		err = <-done
		if requested && err != errClosed {
			t.Errorf("after a requested close: %v, want errClosed", err)
		}
		if !requested && (err == nil || errors.Is(err, errClosed) || !errors.Is(err, net.ErrClosed)) {
			t.Errorf("after a failure: %v, want the accept error", err)
		}
	}
}

// timeoutListener fails Accept with a temporary error a few times.
type timeoutListener struct {
	net.Listener
	fails atomic.Int32
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "too many open files (pretend)" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (l *timeoutListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, timeoutErr{}
	}
	return l.Listener.Accept()
}

func TestAcceptLoopRidesOutTemporaryErrors(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &timeoutListener{Listener: inner}
	l.fails.Store(3)
	var closed atomic.Bool
	got := make(chan net.Conn, 1)
	done := make(chan error, 1)
	go func() {
		done <- acceptLoop(l, "test", slog.New(slog.DiscardHandler), closed.Load, errClosed, func(nc net.Conn) { got <- nc })
	}()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(<-got).Close()
	closed.Store(true)
	inner.Close()
	if err := <-done; err != errClosed {
		t.Fatalf("acceptLoop = %v", err)
	}
}
