package imapmsg

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// crlf turns the "\n" of a readable Go literal into the stored "\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// The corpus: MIME shapes every rendering test runs on. Written with "\n"
// for readability; stored (and compared) with CRLF.
var corpus = map[string]string{
	"simple": `From: Alice Example <alice@example.org>
To: bob@example.org
Subject: Hello
 folded
Date: Thu, 26 Nov 2026 10:00:00 +0100
Message-ID: <simple@example.org>

Line one
Line two
`,
	"nested": `From: a@example.org
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary=inner

` + nestedAlternative + `
--outer
Content-Type: message/rfc822
Content-Description: forwarded

` + nestedInner + `
--outer
Content-Type: image/png; name="x.png"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="x.png"
Content-Language: en, de
Content-Location: http://example.org/x.png
Content-ID: <x@example.org>

iVBORw0KGgo=
--outer--
epilogue
`,
	// No line break after the last line.
	"notrail": "Subject: no trailing line break\n\nlast line",
	// A header that ends the message: no blank line, no body.
	"headeronly": "Subject: only a header",
	// The top-level type is itself a message.
	"forward": `Subject: outer
Content-Type: message/rfc822

Subject: inner
From: x@example.org

inner body
`,
	// Broken MIME: the boundary never appears, and a part's encoding is
	// unknown.
	"noboundary": `Subject: broken
Content-Type: multipart/mixed; boundary=nothere

just text
`,
	"unknowncte": `Subject: uu
Content-Type: application/octet-stream
Content-Transfer-Encoding: x-uuencode

begin 644 x
`,
	// A part whose header runs into the next delimiter: no blank line,
	// no body.
	"emptypart": `Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain
--b
X-Note: second

two
--b--
`,
	// A multipart whose close delimiter is missing.
	"unclosed": `Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

first
--b
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: base64

SGVsbG8g5OTk
`,
}

// The bodies of parts 1 and 2 of "nested".
const nestedAlternative = `--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe, caf=C3=A9 soft=
break
--inner
Content-Type: text/html; charset=utf-8

<p>Hi</p>
--inner--`

const nestedInner = `From: "Carol C." <c@example.org>
Subject: inner message
Content-Type: multipart/mixed; boundary=deep

--deep
Content-Type: text/plain

deep text
--deep
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQ=
--deep--`

// deepMessage nests n multiparts, a text part at the bottom (\n line
// breaks, like the corpus).
func deepMessage(n int) string {
	var b strings.Builder
	b.WriteString("Subject: deep\n")
	for i := range n {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\n\n--b" + strconv.Itoa(i) + "\n")
	}
	b.WriteString("Content-Type: text/plain\n\nbottom\n")
	for i := n - 1; i >= 0; i-- {
		b.WriteString("--b" + strconv.Itoa(i) + "--\n")
	}
	return b.String()
}

// stored is one message appended to a real store.
type stored struct {
	msg  storage.Message
	obj  storage.Object
	body *storage.Body
}

// fixture is a real store with one account.
type fixture struct {
	t    testing.TB
	st   *storage.Store
	acct storage.Account
	mbox storage.MailboxID
}

func newFixture(t testing.TB) *fixture {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "alice@example.test")
	mb, err := st.Mailbox(a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, acct: a, mbox: mb.ID}
}

// add appends raw (with "\n" turned into CRLF) with flags and date.
func (f *fixture) add(raw string, flags storage.Flags, kw []string, date time.Time) stored {
	f.t.Helper()
	d, err := f.st.Append(context.Background(), f.acct.ID, "INBOX", flags, kw, date, strings.NewReader(crlf(raw)))
	if err != nil {
		f.t.Fatalf("append: %v", err)
	}
	m, err := f.st.Message(f.acct.ID, f.mbox, d.UID)
	if err != nil {
		f.t.Fatal(err)
	}
	o, err := f.st.Object(m.Object)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := f.st.OpenBody(m.Object)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { b.Close() })
	return stored{m, o, b}
}

// candidates lists the mailbox as Search wants it.
func (f *fixture) candidates() []Candidate {
	f.t.Helper()
	ms, err := f.st.Messages(f.acct.ID, f.mbox)
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]Candidate, len(ms))
	for i, m := range ms {
		out[i] = Candidate{SeqNum: uint32(i + 1), Message: m}
	}
	return out
}

// parseSection reads a section spec as written in FETCH, without "BODY":
// "1.2.HEADER.FIELDS (From To)<0.10>".
func parseSection(t testing.TB, spec string) *imap.FetchItemBodySection {
	t.Helper()
	item := &imap.FetchItemBodySection{}
	if i := strings.IndexByte(spec, '<'); i >= 0 {
		o, n, _ := strings.Cut(strings.Trim(spec[i:], "<>"), ".")
		off, err1 := strconv.ParseInt(o, 10, 64)
		size, err2 := strconv.ParseInt(n, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad partial in %q", spec)
		}
		item.Partial = &imap.SectionPartial{Offset: off, Size: size}
		spec = spec[:i]
	}
	var list []string
	if i := strings.IndexByte(spec, '('); i >= 0 {
		list = strings.Fields(strings.Trim(spec[i:], "()"))
		spec = strings.TrimSpace(spec[:i])
	}
	for spec != "" {
		head, rest, _ := strings.Cut(spec, ".")
		n, err := strconv.Atoi(head)
		if err != nil {
			break
		}
		item.Part = append(item.Part, n)
		spec = rest
	}
	switch strings.ToUpper(spec) {
	case "":
	case "HEADER":
		item.Specifier = imap.PartSpecifierHeader
	case "HEADER.FIELDS":
		item.Specifier, item.HeaderFields = imap.PartSpecifierHeader, list
	case "HEADER.FIELDS.NOT":
		item.Specifier, item.HeaderFieldsNot = imap.PartSpecifierHeader, list
	case "TEXT":
		item.Specifier = imap.PartSpecifierText
	case "MIME":
		item.Specifier = imap.PartSpecifierMIME
	default:
		t.Fatalf("bad section %q", spec)
	}
	return item
}

// parts reads "1.2.3" as a part path.
func parts(t testing.TB, s string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Split(s, ".") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad part %q", s)
		}
		out = append(out, n)
	}
	return out
}

// readExact reads r and checks it gives exactly n bytes.
func readExact(t testing.TB, r io.Reader, n int64) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read section: %v", err)
	}
	if int64(len(b)) != n {
		t.Fatalf("section announced %d bytes, gave %d", n, len(b))
	}
	return string(b)
}
