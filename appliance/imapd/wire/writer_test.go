package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func written(f func(w *Writer)) string {
	var b bytes.Buffer
	w := NewWriter(&b, 0)
	f(w)
	w.Flush()
	return b.String()
}

func TestWriter(t *testing.T) {
	chatham := time.FixedZone("", 12*3600+45*60)
	for _, tc := range []struct {
		name string
		f    func(w *Writer)
		want string
	}{
		{"tagged status with code", func(w *Writer) { w.Status("a1", OK, "READ-WRITE", "SELECT completed") },
			"a1 OK [READ-WRITE] SELECT completed\r\n"},
		{"untagged status, code with args", func(w *Writer) { w.Status("", OK, "UIDNEXT 4392", "Predicted next UID") },
			"* OK [UIDNEXT 4392] Predicted next UID\r\n"},
		{"empty text", func(w *Writer) { w.Status("a", NO, "", "") }, "a NO NO\r\n"},
		{"text cannot end the line", func(w *Writer) { w.Status("a", BAD, "", "x\r\n* OK injected") },
			"a BAD x  * OK injected\r\n"},
		{"error", func(w *Writer) { w.Error(&CommandError{Tag: "b", Status: NO, Code: "TOOBIG", Text: "Literal too big"}) },
			"b NO [TOOBIG] Literal too big\r\n"},
		{"untagged error", func(w *Writer) { w.Error(Bad("Invalid tag")) }, "* BAD Invalid tag\r\n"},
		{"continuation", func(w *Writer) { w.Continuation("Ready") }, "+ Ready\r\n"},
		{"fetch line", func(w *Writer) {
			w.Untagged().Number(12).Atom("FETCH").BeginList().Atom("UID").Number(4827313).
				Atom("FLAGS").Flags([]imap.Flag{imap.FlagSeen, "$Junk"}).Atom("INTERNALDATE").
				DateTime(time.Date(2026, 12, 6, 2, 44, 25, 0, chatham)).
				Atom("RFC822.SIZE").Number(44827).Atom("MODSEQ").BeginList().Number(624140003).EndList().EndList().End()
		}, "* 12 FETCH (UID 4827313 FLAGS (\\Seen $Junk) INTERNALDATE \" 6-Dec-2026 02:44:25 +1245\" RFC822.SIZE 44827 MODSEQ (624140003))\r\n"},
		{"two-digit day", func(w *Writer) { w.DateTime(time.Date(2026, 12, 16, 2, 4, 5, 0, time.UTC)) }, "\"16-Dec-2026 02:04:05 +0000\""},
		{"empty list", func(w *Writer) { w.Untagged().Atom("FLAGS").Flags(nil).End() }, "* FLAGS ()\r\n"},
		{"quoted with escapes", func(w *Writer) { w.String(`a "b" \c`) }, `"a \"b\" \\c"`},
		{"empty string", func(w *Writer) { w.String("") }, `""`},
		{"CRLF forces literal", func(w *Writer) { w.String("a\r\nb") }, "{4}\r\na\r\nb"},
		{"8-bit forces literal", func(w *Writer) { w.String("Gr\xc3\xbc\xc3\x9fe") }, "{7}\r\nGr\xc3\xbc\xc3\x9fe"},
		{"NUL never in a plain literal", func(w *Writer) { w.String("a\x00b") }, "{3}\r\na\x80b"},
		{"long strings are literals", func(w *Writer) { w.String(strings.Repeat("x", 5000)) }, "{5000}\r\n" + strings.Repeat("x", 5000)},
		{"NIL", func(w *Writer) { w.NString("", true).NString("", false) }, `NIL ""`},
		{"astring atom", func(w *Writer) { w.AString("INBOX").AString("a]b").AString("a b").AString("nil").AString("") },
			`INBOX a]b "a b" "nil" ""`},
		{"literal from a reader", func(w *Writer) { w.Atom("BODY[]").Literal(5, strings.NewReader("a\x00cde")) }, "BODY[] {5}\r\na\x80cde"},
		{"literal8 keeps NUL", func(w *Writer) { w.Atom("BINARY[1]").Literal8(3, strings.NewReader("a\x00c")) }, "BINARY[1] ~{3}\r\na\x00c"},
		{"nested lists", func(w *Writer) {
			w.BeginList().BeginList().Atom("a").EndList().BeginList().EndList().Atom("b").EndList()
		}, "((a) () b)"},
		{"code then text", func(w *Writer) {
			w.Tagged("a").Atom("OK").BeginCode("COPYUID").Number(38505).Atom("304,319:320").Atom("3956:3958").EndCode().Text("Done").End()
		}, "a OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := written(tc.f); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestWriterUTF8(t *testing.T) {
	got := written(func(w *Writer) {
		w.UTF8 = true
		w.String("Entw\xc3\xbcrfe").String("bad \xff").String("\xc3\xbc\r\n")
	})
	want := "\"Entw\xc3\xbcrfe\" {5}\r\nbad \xff {4}\r\n\xc3\xbc\r\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWriterShortLiteral(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, 0)
	err := w.Literal(10, strings.NewReader("abc"))
	if !errors.Is(err, ErrShortLiteral) {
		t.Fatalf("got %v", err)
	}
	// The stream is broken: nothing more goes out.
	w.Atom("X")
	if !errors.Is(w.Flush(), ErrShortLiteral) || b.Len() != 0 {
		t.Errorf("flush after a short literal: %v, %q", w.Err(), b.String())
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriterStickyError(t *testing.T) {
	w := NewWriter(errWriter{}, 0)
	w.Status("a", OK, "", "done")
	if err := w.Flush(); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatal(err)
	}
	w.Status("b", OK, "", "done")
	if err := w.Literal(1, strings.NewReader("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatal(err)
	}
}

// The cork: nothing reaches the connection before Flush.
func TestWriterCork(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, 64<<10)
	for i := range 100 {
		w.Untagged().Number(uint64(i + 1)).Atom("EXISTS").End()
	}
	if b.Len() != 0 || w.Buffered() == 0 {
		t.Fatalf("%d bytes went out before Flush", b.Len())
	}
	w.Flush()
	if !strings.HasPrefix(b.String(), "* 1 EXISTS\r\n* 2 EXISTS\r\n") || strings.Count(b.String(), "\r\n") != 100 {
		t.Errorf("got %q", b.String()[:40])
	}
}
