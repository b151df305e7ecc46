package smtpd

import (
	"io"
	"strings"
	"testing"
)

// TestHeloControlCharacters: a HELO/EHLO argument with a NUL or another
// control character is refused with 501 5.5.2 and never echoed; the client
// may greet again properly. A repeated greeting with one (where go-smtp
// would echo it after Reset) gets the same 501 and the connection ends.
func TestHeloControlCharacters(t *testing.T) {
	e := newEnv(t, nil)
	for _, bad := range []string{"EHLO a\x00b", "HELO a\x00b", "EHLO x\x1b[2Jy", "EHLO x\x7f", "HELO \x01"} {
		c := e.dial()
		c.run([]step{{expect: "220 "}})
		c.run([]step{{send: bad, expect: "501 5.5.2 "}})
		c.run([]step{{send: "MAIL FROM:<a@client.test>", expect: "502 "}}) // not greeted
		c.run([]step{{send: "EHLO client.test", expect: "250 "}})
	}

	c := e.dial()
	c.run([]step{{expect: "220 "}, {send: "EHLO client.test", expect: "250 "}})
	io.WriteString(c.conn, "EHLO again\x00evil\r\n")
	rest, _ := io.ReadAll(c.r) // until the server hangs up (the dial deadline bounds it)
	if !strings.HasPrefix(string(rest), "501 5.5.2 ") {
		t.Errorf("repeated EHLO with a NUL: got %q, want 501 5.5.2 and a hang-up", rest)
	}

	out := e.logs.String()
	if !strings.Contains(out, "control characters") {
		t.Error("the refusal is not logged")
	}
}

// TestHeloRepliesHaveNoControlBytes reads every byte the server sends for
// bad greetings and finds no control byte but CR and LF.
func TestHeloRepliesHaveNoControlBytes(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	io.WriteString(c.conn, "EHLO a\x00b\r\nHELO c\x07d\r\nEHLO ok.test\r\nEHLO e\x00f\r\n")
	all, _ := io.ReadAll(c.r)
	for i, b := range all {
		if (b < 0x20 && b != '\r' && b != '\n') || b == 0x7f {
			t.Fatalf("control byte %#x at %d in %q", b, i, all)
		}
	}
	if n := strings.Count(string(all), "501 5.5.2"); n != 3 {
		t.Errorf("%d refusals in %q, want 3", n, all)
	}
}
