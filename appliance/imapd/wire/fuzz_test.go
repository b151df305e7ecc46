package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

var fuzzOpt = Options{MaxLine: 4096, MaxLiteral: 4096, MaxDiscard: 1 << 16, MaxArgs: 512, MaxDepth: 16}

// FuzzReadCommand reads whatever arrives as commands; every command read
// must be written back and read again as the same command.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"a NOOP\r\n",
		"a1 UID FETCH 1:*,3 (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>)\r\n",
		"a LOGIN {4}\r\nuser {4+}\r\npass\r\nb NOOP\r\n",
		"a APPEND box (\\Seen) \" 6-Dec-2026 09:05:00 +0000\" ~{3+}\r\na\x00b\r\n",
		"a X ) {5+}\r\nhello\r\nb X \"unterminated\r\nc NOOP\n",
		"a FETCH 1 BODY[HEADER.FIELDS ({4}\r\nFROM)]<5.6>\r\n",
		"a SEARCH RETURN (MIN) CHARSET UTF-8 OR (FROM a TO b) NOT UID 1:5 SINCE 1-Jan-2026\r\n",
		"\r\n\r\n+ x\r\n* y\r\na\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := fuzzOpt
		opt.Continue = func() error { return nil }
		r := NewReader(bufio.NewReader(bytes.NewReader(data)), opt)
		for range 100 {
			cmd, err := r.ReadCommand()
			var ce *CommandError
			if errors.As(err, &ce) {
				if ce.Status != BAD && ce.Status != NO || ce.Text == "" {
					t.Fatalf("odd rejection %+v", ce)
				}
				continue
			}
			if err != nil {
				if !IsFatal(err) {
					t.Fatalf("%v is neither fatal nor a CommandError", err)
				}
				return
			}
			var b bytes.Buffer
			w := NewWriter(&b, 0)
			w.Command(cmd)
			w.Flush()
			again := opt
			again.MaxLine = 4 * fuzzOpt.MaxLine // {n} becomes {n+}
			r2 := NewReader(bufio.NewReader(&b), again)
			cmd2, err := r2.ReadCommand()
			if err != nil {
				t.Fatalf("written back as %q: %v", b.String(), err)
			}
			if !reflect.DeepEqual(cmd, cmd2) {
				t.Fatalf("round trip changed the command:\n%#v\n%#v\n(%q)", cmd, cmd2, b.String())
			}
		}
	})
}

// fuzzParser feeds "t " + prefix + input as one command to parse; it must
// answer or reject, never panic, and reject only with BAD.
func fuzzParser(f *testing.F, prefix string, seeds []string, parse func([]Node, bool) error) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		opt := fuzzOpt
		opt.Continue = func() error { return nil }
		r := NewReader(bufio.NewReader(strings.NewReader("t "+prefix+in+"\r\n")), opt)
		cmd, err := r.ReadCommand()
		if err != nil {
			return
		}
		if err := parse(cmd.Args, cmd.UID); err != nil {
			var ce *CommandError
			if !errors.As(err, &ce) || ce.Status != BAD || ce.Text == "" {
				t.Fatalf("%q: %v is not a BAD", in, err)
			}
		}
	})
}

// FuzzParseFetch also writes what parsed back (Fetch.String) and parses
// it again: the same request must come out.
func FuzzParseFetch(f *testing.F) {
	fuzzParser(f, "FETCH ", []string{
		"1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)", "1 FULL", "2 BINARY.SIZE[1.2]",
		"1:* (UID MODSEQ) (CHANGEDSINCE 5)", "$ BODY[1.2.MIME]", "1 BODY[HEADER.FIELDS.NOT ({1}\r\nA)]",
		"1 BODY[1.HEADER.FIELDS (\"a b\" X)]<5.10>", "1 (BINARY.PEEK[1]<0.5> RFC822 BODY BODYSTRUCTURE)",
	}, func(a []Node, uid bool) error {
		fe, err := ParseFetch(a, uid)
		if err != nil {
			return err
		}
		cmd, err := NewReader(bufio.NewReader(strings.NewReader("t FETCH "+fe.String()+"\r\n")), fuzzOpt).ReadCommand()
		if err != nil {
			return fmt.Errorf("written back as %q: %w", fe.String(), err)
		}
		again, err := ParseFetch(cmd.Args, uid)
		if err != nil || !reflect.DeepEqual(fe, again) {
			return fmt.Errorf("written back as %q: %#v, %v", fe.String(), again, err)
		}
		return nil
	})
}

func FuzzParseSearch(f *testing.F) {
	fuzzParser(f, "SEARCH ", []string{
		"RETURN (MIN MAX COUNT) CHARSET UTF-8 OR (FROM a TO b) NOT UID 1:5 SINCE 1-Jan-2026",
		`MODSEQ "/flags/\\draft" all 620162338`, "RETURN (PARTIAL -1:-100) 1:* HEADER X y LARGER 5",
		"NEW OLD RECENT KEYWORD $Junk ON 29-Feb-2028 SENTON \"1-Mar-2026\"",
	}, func(a []Node, uid bool) error { _, err := ParseSearch(a, uid); return err })
}

func FuzzParseStore(f *testing.F) {
	fuzzParser(f, "STORE ", []string{`1:3 +FLAGS (\Seen $Junk)`, `1 (UNCHANGEDSINCE 5) -FLAGS.SILENT \Deleted`},
		func(a []Node, uid bool) error { _, err := ParseStore(a, uid); return err })
}

func FuzzParseAppend(f *testing.F) {
	fuzzParser(f, "APPEND ", []string{
		"INBOX (\\Seen) \" 6-Dec-2026 09:05:00 -0730\" {2}\r\nhi", "A {1}\r\nx (\\Draft) ~{1}\r\ny",
		"A CATENATE (URL \"/x;UID=2\" TEXT {3}\r\nabc)", "A UTF8 (~{2}\r\nhi)",
	}, func(a []Node, _ bool) error { _, err := ParseAppend(a); return err })
}

func FuzzParseSelect(f *testing.F) {
	fuzzParser(f, "SELECT ", []string{"INBOX (CONDSTORE)", "A (QRESYNC (67890007 20050715194045000 41,43:211 (1:5 10:15)))"},
		func(a []Node, uid bool) error { _, err := ParseSelect(a, uid); return err })
}

func FuzzParseList(f *testing.F) {
	fuzzParser(f, "LIST ", []string{`(SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" %/x) RETURN (CHILDREN STATUS (MESSAGES))`, `"" *`},
		func(a []Node, _ bool) error { _, err := ParseList(a); return err })
}

func FuzzParseStatus(f *testing.F) {
	fuzzParser(f, "STATUS ", []string{"INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)", `"a b" (SIZE)`},
		func(a []Node, _ bool) error { _, err := ParseStatus(a); return err })
}

// FuzzParseNumSet: what parses is written back by go-imap's String and
// parses to the same set.
func FuzzParseNumSet(f *testing.F) {
	for _, s := range []string{"1", "1:3,5,7:*", "*:4", "$", "4294967295", "1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseNumSet(s, false)
		if err != nil {
			if badText(err) != "BAD Invalid sequence set" {
				t.Fatal(err)
			}
			return
		}
		if imap.IsSearchRes(set) {
			return
		}
		again, err := ParseNumSet(set.String(), false)
		if err != nil || !reflect.DeepEqual(set, again) {
			t.Fatalf("%q -> %q -> %v %v", s, set.String(), again, err)
		}
	})
}

var _ = io.EOF

// FuzzParseCommand reads one whole command and runs its typed parser
// (every command that has one): BAD or a result, never a panic.
func FuzzParseCommand(f *testing.F) {
	for _, ex := range rfcExamples {
		f.Add(ex)
	}
	f.Fuzz(func(t *testing.T, in string) {
		opt := fuzzOpt
		opt.Continue = func() error { return nil }
		cmd, err := NewReader(bufio.NewReader(strings.NewReader(in+"\r\n")), opt).ReadCommand()
		if err != nil {
			return
		}
		if _, err := typed(cmd); err != nil {
			var ce *CommandError
			if !errors.As(err, &ce) || ce.Status != BAD {
				t.Fatalf("%q: %v is not a BAD", in, err)
			}
		}
	})
}
