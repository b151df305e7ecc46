package mimeparse

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// synth is a message made of a head, a line repeated n times and a tail,
// produced on demand so that a test never holds it whole.
type synth struct {
	head, line, tail string
	n                int64
}

func (s *synth) size() int64 {
	return int64(len(s.head)) + s.n*int64(len(s.line)) + int64(len(s.tail))
}

func (s *synth) ReadAt(p []byte, off int64) (int, error) {
	size := s.size()
	mid := int64(len(s.head)) + s.n*int64(len(s.line))
	n := 0
	for n < len(p) && off < size {
		var c int
		switch {
		case off < int64(len(s.head)):
			c = copy(p[n:], s.head[off:])
		case off < mid:
			c = copy(p[n:], s.line[(off-int64(len(s.head)))%int64(len(s.line)):])
		default:
			c = copy(p[n:], s.tail[off-mid:])
		}
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestParseLargeBoundedMemory parses ~40 MB messages and checks that what
// Parse allocates stays far below their size.
func TestParseLargeBoundedMemory(t *testing.T) {
	const target = 40 << 20
	b64 := strings.Repeat("QUJD", 19) + "\r\n" // a 78-byte base64 line
	tests := []struct {
		name  string
		msg   *synth
		check func(t *testing.T, p *Part, env *Envelope, m *synth)
	}{{
		name: "attachment",
		msg: &synth{
			head: crlf("From: a@example.org\nSubject: big\nContent-Type: multipart/mixed; boundary=\"==b==\"\n\n" +
				"--==b==\nContent-Type: text/plain\n\nsee attachment\n--==b==\n" +
				"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"),
			line: b64,
			n:    target / int64(len(b64)),
			tail: "--==b==--\r\n",
		},
		check: func(t *testing.T, p *Part, env *Envelope, m *synth) {
			if env.Subject != "big" || len(p.Children) != 2 {
				t.Fatalf("subject %q, %d children", env.Subject, len(p.Children))
			}
			att := p.Children[1]
			if att.BodyStart != int64(len(m.head)) || att.End != m.size()-int64(len(m.tail))-2 || att.Lines != m.n {
				t.Errorf("attachment body [%d,%d) with %d lines, want [%d,%d) with %d",
					att.BodyStart, att.End, att.Lines, len(m.head), m.size()-int64(len(m.tail))-2, m.n)
			}
		},
	}, {
		name: "one long line",
		msg:  &synth{head: "Subject: x\r\n\r\n", line: "0123456789abcdef", n: target / 16},
		check: func(t *testing.T, p *Part, env *Envelope, m *synth) {
			if p.End != m.size() || p.Lines != 1 {
				t.Errorf("body ends at %d with %d lines", p.End, p.Lines)
			}
		},
	}, {
		name: "huge header field",
		msg:  &synth{head: "To: ", line: "a@example.org, ", n: target / 15, tail: "\r\n\r\nbody\r\n"},
		check: func(t *testing.T, p *Part, env *Envelope, m *synth) {
			if p.BodyStart != m.size()-6 || len(env.To) == 0 {
				t.Errorf("body starts at %d, %d recipients", p.BodyStart, len(env.To))
			}
		},
	}, {
		name: "many lines like delimiters",
		msg: &synth{
			head: "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n",
			line: "--bb\r\n-- b\r\n--\r\n", n: target / 16,
			tail: "--b--\r\n",
		},
		check: func(t *testing.T, p *Part, env *Envelope, m *synth) {
			if len(p.Children) != 1 || p.Children[0].Lines != 3*m.n {
				t.Errorf("%d children", len(p.Children))
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.msg.size()
			if size < target-1<<20 {
				t.Fatalf("synthetic message is only %d bytes", size)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			p, env := Parse(tt.msg, size)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte message: %d bytes allocated", size, alloc)
			if alloc > 256<<10 {
				t.Errorf("parsing a %d-byte message allocated %d bytes", size, alloc)
			}
			if p.End != size {
				t.Errorf("message ends at %d, want %d", p.End, size)
			}
			tt.check(t, p, env, tt.msg)
		})
	}
}

// checkStrings asserts what the IMAP layer and the JSON cache rely on: text
// is UTF-8, the envelope carries no NUL, and an address without host is a
// group marker (RFC 9051 7.5.2).
func checkStrings(t testing.TB, p *Part, env *Envelope) {
	t.Helper()
	text := func(what, s string) {
		if !utf8.ValidString(s) {
			t.Fatalf("%s %q is not UTF-8", what, s)
		}
	}
	if env != nil {
		for _, s := range append([]string{env.Date, env.Subject, env.MessageID}, env.InReplyTo...) {
			text("envelope", s)
			if strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("NUL in envelope string %q", s)
			}
		}
		for _, l := range [][]Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
			for _, a := range l {
				text("address", a.Name+a.Mailbox+a.Host)
				if strings.IndexByte(a.Name+a.Mailbox+a.Host, 0) >= 0 {
					t.Fatalf("NUL in address %q", a)
				}
				if a.Host == "" && a.Name != "" {
					t.Fatalf("address %q would read as a group marker", a)
				}
			}
		}
	}
	for k, v := range p.Params {
		text("parameter", k+v)
	}
	for k, v := range p.DispParams {
		text("disposition parameter", k+v)
	}
	text("part field", p.Type+p.Subtype+p.ID+p.Description+p.Encoding+p.Disposition+p.Location+p.MD5)
	for _, c := range p.Children {
		checkStrings(t, c, nil)
	}
	if p.Message != nil {
		checkStrings(t, p.Message, p.Envelope)
	}
}

// checkBytes asserts, for every part, that the line count matches the body
// and that ReadHeader's fields rebuild the header.
func checkBytes(t testing.TB, raw string, p *Part) {
	t.Helper()
	if n := countLines(raw[p.BodyStart:p.End]); p.Lines != n {
		t.Fatalf("part [%d,%d): %d lines, body has %d", p.BodyStart, p.End, p.Lines, n)
	}
	fields, err := ReadHeader(strings.NewReader(raw), p)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.Raw)
	}
	hdr := raw[p.HeaderStart:p.BodyStart]
	if rest, ok := strings.CutPrefix(hdr, b.String()); !ok || rest != "" && rest != "\r\n" && rest != "\n" {
		t.Fatalf("header %q, fields rebuild %q", hdr, b.String())
	}
	for _, c := range p.Children {
		checkBytes(t, raw, c)
	}
	if p.Message != nil {
		checkBytes(t, raw, p.Message)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"Subject: x\r\n\r\nbody\r\n",
		"Subject: x\nFrom: a@b",
		crlf("Content-Type: multipart/mixed; boundary=b\n\npre\n--b\n\none\n--b\nContent-Type: text/html\n\n<p>\n--b--\nepi\n"),
		crlf("Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\na\n--o\n\nb\n"),
		crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst\n--d--"),
		crlf("Content-Type: message/rfc822\n\nFrom: \"A\" <a@b>, Team: c@d;\nTo: =?utf-8?q?x?= <x@y>\nContent-Type: multipart/mixed; boundary=z\n\n--z\n--z--\n"),
		crlf("Content-Type: text/plain; name*0*=utf-8''%E2%82%AC; name*1=x; title*=iso-8859-1'en'%A3\n\nx"),
		"Subject: caf\xe9\x00\r\nTo: <@r:a@b>, (c) \"q\\\"\" d@e\r\n\r\n",
		crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\n--b\nContent-Type: message/rfc822\n--b--\n"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := string(data)
		p, env := Parse(strings.NewReader(raw), int64(len(raw)))
		if env == nil {
			t.Fatal("nil envelope")
		}
		if p.HeaderStart != 0 || p.End != int64(len(raw)) {
			t.Fatalf("message spans [%d,%d) of %d bytes", p.HeaderStart, p.End, len(raw))
		}
		if n := checkTree(t, p, int64(len(raw))); n > MaxParts+1 {
			t.Fatalf("%d parts", n)
		}
		checkBytes(t, raw, p)
		checkStrings(t, p, env)
		// The structure is cached as JSON: it must come back the same.
		j, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Part
		if err := json.Unmarshal(j, &back); err != nil {
			t.Fatal(err)
		}
		if j2, _ := json.Marshal(&back); string(j2) != string(j) {
			t.Fatalf("JSON round trip changed the structure:\n%s\n%s", j, j2)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	var text strings.Builder
	text.WriteString(crlf("From: Ann <ann@example.org>\nTo: bob@example.net, carl@example.net\n" +
		"Subject: =?utf-8?q?Quarterly_r=C3=A9sum=C3=A9?=\nDate: Mon, 7 Feb 1994 21:52:25 -0800\n" +
		"Message-ID: <1234@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"))
	for text.Len() < 2<<10 {
		text.WriteString("The quick brown fox jumps over the lazy dog, again and again.\r\n")
	}

	var mp strings.Builder
	mp.WriteString(crlf("From: Ann <ann@example.org>\nTo: bob@example.net\nSubject: report\n" +
		"Content-Type: multipart/mixed; boundary=\"mixed\"\n\n--mixed\n" +
		"Content-Type: multipart/alternative; boundary=\"alt\"\n\n--alt\n" +
		"Content-Type: text/plain; charset=utf-8\n\nSee the attachment.\n--alt\n" +
		"Content-Type: text/html; charset=utf-8\n\n<p>See the attachment.</p>\n--alt--\n\n--mixed\n" +
		"Content-Type: application/pdf; name=\"report.pdf\"\n" +
		"Content-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n"))
	for mp.Len() < 100<<10 {
		mp.WriteString(strings.Repeat("QUJD", 19) + "\r\n")
	}
	mp.WriteString("--mixed--\r\n")

	for _, bm := range []struct{ name, raw string }{
		{fmt.Sprintf("text-%dB", text.Len()), text.String()},
		{fmt.Sprintf("multipart-%dKB", mp.Len()>>10), mp.String()},
	} {
		b.Run(bm.name, func(b *testing.B) {
			r := strings.NewReader(bm.raw)
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.raw)))
			for b.Loop() {
				Parse(r, int64(len(bm.raw)))
			}
		})
	}
}
