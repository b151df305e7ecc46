package imapmsg

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// bsText renders a body structure compactly, one part per line, for
// comparison with expectations written out by hand.
func bsText(bs imap.BodyStructure) string {
	var b strings.Builder
	var walk func(bs imap.BodyStructure, indent string)
	walk = func(bs imap.BodyStructure, indent string) {
		switch p := bs.(type) {
		case *imap.BodyStructureMultiPart:
			fmt.Fprintf(&b, "%smultipart/%s", indent, p.Subtype)
			if e := p.Extended; e != nil {
				fmt.Fprintf(&b, " ext%s%s%v%q", params(e.Params), disp(e.Disposition), e.Language, e.Location)
			}
			b.WriteString("\n")
			for _, c := range p.Children {
				walk(c, indent+"  ")
			}
		case *imap.BodyStructureSinglePart:
			fmt.Fprintf(&b, "%s%s/%s%s id=%q desc=%q enc=%q size=%d", indent, p.Type, p.Subtype, params(p.Params), p.ID, p.Description, p.Encoding, p.Size)
			if p.Text != nil {
				fmt.Fprintf(&b, " lines=%d", p.Text.NumLines)
			}
			if e := p.Extended; e != nil {
				fmt.Fprintf(&b, " ext%s%v%q", disp(e.Disposition), e.Language, e.Location)
			}
			b.WriteString("\n")
			if m := p.MessageRFC822; m != nil {
				fmt.Fprintf(&b, "%s  envelope subject=%q from=%v lines=%d\n", indent, m.Envelope.Subject, m.Envelope.From, m.NumLines)
				walk(m.BodyStructure, indent+"  ")
			}
		}
	}
	walk(bs, "")
	return b.String()
}

func params(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return " (" + strings.Join(kv, " ") + ")"
}

func disp(d *imap.BodyStructureDisposition) string {
	if d == nil {
		return " nodisp"
	}
	return " " + d.Value + params(d.Params)
}

func TestBodyStructure(t *testing.T) {
	msgs := corpusFixture(t)
	tests := []struct {
		msg      string
		extended bool
		want     string
	}{
		{"simple", false, `text/plain (charset=us-ascii) id="" desc="" enc="" size=20 lines=2`},
		{"simple", true, `text/plain (charset=us-ascii) id="" desc="" enc="" size=20 lines=2 ext nodisp[]""`},
		{"notrail", false, `text/plain (charset=us-ascii) id="" desc="" enc="" size=9 lines=1`},
		{"headeronly", false, `text/plain (charset=us-ascii) id="" desc="" enc="" size=0 lines=0`},
		{"nested", false, `
multipart/mixed
  multipart/alternative
    text/plain (charset=utf-8) id="" desc="" enc="quoted-printable" size=39 lines=2
    text/html (charset=utf-8) id="" desc="" enc="" size=9 lines=1
  message/rfc822 id="" desc="forwarded" enc="" size=256
    envelope subject="inner message" from=[{Carol C. c example.org}] lines=14
    multipart/mixed
      text/plain id="" desc="" enc="" size=9 lines=1
      application/octet-stream id="" desc="" enc="base64" size=8
  image/png (name=x.png) id="<x@example.org>" desc="" enc="base64" size=12`},
		{"nested", true, `
multipart/mixed ext (boundary=outer) nodisp[]""
  multipart/alternative ext (boundary=inner) nodisp[]""
    text/plain (charset=utf-8) id="" desc="" enc="quoted-printable" size=39 lines=2 ext nodisp[]""
    text/html (charset=utf-8) id="" desc="" enc="" size=9 lines=1 ext nodisp[]""
  message/rfc822 id="" desc="forwarded" enc="" size=256 ext nodisp[]""
    envelope subject="inner message" from=[{Carol C. c example.org}] lines=14
    multipart/mixed ext (boundary=deep) nodisp[]""
      text/plain id="" desc="" enc="" size=9 lines=1 ext nodisp[]""
      application/octet-stream id="" desc="" enc="base64" size=8 ext nodisp[]""
  image/png (name=x.png) id="<x@example.org>" desc="" enc="base64" size=12 ext attachment (filename=x.png)[en de]"http://example.org/x.png"`},
		{"forward", false, `
message/rfc822 id="" desc="" enc="" size=51
  envelope subject="inner" from=[{ x example.org}] lines=4
  text/plain (charset=us-ascii) id="" desc="" enc="" size=12 lines=1`},
		{"noboundary", false, `text/plain (charset=us-ascii) id="" desc="" enc="" size=11 lines=1`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.msg, tt.extended), func(t *testing.T) {
			got := strings.TrimSpace(bsText(BodyStructure(msgs[tt.msg].obj.Structure, tt.extended)))
			if want := strings.TrimSpace(tt.want); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestBodyStructureSizes checks every part's size and line count against
// the section it describes, for the whole corpus.
func TestBodyStructureSizes(t *testing.T) {
	for name, m := range corpusFixture(t) {
		BodyStructure(m.obj.Structure, true).Walk(func(path []int, bs imap.BodyStructure) bool {
			sp, ok := bs.(*imap.BodyStructureSinglePart)
			if !ok {
				return true
			}
			r, n, err := Section(m.body, m.obj.Structure, &imap.FetchItemBodySection{Part: path})
			if err != nil {
				t.Fatal(err)
			}
			body := readExact(t, r, n)
			if int(sp.Size) != len(body) {
				t.Errorf("%s %v: size %d, section has %d", name, path, sp.Size, len(body))
			}
			if sp.Text != nil {
				lines := strings.Count(body, "\n")
				if body != "" && !strings.HasSuffix(body, "\n") {
					lines++
				}
				if int(sp.Text.NumLines) != lines {
					t.Errorf("%s %v: %d lines, section has %d", name, path, sp.Text.NumLines, lines)
				}
			}
			return true
		})
	}
}

func TestEnvelope(t *testing.T) {
	f := newFixture(t)
	m := f.add(`Date: Thu, 26 Nov 2026 10:00:00 +0100 (CET)
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Bonn
From: =?iso-8859-1?q?J=F6rg?= <joerg@example.org>
Sender: sec@example.org
To: Team: a@example.org, "B, Bee" <b@example.org>;, c@example.org
In-Reply-To: <x@example.org> <y@example.org>
Message-ID: <id@example.org>

body
`, 0, nil, time.Time{})
	got := Envelope(m.obj.Envelope)
	want := &imap.Envelope{
		Date:    time.Date(2026, 11, 26, 10, 0, 0, 0, time.FixedZone("", 3600)),
		Subject: "Grüße aus Bonn",
		From:    []imap.Address{{Name: "Jörg", Mailbox: "joerg", Host: "example.org"}},
		Sender:  []imap.Address{{Mailbox: "sec", Host: "example.org"}},
		ReplyTo: []imap.Address{{Name: "Jörg", Mailbox: "joerg", Host: "example.org"}},
		To: []imap.Address{
			{Mailbox: "Team"},
			{Mailbox: "a", Host: "example.org"},
			{Name: "B, Bee", Mailbox: "b", Host: "example.org"},
			{},
			{Mailbox: "c", Host: "example.org"},
		},
		InReplyTo: []string{"x@example.org", "y@example.org"},
		MessageID: "id@example.org",
	}
	if !got.Date.Equal(want.Date) {
		t.Errorf("date %v, want %v", got.Date, want.Date)
	}
	got.Date = want.Date
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if e := Envelope(nil); e == nil || !e.Date.IsZero() {
		t.Errorf("nil envelope: %+v", e)
	}
	if d := parseDate("not a date"); !d.IsZero() {
		t.Errorf("unreadable date gave %v", d)
	}
}

var _ = storage.Part{}
