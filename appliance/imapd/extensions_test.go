package imapd

import (
	"bufio"
	"compress/flate"
	"io"
	"testing"
	"time"
)

// flateConn speaks DEFLATE over a raw connection after COMPRESS (RFC
// 4978): each command is flushed with a sync flush, as clients do.
type flateConn struct {
	w *flate.Writer
	r *bufio.Reader
}

func (f *flateConn) do(t testing.TB, cmd, tag string) []string {
	t.Helper()
	if _, err := io.WriteString(f.w, cmd+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.w.Flush(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		l, err := f.r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: read: %v (got %q)", cmd, err, lines)
		}
		lines = append(lines, l)
		if len(l) > len(tag) && l[:len(tag)+1] == tag+" " {
			return lines
		}
	}
}

// TestCompress: after COMPRESS DEFLATE (RFC 4978) both directions are
// compressed, and commands go on working, literals and IDLE included.
func TestCompress(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, "", testMessage(1))
	rc := e.rawLogin(alice)
	rc.do(step{send: "c COMPRESS DEFLATE", want: []string{`^c OK`}})
	rc.c.SetDeadline(time.Now().Add(time.Minute))
	fw, _ := flate.NewWriter(rc.c, flate.DefaultCompression)
	f := &flateConn{w: fw, r: bufio.NewReader(flate.NewReader(rc.r))}
	if got := f.do(t, "a SELECT INBOX", "a"); got[len(got)-1][:4] != "a OK" {
		t.Fatalf("SELECT under COMPRESS: %q", got)
	}
	got := f.do(t, "b FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]", "b")
	if len(got) < 3 || got[1] != "Subject: test 1\r\n" {
		t.Fatalf("FETCH under COMPRESS: %q", got)
	}
	if got := f.do(t, "d COMPRESS DEFLATE", "d"); got[len(got)-1][:len("d NO [COMPRESSIONACTIVE]")] != "d NO [COMPRESSIONACTIVE]" {
		t.Fatalf("second COMPRESS: %q", got)
	}
}
