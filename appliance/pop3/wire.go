package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxLine bounds a command line, CRLF included. RFC 2449 section 4 limits
// commands to 255 octets; the slack is for AUTH PLAIN initial responses of
// long logins and for clients that exceed the limit a little. A longer line
// is drained and answered -ERR; the session goes on.
const maxLine = 1024

// maxDrain bounds how much of one overlong line is read and thrown away
// before the client is considered hostile and disconnected.
const maxDrain = 64 << 10

var (
	errLineTooLong = errors.New("line too long")
	errLineFlood   = errors.New("line far too long; disconnecting")
	errNUL         = errors.New("NUL byte in command")
)

// readLine returns the next line without its line ending (CRLF, or a bare
// LF from a sloppy client). The returned string is a copy.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		drained := len(line)
		for errors.Is(err, bufio.ErrBufferFull) {
			if drained > maxDrain {
				return "", errLineFlood
			}
			line, err = br.ReadSlice('\n')
			drained += len(line)
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
	if bytes.IndexByte(line, 0) >= 0 {
		return "", errNUL
	}
	return string(line), nil
}

// hasLine reports whether a whole further line is buffered: then replies
// may stay in the write buffer, since the next read will not block
// (RFC 2449 section 6.6 PIPELINING).
func hasLine(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// parseCommand splits a line into its keyword, upper-cased, and the rest
// (RFC 1939 section 3: a keyword, then arguments separated by single
// spaces). The rest is kept whole, since a password may contain spaces.
func parseCommand(line string) (cmd, rest string) {
	cmd, rest, _ = strings.Cut(line, " ")
	return strings.ToUpper(cmd), rest
}

// args splits the arguments of a command; RFC 2449 section 4 allows at
// most 40 characters per argument.
func args(rest string) ([]string, bool) {
	if rest == "" {
		return nil, true
	}
	out := strings.Split(rest, " ")
	for _, a := range out {
		if a == "" || len(a) > 40 {
			return nil, false
		}
	}
	return out, true
}

// parseNumber parses a decimal argument: digits only, no sign, no spaces.
func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// deadlineConn renews the write deadline before every write, so that a
// client that stops reading (a full TCP window) fails the write after
// Options.WriteTimeout instead of holding the session and its buffers.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.Conn.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.Conn.Write(p)
}

// copyBufs holds the buffers RETR copies through, so that idle sessions
// hold none.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// lineLimiter passes through the first n lines of r (each ending in LF) and
// then reports EOF: TOP's "n lines of the body" (RFC 1939 section 7).
type lineLimiter struct {
	r io.Reader
	n int64 // lines still to pass
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	k, err := l.r.Read(p)
	for i := 0; i < k; i++ {
		if p[i] == '\n' {
			if l.n--; l.n == 0 {
				return i + 1, nil
			}
		}
	}
	return k, err
}

func itoa(n int) string     { return strconv.Itoa(n) }
func i64toa(n int64) string { return strconv.FormatInt(n, 10) }

// dotWriter byte-stuffs a multi-line reply (RFC 1939 section 3): a line
// that begins with "." gets another, bare LF becomes CRLF, and Close ends
// the reply with ".\r\n" (after a CRLF if the text did not end with one).
// Its output is byte for byte that of net/textproto's DotWriter, which
// FuzzDotWriter checks; it exists because DotWriter handles one byte per
// call (bufio.WriteByte), which cost two thirds of the server's CPU in
// BenchmarkRETR10k50KB. This one copies whole line runs, and leaves the
// flushing to the session, so that pipelined replies share packets.
type dotWriter struct {
	w     *bufio.Writer
	state uint8
}

// The states of textproto's DotWriter.
const (
	dotBegin     = iota // nothing written yet
	dotBeginLine        // just after LF
	dotData             // inside a line
	dotCR               // just after a CR seen in dotData
)

func (d *dotWriter) Write(b []byte) (int, error) {
	n := 0
	var err error
	for n < len(b) && err == nil {
		switch d.state {
		case dotBegin, dotBeginLine:
			d.state = dotData
			if b[n] == '.' {
				err = d.w.WriteByte('.')
			}
		case dotData:
			var k int
			k, d.state = dataRun(b[n:])
			_, err = d.w.Write(b[n : n+k])
			if k == 0 {
				// A bare LF: DotWriter adds the CR.
				_, err = d.w.WriteString("\r\n")
				k = 1
			}
			n += k
		case dotCR:
			// Whatever follows a CR is written as it is; only LF ends
			// the line.
			d.state = dotData
			if b[n] == '\n' {
				d.state = dotBeginLine
			}
			err = d.w.WriteByte(b[n])
			n++
		}
	}
	return n, err
}

// dataRun measures the run at the start of b (in the data state) that
// passes unchanged: whole CRLF lines as long as the next one does not start
// with ".", up to and including the CR or CRLF where that stops. It
// returns the run's length and the state after it; a length of 0 means b
// starts with a bare LF.
func dataRun(b []byte) (int, uint8) {
	end := 0
	for {
		seg := b[end:]
		cr := bytes.IndexByte(seg, '\r')
		lim := len(seg)
		if cr >= 0 {
			lim = cr
		}
		if lf := bytes.IndexByte(seg[:lim], '\n'); lf >= 0 {
			if end+lf == 0 {
				return 0, dotBeginLine
			}
			return end + lf, dotData // stop before the bare LF
		}
		switch {
		case cr < 0:
			return len(b), dotData
		case cr+1 == len(seg) || seg[cr+1] != '\n':
			return end + cr + 1, dotCR
		case cr+2 < len(seg) && seg[cr+2] != '.':
			end += cr + 2 // a CRLF line; the next one needs no stuffing
		default:
			return end + cr + 2, dotBeginLine
		}
	}
}

// Close writes the end of the reply; the session flushes.
func (d *dotWriter) Close() error {
	end := ".\r\n"
	switch d.state {
	case dotBegin, dotData:
		end = "\r\n.\r\n"
	case dotCR:
		end = "\n.\r\n"
	}
	_, err := d.w.WriteString(end)
	return err
}
