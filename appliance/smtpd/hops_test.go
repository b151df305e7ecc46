package smtpd

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// countHops is the plain reference for hopReader: split the header off at
// the first empty line and count the lines that start with "Received:" in
// any case.
func countHops(msg []byte) int {
	n := 0
	for _, line := range strings.Split(string(msg), "\n") {
		line = strings.ReplaceAll(line, "\r", "")
		if line == "" {
			break
		}
		if len(line) >= len(receivedField) && strings.EqualFold(line[:len(receivedField)], receivedField) {
			n++
		}
	}
	return n
}

// readHops streams msg through a hopReader with the given limit, in
// chunks of one byte when oneByte, and returns what it passed on.
func readHops(msg []byte, max int, oneByte bool) ([]byte, *hopReader, error) {
	var r io.Reader = bytes.NewReader(msg)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	h := &hopReader{r: r, max: max}
	out, err := io.ReadAll(h)
	return out, h, err
}

func TestHopReader(t *testing.T) {
	received := func(n int) string {
		return strings.Repeat("Received: from a by b; Thu, 26 Nov 2026 12:00:00 +0000\r\n", n)
	}
	for _, tc := range []struct {
		name string
		msg  string
		max  int
		hops int
		loop bool
	}{
		{"none", "Subject: x\r\n\r\nbody\r\n", 3, 0, false},
		{"at the limit", received(3) + "Subject: x\r\n\r\nbody\r\n", 3, 3, false},
		{"over the limit", received(4) + "Subject: x\r\n\r\nbody\r\n", 3, 4, true},
		{"any case", "RECEIVED: a\r\nreceived: b\r\nReCeIvEd: c\r\n\r\n", 2, 3, true},
		{"folded lines count once", "Received: from a\r\n\tby b\r\nReceived: from c\r\n by d\r\n\r\n", 5, 2, false},
		{"in the body they do not count", "Subject: x\r\n\r\n" + received(10), 3, 0, false},
		{"a field that only starts alike", "Received-SPF: pass\r\nX-Received: a\r\nReceived : old syntax\r\n\r\n", 0, 0, false},
		{"bare LF lines", "Received: a\nReceived: b\n\nReceived: c\n", 1, 2, true},
		{"no body at all", received(2), 5, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				out, h, err := readHops([]byte(tc.msg), tc.max, oneByte)
				if got := errors.Is(err, errTooManyHops); got != tc.loop {
					t.Fatalf("one byte %v: err %v; want a loop %v", oneByte, err, tc.loop)
				}
				if h.hops != tc.hops {
					t.Errorf("one byte %v: %d hops; want %d", oneByte, h.hops, tc.hops)
				}
				if !tc.loop && string(out) != tc.msg {
					t.Errorf("one byte %v: the message changed on the way", oneByte)
				}
			}
		})
	}
}

// FuzzHopReader: whatever the bytes and however they are cut, hopReader
// passes them on unchanged and stops exactly when the reference count
// goes over the limit.
func FuzzHopReader(f *testing.F) {
	f.Add([]byte("Received: a\r\nSubject: b\r\n\r\nReceived: c\r\n"), uint8(0), false)
	f.Add([]byte("received:\nRECEIVED:x\n\n"), uint8(1), true)
	f.Add([]byte("\r\n\r\n"), uint8(0), true)
	f.Fuzz(func(t *testing.T, msg []byte, max uint8, oneByte bool) {
		out, h, err := readHops(msg, int(max), oneByte)
		want := countHops(msg)
		if loop := want > int(max); loop != errors.Is(err, errTooManyHops) {
			t.Fatalf("%q max %d: err %v; reference count %d", msg, max, err, want)
		}
		if err == nil {
			if !bytes.Equal(out, msg) {
				t.Fatalf("%q came out as %q", msg, out)
			}
			if h.hops != want {
				t.Fatalf("%q: %d hops; reference %d", msg, h.hops, want)
			}
		}
	})
}
