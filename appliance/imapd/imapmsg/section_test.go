package imapmsg

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// corpusFixture stores every corpus message (and a deep one) once.
func corpusFixture(t *testing.T) map[string]stored {
	f := newFixture(t)
	out := map[string]stored{}
	for name, raw := range corpus {
		out[name] = f.add(raw, 0, nil, time.Time{})
	}
	out["deep"] = f.add(deepMessage(60), 0, nil, time.Time{})
	return out
}

const simpleHeader = "From: Alice Example <alice@example.org>\nTo: bob@example.org\nSubject: Hello\n folded\n" +
	"Date: Thu, 26 Nov 2026 10:00:00 +0100\nMessage-ID: <simple@example.org>\n\n"

func TestSection(t *testing.T) {
	msgs := corpusFixture(t)
	tests := []struct {
		msg, spec, want string // want with "\n" for CRLF
	}{
		{"simple", "", corpus["simple"]},
		{"simple", "HEADER", simpleHeader},
		{"simple", "TEXT", "Line one\nLine two\n"},
		{"simple", "1", "Line one\nLine two\n"},
		{"simple", "1.MIME", simpleHeader},
		{"simple", "HEADER.FIELDS (SUBJECT to)", "To: bob@example.org\nSubject: Hello\n folded\n\n"},
		{"simple", "HEADER.FIELDS (X-Absent)", "\n"},
		{"simple", "HEADER.FIELDS.NOT (subject FROM date message-id)", "To: bob@example.org\n\n"},
		{"simple", "<6.5>", "Alice"},
		{"simple", "TEXT<5.100>", "one\nLine two\n"},
		{"simple", "TEXT<100.5>", ""},
		{"simple", "HEADER.FIELDS (Subject)<2.4>", "bjec"},
		{"simple", "2", ""},
		{"simple", "1.1", ""},
		{"simple", "0", ""},
		{"simple", "1.HEADER", ""}, // text/plain is not a message
		{"simple", "MIME", ""},

		{"nested", "1", nestedAlternative},
		{"nested", "1.MIME", "Content-Type: multipart/alternative; boundary=inner\n\n"},
		{"nested", "1.1", "Gr=C3=BC=C3=9Fe, caf=C3=A9 soft=\nbreak"},
		{"nested", "1.1<4.5>", "3=BC="},
		{"nested", "1.1.MIME", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"},
		{"nested", "1.2", "<p>Hi</p>"},
		{"nested", "1.3", ""},
		{"nested", "2", nestedInner},
		{"nested", "2.MIME", "Content-Type: message/rfc822\nContent-Description: forwarded\n\n"},
		{"nested", "2.HEADER", "From: \"Carol C.\" <c@example.org>\nSubject: inner message\nContent-Type: multipart/mixed; boundary=deep\n\n"},
		{"nested", "2.HEADER.FIELDS (subject)", "Subject: inner message\n\n"},
		{"nested", "2.HEADER.FIELDS.NOT (subject content-type)", "From: \"Carol C.\" <c@example.org>\n\n"},
		{"nested", "2.TEXT", nestedInner[strings.Index(nestedInner, "--deep"):]},
		{"nested", "2.1", "deep text"},
		{"nested", "2.2", "AAECAwQ="},
		{"nested", "2.2.MIME", "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"},
		{"nested", "2.3", ""},
		{"nested", "3", "iVBORw0KGgo="},
		{"nested", "3.HEADER", ""},
		{"nested", "3.TEXT", ""},
		{"nested", "4", ""},
		{"nested", "TEXT<0.10>", "preamble\n"},
		{"nested", "HEADER", "From: a@example.org\nSubject: nested\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n"},

		{"notrail", "TEXT", "last line"},
		{"notrail", "1", "last line"},
		{"notrail", "HEADER", "Subject: no trailing line break\n\n"},
		{"headeronly", "HEADER", "Subject: only a header\n\n"},
		{"headeronly", "TEXT", ""},
		{"headeronly", "HEADER.FIELDS (subject)", "Subject: only a header\n\n"},
		{"headeronly", "", "Subject: only a header"},

		{"forward", "1", "Subject: inner\nFrom: x@example.org\n\ninner body\n"},
		{"forward", "1.HEADER", "Subject: inner\nFrom: x@example.org\n\n"},
		{"forward", "1.TEXT", "inner body\n"},
		{"forward", "1.1", "inner body\n"},
		{"forward", "1.1.MIME", "Subject: inner\nFrom: x@example.org\n\n"},
		{"forward", "1.2", ""},

		{"noboundary", "1", "just text\n"},
		{"emptypart", "1", ""},
		{"emptypart", "1.MIME", "Content-Type: text/plain\n\n"},
		{"emptypart", "2.MIME", "X-Note: second\n\n"},
		{"emptypart", "2", "two"},
		{"unclosed", "1", "first"},
		{"unclosed", "2", "SGVsbG8g5OTk\n"},
		{"unknowncte", "1", "begin 644 x\n"},

		{"deep", strings.Repeat("1.", 50) + "MIME",
			"Content-Type: multipart/mixed; boundary=b50\n\n"},
		{"deep", strings.Repeat("1.", 70) + "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.msg+"/"+tt.spec, func(t *testing.T) {
			m := msgs[tt.msg]
			r, n, err := Section(m.body, m.obj.Structure, parseSection(t, tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := readExact(t, r, n), crlf(tt.want); got != want {
				t.Errorf("got\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	msgs := corpusFixture(t)
	tests := []struct {
		msg, part string
		partial   *imap.SectionPartial
		want      string // exact bytes
		err       error
	}{
		{"nested", "1.1", nil, "Grüße, café softbreak", nil},
		{"nested", "1.1", &imap.SectionPartial{Offset: 2, Size: 3}, "\xc3\xbc\xc3", nil},
		{"nested", "1.1", &imap.SectionPartial{Offset: 100, Size: 3}, "", nil},
		{"nested", "1.2", nil, "<p>Hi</p>", nil},
		{"nested", "2.2", nil, "\x00\x01\x02\x03\x04", nil},
		{"nested", "2.1", nil, "deep text", nil},
		{"nested", "3", nil, "\x89PNG\r\n\x1a\n", nil},
		{"nested", "9", nil, "", nil},
		{"unclosed", "2", nil, "Hello \xe4\xe4\xe4", nil},
		{"simple", "1", nil, "Line one\r\nLine two\r\n", nil},
		{"simple", "", &imap.SectionPartial{Offset: 0, Size: 4}, "From", nil},
		{"forward", "1", nil, crlf("Subject: inner\nFrom: x@example.org\n\ninner body\n"), nil},
		{"unknowncte", "1", nil, "", ErrUnknownCTE},
	}
	for _, tt := range tests {
		t.Run(tt.msg+"/"+tt.part, func(t *testing.T) {
			m := msgs[tt.msg]
			item := &imap.FetchItemBinarySection{Part: parts(t, tt.part), Partial: tt.partial}
			r, n, err := BinarySection(m.body, m.obj.Structure, item)
			size, serr := BinarySize(m.body, m.obj.Structure, item.Part)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !errors.Is(serr, tt.err) {
					t.Fatalf("got %v and %v, want %v", err, serr, tt.err)
				}
				return
			}
			if err != nil || serr != nil {
				t.Fatal(err, serr)
			}
			if got := readExact(t, r, n); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if tt.partial == nil && int(size) != len(tt.want) {
				t.Errorf("BINARY.SIZE %d, want %d", size, len(tt.want))
			}
		})
	}
}

// TestSectionStreams checks that a section is not read before its reader
// is: Section of a whole message reads nothing.
func TestSectionStreams(t *testing.T) {
	msgs := corpusFixture(t)
	m := msgs["nested"]
	cb := &countingBody{Body: m.body}
	for _, spec := range []string{"", "TEXT", "1", "2.TEXT", "3"} {
		cb.reads = 0
		if _, _, err := Section(cb, m.obj.Structure, parseSection(t, spec)); err != nil {
			t.Fatal(err)
		}
		if cb.reads != 0 {
			t.Errorf("Section %q read %d bytes before the reader was used", spec, cb.reads)
		}
	}
}

// countingBody counts the bytes read through it.
type countingBody struct {
	Body
	reads int
}

func (c *countingBody) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.Body.ReadAt(p, off)
	c.reads += n
	return n, err
}

var _ Body = (*storage.Body)(nil)
