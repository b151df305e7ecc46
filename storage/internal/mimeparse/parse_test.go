package mimeparse

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// crlf writes test messages readably: every LF becomes CRLF, as stored.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// want describes a part; zero fields are not checked, except body and kids,
// which always are, and the line count, always checked against the body.
type want struct {
	typ    string            // "type/subtype"
	params map[string]string // compared whole when non-nil
	enc    string
	disp   string
	dparam map[string]string
	header string // the header slice must start with this
	body   string // the body slice must equal this
	lines  int64  // when not 0, also checked against the body's line count
	kids   []want
	msg    *want // the enclosed message of message/rfc822
}

// countLines counts lines the obvious way, to check the streaming count.
func countLines(s string) int64 {
	n := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		n++
	}
	return int64(n)
}

func checkPart(t *testing.T, raw string, p *Part, w want, path string) {
	t.Helper()
	if p == nil {
		t.Fatalf("%s: nil part", path)
	}
	if w.typ != "" && p.Type+"/"+p.Subtype != w.typ {
		t.Errorf("%s: type %s/%s, want %s", path, p.Type, p.Subtype, w.typ)
	}
	if w.params != nil && !maps.Equal(p.Params, w.params) {
		t.Errorf("%s: params %q, want %q", path, p.Params, w.params)
	}
	if w.enc != "" && p.Encoding != w.enc {
		t.Errorf("%s: encoding %q, want %q", path, p.Encoding, w.enc)
	}
	if w.disp != "" && p.Disposition != w.disp {
		t.Errorf("%s: disposition %q, want %q", path, p.Disposition, w.disp)
	}
	if w.dparam != nil && !maps.Equal(p.DispParams, w.dparam) {
		t.Errorf("%s: disposition params %q, want %q", path, p.DispParams, w.dparam)
	}
	if hdr := raw[p.HeaderStart:p.BodyStart]; !strings.HasPrefix(hdr, w.header) {
		t.Errorf("%s: header %q, want it to start with %q", path, hdr, w.header)
	}
	if body := raw[p.BodyStart:p.End]; body != w.body {
		t.Errorf("%s: body %q, want %q", path, body, w.body)
	}
	if n := countLines(w.body); p.Lines != n || w.lines != 0 && w.lines != n {
		t.Errorf("%s: %d lines, want %d (table says %d)", path, p.Lines, n, w.lines)
	}
	if len(p.Children) != len(w.kids) {
		t.Errorf("%s: %d children, want %d", path, len(p.Children), len(w.kids))
	} else {
		for i := range w.kids {
			checkPart(t, raw, p.Children[i], w.kids[i], fmt.Sprintf("%s.%d", path, i+1))
		}
	}
	switch {
	case w.msg != nil && p.Message == nil:
		t.Errorf("%s: no enclosed message", path)
	case w.msg == nil && p.Message != nil:
		t.Errorf("%s: unexpected enclosed message", path)
	case w.msg != nil:
		if p.Envelope == nil {
			t.Errorf("%s: enclosed message without envelope", path)
		}
		checkPart(t, raw, p.Message, *w.msg, path+".msg")
	}
}

// checkTree asserts the invariants every parse must keep, whatever the input.
func checkTree(t testing.TB, p *Part, size int64) int {
	t.Helper()
	if p == nil {
		t.Fatal("nil part")
	}
	if !(0 <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= size) {
		t.Fatalf("bad offsets hs=%d bs=%d end=%d size=%d", p.HeaderStart, p.BodyStart, p.End, size)
	}
	if p.Lines < 0 || p.Lines > p.End-p.BodyStart {
		t.Fatalf("bad line count %d for a body of %d bytes", p.Lines, p.End-p.BodyStart)
	}
	if p.Type == "" || p.Subtype == "" {
		t.Fatalf("empty type %q/%q", p.Type, p.Subtype)
	}
	if p.Type == "multipart" && len(p.Children) == 0 {
		t.Fatal("multipart without children")
	}
	if p.Type != "multipart" && len(p.Children) > 0 {
		t.Fatalf("%s/%s with children", p.Type, p.Subtype)
	}
	if isEnclosing(p) != (p.Message != nil) || (p.Message != nil) != (p.Envelope != nil) {
		t.Fatalf("%s/%s: message %v, envelope %v", p.Type, p.Subtype, p.Message != nil, p.Envelope != nil)
	}
	n := 1
	prev := p.BodyStart
	for _, c := range p.Children {
		if c.HeaderStart < prev || c.End > p.End {
			t.Fatalf("child [%d,%d) outside parent body [%d,%d) or overlapping its sibling ending at %d",
				c.HeaderStart, c.End, p.BodyStart, p.End, prev)
		}
		prev = c.End
		n += checkTree(t, c, size)
	}
	if m := p.Message; m != nil {
		if m.HeaderStart != p.BodyStart || m.End != p.End {
			t.Fatalf("enclosed message [%d,%d) is not the body [%d,%d)", m.HeaderStart, m.End, p.BodyStart, p.End)
		}
		n += checkTree(t, m, size)
	}
	return n
}

func TestParse(t *testing.T) {
	usascii := map[string]string{"charset": "us-ascii"}
	tests := []struct {
		name string
		raw  string
		want want
	}{{
		name: "simple text",
		raw:  crlf("From: a@example.org\nSubject: hi\n\nHello\nWorld\n"),
		want: want{typ: "text/plain", params: usascii, header: "From: a@example.org\r\n",
			body: "Hello\r\nWorld\r\n", lines: 2},
	}, {
		name: "content-type case and comments",
		raw: crlf("Content-Type: TEXT/HTML (comment); CharSet=\"UTF-8\"\n" +
			"Content-Transfer-Encoding: Quoted-Printable\n\n<p>x</p>\n"),
		want: want{typ: "text/html", params: map[string]string{"charset": "UTF-8"}, enc: "quoted-printable",
			header: "Content-Type:", body: "<p>x</p>\r\n", lines: 1},
	}, {
		name: "multipart/alternative",
		raw: crlf(`Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

plain
--alt
Content-Type: text/html; charset=utf-8

<p>html</p>
--alt--
`),
		want: want{typ: "multipart/alternative", params: map[string]string{"boundary": "alt"},
			body:  crlf("--alt\nContent-Type: text/plain; charset=utf-8\n\nplain\n--alt\nContent-Type: text/html; charset=utf-8\n\n<p>html</p>\n--alt--\n"),
			lines: 9,
			kids: []want{
				{typ: "text/plain", params: map[string]string{"charset": "utf-8"}, header: "Content-Type: text/plain", body: "plain", lines: 1},
				{typ: "text/html", header: "Content-Type: text/html", body: "<p>html</p>", lines: 1},
			}},
	}, {
		name: "multipart/mixed with attachment",
		raw: crlf(`Subject: report
Content-Type: multipart/mixed; boundary=XyZ

--XyZ

See attached.

--XyZ
Content-Type: application/pdf; name="r.pdf"
Content-Disposition: attachment; filename="r.pdf"; size=12
Content-Transfer-Encoding: base64
Content-ID: <c1@example.org>
Content-Description: the report

SGVsbG8gd29y
bGQh
--XyZ--`),
		want: want{typ: "multipart/mixed", header: "Subject: report\r\n",
			body:  crlf("--XyZ\n\nSee attached.\n\n--XyZ\nContent-Type: application/pdf; name=\"r.pdf\"\nContent-Disposition: attachment; filename=\"r.pdf\"; size=12\nContent-Transfer-Encoding: base64\nContent-ID: <c1@example.org>\nContent-Description: the report\n\nSGVsbG8gd29y\nbGQh\n--XyZ--"),
			lines: 14,
			kids: []want{
				// No Content-Type in a part: RFC 2046 5.1 default.
				{typ: "text/plain", params: usascii, body: crlf("See attached.\n"), lines: 1},
				{typ: "application/pdf", params: map[string]string{"name": "r.pdf"}, enc: "base64",
					disp: "attachment", dparam: map[string]string{"filename": "r.pdf", "size": "12"},
					header: "Content-Type: application/pdf", body: crlf("SGVsbG8gd29y\nbGQh"), lines: 2},
			}},
	}, {
		name: "nested multipart with preamble and epilogue",
		raw: crlf(`Content-Type: multipart/mixed; boundary="outer"

This is a preamble.
--outer
Content-Type: multipart/alternative; boundary="inner"

inner preamble
--inner
Content-Type: text/plain

A
--inner
Content-Type: text/html

<b>A</b>
--inner--
inner epilogue
--outer
Content-Type: image/png
Content-Transfer-Encoding: base64

iVBORw0=
--outer--
This is the epilogue.
`),
		want: want{typ: "multipart/mixed",
			body: crlf("This is a preamble.\n--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\ninner preamble\n--inner\nContent-Type: text/plain\n\nA\n--inner\nContent-Type: text/html\n\n<b>A</b>\n--inner--\ninner epilogue\n--outer\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0=\n--outer--\nThis is the epilogue.\n"),
			kids: []want{
				{typ: "multipart/alternative", header: "Content-Type: multipart/alternative",
					body: crlf("inner preamble\n--inner\nContent-Type: text/plain\n\nA\n--inner\nContent-Type: text/html\n\n<b>A</b>\n--inner--\ninner epilogue"),
					kids: []want{
						{typ: "text/plain", body: "A", lines: 1},
						{typ: "text/html", body: "<b>A</b>", lines: 1},
					}},
				{typ: "image/png", enc: "base64", body: "iVBORw0=", lines: 1},
			}},
	}, {
		name: "message/rfc822 enclosed",
		raw: crlf(`Subject: fwd
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

see below
--b
Content-Type: message/rfc822

Subject: original
From: Ann <ann@example.org>
Content-Type: multipart/alternative; boundary=c

--c

plain
--c
Content-Type: text/html

<i>html</i>
--c--

--b--
`),
		want: want{typ: "multipart/mixed",
			body: crlf("--b\nContent-Type: text/plain\n\nsee below\n--b\nContent-Type: message/rfc822\n\nSubject: original\nFrom: Ann <ann@example.org>\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nplain\n--c\nContent-Type: text/html\n\n<i>html</i>\n--c--\n\n--b--\n"),
			kids: []want{
				{typ: "text/plain", body: "see below", lines: 1},
				{typ: "message/rfc822",
					body: crlf("Subject: original\nFrom: Ann <ann@example.org>\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nplain\n--c\nContent-Type: text/html\n\n<i>html</i>\n--c--\n"),
					msg: &want{typ: "multipart/alternative", header: "Subject: original\r\n",
						body: crlf("--c\n\nplain\n--c\nContent-Type: text/html\n\n<i>html</i>\n--c--\n"),
						kids: []want{
							{typ: "text/plain", params: usascii, body: "plain", lines: 1},
							{typ: "text/html", body: "<i>html</i>", lines: 1},
						}}},
			}},
	}, {
		name: "message/global enclosed",
		raw:  crlf("Content-Type: message/global\n\nSubject: ü\n\nbody\n"),
		want: want{typ: "message/global", body: crlf("Subject: ü\n\nbody\n"), lines: 3,
			msg: &want{typ: "text/plain", header: "Subject: ü", body: "body\r\n", lines: 1}},
	}, {
		name: "bare LF",
		raw:  "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\ntwo\n--b\nContent-Type: text/html\n\n<p>\n--b--\n",
		want: want{typ: "multipart/mixed",
			body: "--b\n\none\ntwo\n--b\nContent-Type: text/html\n\n<p>\n--b--\n",
			kids: []want{
				{typ: "text/plain", body: "one\ntwo", lines: 2},
				{typ: "text/html", header: "Content-Type: text/html\n", body: "<p>", lines: 1},
			}},
	}, {
		name: "no trailing newline",
		raw:  "Subject: x\r\n\r\nline one\r\nline two",
		want: want{typ: "text/plain", body: "line one\r\nline two", lines: 2},
	}, {
		name: "no trailing newline after close delimiter",
		raw:  crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--"),
		want: want{typ: "multipart/mixed", body: crlf("--b\n\nx\n--b--"), lines: 4,
			kids: []want{{typ: "text/plain", body: "x", lines: 1}}},
	}, {
		name: "no blank line",
		raw:  "Subject: x\r\nFrom: a@b\r\nno colon here",
		want: want{typ: "text/plain", params: usascii, header: "Subject: x\r\nFrom: a@b\r\nno colon here"},
	}, {
		name: "header only, ending in a line break",
		raw:  "Subject: x\r\n",
		want: want{typ: "text/plain", header: "Subject: x\r\n"},
	}, {
		name: "empty message",
		raw:  "",
		want: want{typ: "text/plain", params: usascii},
	}, {
		name: "body only",
		raw:  "\r\nbody\r\n",
		want: want{typ: "text/plain", header: "\r\n", body: "body\r\n", lines: 1},
	}, {
		name: "NUL bytes",
		raw:  "Subject: a\x00b\r\nContent-Type: text/plain\x00\r\n\r\nbo\x00dy\r\n\x00\r\n",
		want: want{typ: "text/plain", params: usascii, body: "bo\x00dy\r\n\x00\r\n", lines: 2},
	}, {
		name: "missing close delimiter",
		raw:  crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: text/html\n\ntwo\nthree\n"),
		want: want{typ: "multipart/mixed",
			body: crlf("--b\n\none\n--b\nContent-Type: text/html\n\ntwo\nthree\n"),
			kids: []want{
				{typ: "text/plain", body: "one", lines: 1},
				{typ: "text/html", body: "two\r\nthree\r\n", lines: 2},
			}},
	}, {
		name: "outer delimiter closes inner multipart",
		raw: crlf(`Content-Type: multipart/mixed; boundary=out

--out
Content-Type: multipart/alternative; boundary=in

--in

a
--out

b
--out--
`),
		want: want{typ: "multipart/mixed",
			body: crlf("--out\nContent-Type: multipart/alternative; boundary=in\n\n--in\n\na\n--out\n\nb\n--out--\n"),
			kids: []want{
				{typ: "multipart/alternative", body: crlf("--in\n\na"), lines: 3,
					kids: []want{{typ: "text/plain", body: "a", lines: 1}}},
				{typ: "text/plain", body: "b", lines: 1},
			}},
	}, {
		name: "boundary with a prefix of the outer one and padding",
		raw:  crlf("Content-Type: multipart/mixed; boundary=\"ab\"\n\n--ab  \nContent-Type: multipart/mixed; boundary=abc\n\n--abc\t\n\nx\n--abc--\n--ab--\n"),
		want: want{typ: "multipart/mixed",
			body: crlf("--ab  \nContent-Type: multipart/mixed; boundary=abc\n\n--abc\t\n\nx\n--abc--\n--ab--\n"),
			kids: []want{{typ: "multipart/mixed", body: crlf("--abc\t\n\nx\n--abc--"), lines: 4,
				kids: []want{{typ: "text/plain", body: "x", lines: 1}}}}},
	}, {
		name: "empty parts and a part without blank line",
		raw:  crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\n--b\nContent-Type: text/html\n--b--\n"),
		want: want{typ: "multipart/mixed",
			body: crlf("--b\n--b\n\n--b\nContent-Type: text/html\n--b--\n"),
			kids: []want{
				{typ: "text/plain"},
				{typ: "text/plain", header: "\r\n"},
				{typ: "text/html", header: "Content-Type: text/html"},
			}},
	}, {
		name: "boundary parameter with trailing space",
		raw:  crlf("Content-Type: multipart/mixed; boundary=\"sp \"\n\n--sp \n\nx\n--sp--\n"),
		want: want{typ: "multipart/mixed", params: map[string]string{"boundary": "sp "},
			body: crlf("--sp \n\nx\n--sp--\n"),
			kids: []want{{typ: "text/plain", body: "x", lines: 1}}},
	}, {
		name: "8-bit headers",
		raw:  "Subject: caf\xc3\xa9\r\nContent-Type: text/plain; name=\"caf\xe9.txt\"\r\n\r\nx\r\n",
		want: want{typ: "text/plain", params: map[string]string{"name": "café.txt"}, body: "x\r\n", lines: 1},
	}, {
		name: "bad content-type",
		raw:  crlf("Content-Type: text; charset=utf-8\n\nx\n"),
		want: want{typ: "text/plain", params: usascii, body: "x\r\n", lines: 1},
	}, {
		name: "multipart without boundary",
		raw:  crlf("Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n"),
		want: want{typ: "text/plain", params: usascii, body: crlf("--b\n\nx\n--b--\n"), lines: 4},
	}, {
		name: "multipart without any delimiter",
		raw:  crlf("Content-Type: multipart/mixed; boundary=zz\n\nno parts here\n"),
		want: want{typ: "text/plain", params: usascii, body: crlf("no parts here\n"), lines: 1},
	}, {
		name: "multipart/digest default",
		raw:  crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst\n--d\nContent-Type: text/plain\n\nnote\n--d--\n"),
		want: want{typ: "multipart/digest",
			body: crlf("--d\n\nSubject: one\n\nfirst\n--d\nContent-Type: text/plain\n\nnote\n--d--\n"),
			kids: []want{
				{typ: "message/rfc822", body: crlf("Subject: one\n\nfirst"), lines: 3,
					msg: &want{typ: "text/plain", header: "Subject: one", body: "first", lines: 1}},
				{typ: "text/plain", body: "note", lines: 1},
			}},
	}, {
		name: "encoded message/rfc822 is opaque",
		raw:  crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp4\n"),
		want: want{typ: "application/octet-stream", enc: "base64", body: crlf("U3ViamVjdDogeA0KDQp4\n"), lines: 1},
	}, {
		name: "empty message/rfc822 part",
		raw:  crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n--b--\n"),
		want: want{typ: "multipart/mixed",
			body: crlf("--b\nContent-Type: message/rfc822\n\n--b--\n"),
			kids: []want{{typ: "message/rfc822", msg: &want{typ: "text/plain"}}}},
	}, {
		name: "RFC 2231 parameters",
		raw: crlf(`Content-Type: application/octet-stream;
 name*0*=utf-8''%E2%82%AC%20;
 name*1*=rates;
 name*2=".txt";
 title*=iso-8859-1'en'%A3%20rates;
 odd*=x-unknown-charset''%41;
 gap*0=a; gap*2=c;
 name=fallback.txt
Content-Disposition: ATTACHMENT; FileName*="utf-8''%C3%A9t%C3%A9.pdf"; filename="ete.pdf"

x
`),
		want: want{typ: "application/octet-stream",
			params: map[string]string{"name": "€ rates.txt", "title": "£ rates",
				"odd": "x-unknown-charset''%41", "gap": "a"},
			disp: "attachment", dparam: map[string]string{"filename": "été.pdf"},
			body: "x\r\n", lines: 1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, env := Parse(strings.NewReader(tt.raw), int64(len(tt.raw)))
			if env == nil {
				t.Fatal("nil envelope")
			}
			checkTree(t, p, int64(len(tt.raw)))
			checkBytes(t, tt.raw, p)
			checkStrings(t, p, env)
			if p.HeaderStart != 0 {
				t.Errorf("message header starts at %d", p.HeaderStart)
			}
			checkPart(t, tt.raw, p, tt.want, "msg")
		})
	}
}

func TestParseEnvelopeOfEnclosed(t *testing.T) {
	raw := crlf("Subject: outer\nFrom: a@example.org\nContent-Type: message/rfc822\n\n" +
		"Subject: =?iso-8859-1?q?inner_=E9?=\nFrom: Bob <bob@example.net>\nMessage-ID: <1@x>\n\nhi\n")
	p, env := Parse(strings.NewReader(raw), int64(len(raw)))
	if env.Subject != "outer" || p.Envelope == nil || p.Envelope.Subject != "inner é" ||
		p.Envelope.MessageID != "1@x" || p.Envelope.From[0].Mailbox != "bob" {
		t.Errorf("outer %+v, inner %+v", env, p.Envelope)
	}
}

// TestParseLimits feeds hostile structures: parsing must stay bounded and
// still describe the whole message.
func TestParseLimits(t *testing.T) {
	t.Run("depth", func(t *testing.T) {
		var b strings.Builder
		for i := range 200 {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("\r\ndeep\r\n")
		raw := b.String()
		p, _ := Parse(strings.NewReader(raw), int64(len(raw)))
		checkTree(t, p, int64(len(raw)))
		depth := 0
		for q := p; len(q.Children) > 0; q = q.Children[0] {
			depth++
			if q.End != int64(len(raw)) {
				t.Fatalf("level %d ends at %d, not at the end %d", depth, q.End, len(raw))
			}
		}
		if depth != MaxDepth {
			t.Errorf("depth %d, want %d", depth, MaxDepth)
		}
	})
	t.Run("message depth", func(t *testing.T) {
		raw := strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 200) + "x\r\n"
		p, _ := Parse(strings.NewReader(raw), int64(len(raw)))
		checkTree(t, p, int64(len(raw)))
	})
	t.Run("parts", func(t *testing.T) {
		raw := "Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
			strings.Repeat("--b\r\n\r\nx\r\n", 3*MaxParts) + "--b--\r\n"
		p, _ := Parse(strings.NewReader(raw), int64(len(raw)))
		if n := checkTree(t, p, int64(len(raw))); n != MaxParts {
			t.Errorf("%d parts, want %d", n, MaxParts)
		}
		if p.End != int64(len(raw)) {
			t.Errorf("multipart ends at %d, want %d", p.End, len(raw))
		}
	})
}

func TestPartSize(t *testing.T) {
	p := &Part{BodyStart: 10, End: 25}
	if p.Size() != 15 {
		t.Errorf("Size() = %d", p.Size())
	}
}

func TestParseContentFields(t *testing.T) {
	raw := crlf("Content-Type: text/plain\nContent-ID: <part1@example.org>\n" +
		"Content-Description: Caf\xe9 =?utf-8?q?menu?=\nContent-Language: en (English), de-CH\n" +
		"Content-Location: http://example.org/a\n  /b.txt\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n" +
		"Content-Transfer-Encoding: 7BIT (the default)\nContent-Disposition: inline (comment)\n\nx\n")
	p, _ := Parse(strings.NewReader(raw), int64(len(raw)))
	want := &Part{Type: "text", Subtype: "plain", ID: "<part1@example.org>",
		Description: "Café =?utf-8?q?menu?=", Language: []string{"en", "de-CH"},
		Location: "http://example.org/a/b.txt", MD5: "Q2hlY2sgSW50ZWdyaXR5IQ==",
		Disposition: "inline", HeaderStart: 0, BodyStart: int64(len(raw) - 3), End: int64(len(raw)), Lines: 1}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got\n  %+v\nwant\n  %+v", p, want)
	}
}

// TestParseLongLines puts line breaks, delimiters and blank lines around the
// read buffer's edges, where a line arrives in pieces.
func TestParseLongLines(t *testing.T) {
	for _, n := range []int{bufSize - 3, bufSize - 2, bufSize - 1, bufSize, bufSize + 1, 2*bufSize - 1, 2 * bufSize} {
		for _, eol := range []string{"\r\n", "\n"} {
			long := strings.Repeat("x", n)
			raw := "Subject: " + long + eol + "Content-Type: multipart/mixed; boundary=b" + eol + eol +
				long + eol + "--b" + eol + "X-Long: " + long + eol + eol + long + eol + long + eol +
				"--b" + eol + eol + eol + "--b--" + eol + long
			p, env := Parse(strings.NewReader(raw), int64(len(raw)))
			checkTree(t, p, int64(len(raw)))
			checkBytes(t, raw, p)
			// A kept field stops at its cap (the value's leading space counts).
			if len(p.Children) != 2 || env.Subject != long[:fieldCap(fSubject)-1] {
				t.Fatalf("n=%d: %d children, subject of %d bytes", n, len(p.Children), len(env.Subject))
			}
			if body := raw[p.Children[0].BodyStart:p.Children[0].End]; body != long+eol+long {
				t.Errorf("n=%d eol=%q: first part body of %d bytes", n, eol, len(body))
			}
			if c := p.Children[1]; c.BodyStart != c.End || c.HeaderStart+int64(len(eol)) != c.BodyStart {
				t.Errorf("n=%d eol=%q: second part %+v", n, eol, c)
			}
		}
	}
}

type failingReader struct {
	r     io.ReaderAt
	after int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.after {
		return 0, errors.New("disk on fire")
	}
	if int64(len(p)) > f.after-off {
		n, _ := f.r.ReadAt(p[:f.after-off], off)
		return n, errors.New("disk on fire")
	}
	return f.r.ReadAt(p, off)
}

func TestParseReadError(t *testing.T) {
	raw := crlf("Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n")
	for after := int64(0); after <= int64(len(raw)); after++ {
		p, env := Parse(failingReader{strings.NewReader(raw), after}, int64(len(raw)))
		if env == nil {
			t.Fatal("nil envelope")
		}
		checkTree(t, p, after)
	}
}

func TestReadHeaderLimit(t *testing.T) {
	// B crosses the limit: ReadHeader stops after the last whole line before it.
	raw := "A: " + strings.Repeat("a", MaxHeaderRead-10) + "\r\nB: b\r\nC: c\r\n\r\n"
	p, _ := Parse(strings.NewReader(raw), int64(len(raw)))
	fields, err := ReadHeader(strings.NewReader(raw), p)
	if err != nil || len(fields) != 1 || fields[0].Name != "A" || len(fields[0].Raw) != MaxHeaderRead-5 {
		t.Errorf("%d fields, %v", len(fields), err)
	}
}
