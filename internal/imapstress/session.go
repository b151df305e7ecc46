package imapstress

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Session is one logged-in connection for timing single commands (the
// benchmarks of docs/BENCHMARKS.md compare servers with it): it sends a
// line and reads to its tagged response, counting what came back, with
// none of the stress clients' bookkeeping.
type Session struct {
	c    *conn
	tagN int
	caps string
}

// Login dials addr (plain TCP) and logs in.
func Login(addr, user, password string, timeout time.Duration) (*Session, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	s := &Session{c: newConn(nc, &transcript{}, timeout)}
	if _, err := s.c.read(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, _, err := s.Do("LOGIN " + quote(user) + " " + quote(password)); err != nil {
		nc.Close()
		return nil, err
	}
	if _, _, err := s.Do("CAPABILITY"); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

// Do sends one command line and reads to its completion: the untagged
// responses and the bytes read. A NO or BAD is an error.
func (s *Session) Do(line string) (untagged int, bytes int64, err error) {
	s.tagN++
	tag := fmt.Sprintf("t%d", s.tagN)
	if err := s.c.write(tag + " " + line + "\r\n"); err != nil {
		return 0, 0, err
	}
	for {
		r, err := s.c.read()
		if err != nil {
			return untagged, bytes, err
		}
		bytes += int64(len(r.raw))
		switch r.tag {
		case "*":
			untagged++
			if strings.HasPrefix(string(r.rest), "CAPABILITY ") {
				s.caps = string(r.rest)
			}
			continue
		case tag:
		default:
			return untagged, bytes, fmt.Errorf("%s: unexpected %q", line, trimCRLF(r.raw))
		}
		if st, _, text := statusText(r.rest); st != "OK" {
			return untagged, bytes, fmt.Errorf("%s: %s %s", firstWord(line), st, text)
		}
		return untagged, bytes, nil
	}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// Append stores messages in a mailbox, many per command with MULTIAPPEND
// (RFC 3502) and LITERAL+ (RFC 7888) when the server offers both.
func (s *Session) Append(mailbox string, msgs []string) error {
	multi := strings.Contains(s.caps, " MULTIAPPEND") && strings.Contains(s.caps, " LITERAL+")
	batch := 1
	if multi {
		batch = 500
	}
	for len(msgs) > 0 {
		n := min(batch, len(msgs))
		var b strings.Builder
		b.WriteString("APPEND " + quote(mailbox))
		if !strings.Contains(s.caps, " LITERAL+") {
			return fmt.Errorf("append: the server offers no LITERAL+")
		}
		for _, m := range msgs[:n] {
			fmt.Fprintf(&b, " {%d+}\r\n%s", len(m), m)
		}
		if _, _, err := s.Do(b.String()); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// Close logs out and closes the connection.
func (s *Session) Close() error {
	s.Do("LOGOUT")
	return s.c.nc.Close()
}
