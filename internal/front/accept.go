package front

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// acceptLoop accepts connections on l and passes each to handle, which must
// not block (start a goroutine), until Accept fails. If closed then reports
// true, it returns closedErr (the server's ErrServerClosed); a temporary
// error is retried after a pause that doubles from 5 ms to 1 s, as
// net/http does, rather than spinning; any other error is returned,
// prefixed with name.
func acceptLoop(l net.Listener, name string, log *slog.Logger, closed func() bool, closedErr error, handle func(net.Conn)) error {
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if closed() {
				return closedErr
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Warn(name+" accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("%s: accept: %w", name, err)
		}
		delay = 0
		handle(nc)
	}
}
