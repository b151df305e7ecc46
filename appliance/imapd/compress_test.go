package imapd

import (
	"bufio"
	"compress/flate"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCompressZlibClients: COMPRESS=DEFLATE (RFC 4978) with real zlib on
// the client side (Python's zlib module), flushing each command the two
// ways zlib clients do: Z_SYNC_FLUSH (an empty stored block) and
// Z_PARTIAL_FLUSH (an empty fixed-Huffman block, as mbsync does). With
// Go's compress/flate as the server's reader a partially flushed command
// was never handed to the parser and the session stalled; the client's
// socket timeout turns such a stall into a failure here.
func TestCompressZlibClients(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newEnv(t, nil)
	for i := 1; i <= 3; i++ {
		e.deliver(e.alice, "", testMessage(i))
	}
	host, port, _ := net.SplitHostPort(e.addr)
	script := `
import socket, sys, zlib
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
flush = {'partial': zlib.Z_PARTIAL_FLUSH, 'sync': zlib.Z_SYNC_FLUSH}[mode]
s = socket.create_connection((host, port), timeout=20)
buf = b''
def readline(recv):
    global buf
    while b'\r\n' not in buf:
        d = recv()
        if not d:
            raise SystemExit('connection closed; have %r' % buf)
        buf += d
    line, buf = buf.split(b'\r\n', 1)
    return line
def until(tag, recv):
    lines = []
    while True:
        l = readline(recv)
        lines.append(l)
        if l.startswith(tag + b' '):
            return lines
plain = lambda: s.recv(4096)
assert readline(plain).startswith(b'* OK')
s.sendall(b'a LOGIN alice@example.test password-alice@example.test\r\n')
caps = until(b'a', plain)[-1]
assert b'COMPRESS=DEFLATE' in caps, caps
s.sendall(b'b COMPRESS DEFLATE\r\n')
assert until(b'b', plain)[-1].startswith(b'b OK'), 'COMPRESS refused'
assert buf == b'', buf
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
decomp = zlib.decompressobj(-15)
def zrecv():
    while True:
        raw = s.recv(4096)
        if not raw:
            return b''
        d = decomp.decompress(raw)
        if d:
            return d
def cmd(tag, text):
    s.sendall(comp.compress(tag + b' ' + text + b'\r\n') + comp.flush(flush))
    lines = until(tag, zrecv)
    assert lines[-1].startswith(tag + b' OK'), lines
    return lines
lines = cmd(b'c', b'SELECT INBOX')
assert b'* 3 EXISTS' in lines, lines
for i in range(20):
    lines = cmd(b'f%d' % i, b'FETCH 1:3 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    assert any(b'Subject: test 3' in l for l in lines), lines
lines = cmd(b'n', b'NOOP')
lines = cmd(b'x', b'LOGOUT')
assert lines[0].startswith(b'* BYE'), lines
print('zlib', mode, 'ok')
`
	for _, mode := range []string{"sync", "partial"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, py, "-c", script, host, port, mode).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "zlib "+mode+" ok") {
				t.Fatalf("python zlib client (%s flush): %v\n%s", mode, err, out)
			}
		})
	}
}

// BenchmarkIdleCompressed50 opens 50 connections that log in, turn on
// COMPRESS DEFLATE, select INBOX and IDLE, and reports the heap they add
// (the test clients' inflaters and deflaters included, so an upper
// bound): a session holds a compressor only while it writes.
func BenchmarkIdleCompressed50(b *testing.B) {
	e := newEnv(b, nil)
	e.deliver(e.alice, "", testMessage(1))
	const n = 50
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		conns := make([]*rawConn, n)
		for j := range conns {
			rc := e.rawLogin(alice)
			rc.do(step{send: "c COMPRESS DEFLATE", want: []string{`^c OK`}})
			fw, _ := flate.NewWriter(rc.c, flate.BestSpeed)
			f := &flateConn{w: fw, r: bufio.NewReader(flate.NewReader(rc.r))}
			f.do(b, "s SELECT INBOX", "s")
			io.WriteString(fw, "i IDLE\r\n")
			fw.Flush()
			if l, err := f.r.ReadString('\n'); err != nil || l[0] != '+' {
				b.Fatalf("IDLE: %q %v", l, err)
			}
			conns[j] = rc
		}
		after := heapInUse()
		extra := float64(after) - float64(before)
		b.ReportMetric(extra/(1<<20), "MiB-extra")
		b.ReportMetric(extra/n/1024, "KiB/conn")
		for _, rc := range conns {
			rc.c.Close()
		}
	}
}
