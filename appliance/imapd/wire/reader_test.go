package wire

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestReadCommand(t *testing.T) {
	deep := "a X " + strings.Repeat("(", 33) + strings.Repeat(")", 33) + "\r\n"
	for _, tc := range []struct {
		name, in string
		opt      Options
		want     []string
		conts    int
		fatal    error // errors.Is target; nil means io.EOF at the end
	}{
		{name: "simple", in: "a NOOP\r\n", want: []string{"a NOOP"}},
		{name: "name case", in: "a noop\r\nb Capability\r\n", want: []string{"a NOOP", "b CAPABILITY"}},
		{name: "bare LF", in: "a NOOP\n", want: []string{"a NOOP"}},
		{name: "empty lines skipped", in: "\r\n\r\na NOOP\r\n", want: []string{"a NOOP"}},
		{name: "a stream of empty lines is answered", in: strings.Repeat("\r\n", 20) + "a NOOP\r\n",
			want: []string{"* BAD Empty command line", "a NOOP"}},
		{name: "trailing space", in: "a NOOP \r\n", want: []string{"a NOOP"}},
		{name: "uid fetch with section", in: "A1 uid fetch 1:*,3 (FLAGS body.peek[HEADER.FIELDS (From \"To\")]<0.100>)\r\n",
			want: []string{`A1 UID FETCH 1:*,3 (FLAGS body.peek[HEADER.FIELDS (From "To")]<0.100>)`}},
		{name: "section without list", in: "a FETCH 1 BODY[1.2.MIME]\r\n", want: []string{"a FETCH 1 BODY[1.2.MIME]"}},
		{name: "quoted escapes, NIL, empty list", in: `a X "a\"b\\c" nil () ""` + "\r\n",
			want: []string{`a X "a\"b\\c" nil () ""`}},
		{name: "8-bit quoted", in: "a SELECT \"Entw\xc3\xbcrfe\"\r\n", want: []string{"a SELECT \"Entw\xc3\xbcrfe\""}},
		{name: "mailbox atoms", in: "a LIST \"\" %/a]b*\r\n", want: []string{`a LIST "" %/a]b*`}},
		{name: "sync literals", in: "a LOGIN {4}\r\nuser {4}\r\npass\r\n",
			want: []string{"a LOGIN {4+}\r\nuser {4+}\r\npass"}, conts: 2},
		{name: "non-sync literal", in: "a LOGIN {4+}\r\nuser pass\r\n",
			want: []string{"a LOGIN {4+}\r\nuser pass"}},
		{name: "empty literal", in: "a X {0}\r\n\r\n", want: []string{"a X {0+}\r\n"}, conts: 1},
		{name: "literal8 with NUL", in: "a APPEND box ~{3+}\r\na\x00b\r\n",
			want: []string{"a APPEND box ~{3+}\r\na\x00b"}},
		{name: "literal holding CRLF", in: "a X ({5+}\r\n\r\nb\r\n)\r\n", want: []string{"a X ({5+}\r\n\r\nb\r\n)"}},
		{name: "literal in header list", in: "a FETCH 1 BODY[HEADER.FIELDS ({4}\r\nFROM)]<5.6>\r\n",
			want: []string{"a FETCH 1 BODY[HEADER.FIELDS ({4+}\r\nFROM)]<5.6>"}, conts: 1},
		{name: "flags and brackets in atoms", in: "a STORE 1 +FLAGS (\\Seen $Junk a[b)\r\n",
			want: []string{`a STORE 1 +FLAGS (\Seen $Junk a[b)`}},

		{name: "missing paren", in: "a FETCH 1 (FLAGS\r\nb NOOP\r\n", want: []string{"a BAD Missing )", "b NOOP"}},
		{name: "unterminated quote answered at once", in: "a LOGIN \"user pass\r\nb NOOP\r\n",
			want: []string{"a BAD Unterminated quoted string", "b NOOP"}},
		{name: "bad escape", in: "a LOGIN \"us\\er\" x\r\n", want: []string{"a BAD Invalid escape in quoted string"}},
		{name: "NUL in quote", in: "a LOGIN \"u\x00\" x\r\n", want: []string{"a BAD NUL in quoted string"}},
		{name: "CR in quote", in: "a LOGIN \"u\rv\" x\r\n", want: []string{"a BAD CR in quoted string"}},
		{name: "plus tag", in: "+ NOOP\r\n", want: []string{"* BAD Invalid tag"}},
		{name: "star tag", in: "* NOOP\r\n", want: []string{"* BAD Invalid tag"}},
		{name: "no command", in: "a\r\n", want: []string{"a BAD Missing command"}},
		{name: "double space", in: "a  NOOP\r\n", want: []string{"a BAD Missing command"}},
		{name: "uid alone", in: "a UID\r\n", want: []string{"a BAD Missing command"}},
		{name: "bad name", in: "a NO(OP\r\n", want: []string{"a BAD Invalid command name"}},
		{name: "double space in args", in: "a X a  b\r\n", want: []string{"a BAD Unexpected space"}},
		{name: "no space after list", in: "a X (a)b\r\n", want: []string{"a BAD Expected space"}},
		{name: "no space in list", in: "a X (a\"b\")\r\n", want: []string{"a BAD Expected space or )"}},
		{name: "stray paren", in: "a X )\r\n", want: []string{"a BAD Unexpected )"}},
		{name: "control char", in: "a X \x01\r\n", want: []string{"a BAD Invalid character"}},
		{name: "bare CR", in: "a X a\rb\r\n", want: []string{"a BAD Expected space"}},
		{name: "literal not at end", in: "a X {5} y\r\n", want: []string{"a BAD Invalid literal"}},
		{name: "literal size not a number", in: "a X {abc}\r\n", want: []string{"a BAD Invalid literal"}},
		{name: "too deep", in: deep, want: []string{"a BAD Too deeply nested"}},
		{name: "too many args", in: "a X 1 2 3 4\r\nb X 1 2 3\r\n", opt: Options{MaxArgs: 3},
			want: []string{"a BAD Too many arguments", "b X 1 2 3"}},
		{name: "section missing ]", in: "a FETCH 1 BODY[TEXT\r\n", want: []string{"a BAD Missing ]"}},
		{name: "header list unclosed", in: "a FETCH 1 BODY[HEADER.FIELDS (A\r\n", want: []string{"a BAD Missing )"}},
		{name: "section space without list", in: "a FETCH 1 BODY[HEADER x]\r\n",
			want: []string{"a BAD Expected header list in section"}},
		{name: "empty header list", in: "a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", want: []string{"a BAD Empty header list"}},

		{name: "bad line skips its non-sync literal", in: "a X ) {5+}\r\nhello world\r\nb NOOP\r\n",
			want: []string{"a BAD Unexpected )", "b NOOP"}},
		{name: "bad line skips chained literals", in: "a X ) {2+}\r\nab {3+}\r\nabc\r\nb NOOP\r\n",
			want: []string{"a BAD Unexpected )", "b NOOP"}},
		{name: "bad line before a sync literal ends there", in: "a X ) {5}\r\nb NOOP\r\n",
			want: []string{"a BAD Unexpected )", "b NOOP"}},
		{name: "bad after a sync literal skips the rest", in: "a X {2}\r\nab )\r\nb NOOP\r\n",
			want: []string{"a BAD Unexpected )", "b NOOP"}, conts: 1},
		{name: "line too long", in: "a X " + strings.Repeat("x", 100) + "\r\nb NOOP\r\n", opt: Options{MaxLine: 20},
			want: []string{"a BAD Command line too long", "b NOOP"}},
		{name: "line too long with literal", in: "a X " + strings.Repeat("x", 100) + " {3+}\r\nabc\r\nb NOOP\r\n",
			opt: Options{MaxLine: 20}, want: []string{"a BAD Command line too long", "b NOOP"}},
		{name: "segments add up", in: "a X {1+}\r\na " + strings.Repeat("y", 18) + "\r\nb NOOP\r\n",
			opt: Options{MaxLine: 20}, want: []string{"a BAD Command line too long", "b NOOP"}},
		{name: "sync literal too big is refused before it is sent", in: "a APPEND box {11}\r\nb NOOP\r\n",
			opt: Options{MaxLiteral: 10}, want: []string{"a NO [TOOBIG] Literal too big", "b NOOP"}},
		{name: "LITERAL- non-sync too big is read and refused", in: "a APPEND box {5+}\r\nhello\r\nb NOOP\r\n",
			opt: Options{MaxNonSync: 4}, want: []string{"a BAD [TOOBIG] Literal too big", "b NOOP"}},
		{name: "non-sync too big to skip is fatal", in: "a APPEND box {5+}\r\nhello\r\nb NOOP\r\n",
			opt: Options{MaxNonSync: 4, MaxDiscard: 3}, want: nil, fatal: ErrFatal},
		{name: "endless line is fatal", in: "a X " + strings.Repeat("x", 10000),
			opt: Options{MaxLine: 20, MaxDiscard: 5000}, fatal: ErrFatal},
		{name: "EOF inside command", in: "a LOGIN {5}\r\nab", conts: 1, fatal: io.ErrUnexpectedEOF},
		{name: "EOF inside line", in: "a NOOP", fatal: io.ErrUnexpectedEOF},
		{name: "sync literal without Continue", in: "a X {1}\r\na\r\n",
			opt: Options{Continue: func() error { return nil }, MaxLine: 0}, want: []string{"a X {1+}\r\na"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := readAll(t, tc.in, tc.opt)
			if !slices.Equal(s.out, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", s.out, tc.want)
			}
			if tc.opt.Continue == nil && s.conts != tc.conts {
				t.Errorf("%d continuation requests, want %d", s.conts, tc.conts)
			}
			want := tc.fatal
			if want == nil {
				want = io.EOF
			}
			if !errors.Is(s.fatal, want) {
				t.Errorf("ended with %v, want %v", s.fatal, want)
			}
		})
	}
}

func TestSyncLiteralWithoutContinueIsFatal(t *testing.T) {
	r := NewReader(bufioReader("a X {1}\r\na\r\n"), Options{})
	_, err := r.ReadCommand()
	if !errors.Is(err, ErrFatal) || !IsFatal(err) {
		t.Fatalf("got %v, want ErrFatal", err)
	}
}

func TestLiteralFunc(t *testing.T) {
	var infos []LiteralInfo
	var stored bytes.Buffer
	opt := Options{Literal: func(li LiteralInfo) (io.Writer, error) {
		infos = append(infos, li)
		if len(li.Args) > 0 && li.Args[0].Value == "Nope" {
			return nil, &CommandError{Status: NO, Code: "TRYCREATE", Text: "No such mailbox"}
		}
		if li.Name == "APPEND" {
			return &stored, nil
		}
		return nil, nil
	}}
	in := "a APPEND Nope {3}\r\n" + // refused: the client sends nothing
		"b APPEND Nope {3+}\r\nabc\r\n" + // refused, but sent anyway: skipped
		"c APPEND INBOX (\\Seen) {5}\r\nhello\r\n" +
		"d LOGIN {1+}\r\nx y\r\n"
	s := readAll(t, in, opt)
	want := []string{"a NO [TRYCREATE] No such mailbox", "b NO [TRYCREATE] No such mailbox",
		"c APPEND INBOX (\\Seen) {0+}\r\n", "d LOGIN {1+}\r\nx y"}
	if !slices.Equal(s.out, want) {
		t.Errorf("got\n%q\nwant\n%q", s.out, want)
	}
	if stored.String() != "hello" {
		t.Errorf("stored %q, want hello", stored.String())
	}
	if s.conts != 1 {
		t.Errorf("%d continuations, want 1 (only for c)", s.conts)
	}
	if len(infos) != 4 || infos[2].Size != 5 || !infos[2].Sync || len(infos[2].Args) != 2 || infos[3].Sync {
		t.Errorf("literal infos %+v", infos)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n += len(p)
	return 0, errors.New("disk full")
}

func TestStreamedLiteralWriteFails(t *testing.T) {
	fw := &failWriter{}
	opt := Options{Literal: func(LiteralInfo) (io.Writer, error) { return fw, nil }}
	s := readAll(t, "a APPEND INBOX {5+}\r\nhello (x\r\nb NOOP\r\n", opt)
	want := []string{"a NO [SERVERBUG] Literal not stored", "b NOOP"}
	if !slices.Equal(s.out, want) {
		t.Errorf("got %q, want %q", s.out, want)
	}
}

func TestStreamedNode(t *testing.T) {
	var buf bytes.Buffer
	opt := Options{Literal: func(LiteralInfo) (io.Writer, error) { return &buf, nil }, Continue: func() error { return nil }}
	r := NewReader(bufioReader("a APPEND INBOX ~{3}\r\na\x00b\r\n"), opt)
	cmd, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	n := cmd.Args[1]
	if n.Kind != Literal || !n.Streamed || !n.Binary || n.Size != 3 || n.Value != "" || buf.String() != "a\x00b" {
		t.Fatalf("node %+v, stored %q", n, buf.String())
	}
	if _, ok := n.AString(); ok {
		t.Error("a streamed literal is not an astring")
	}
}

func TestReadLine(t *testing.T) {
	r := NewReader(bufioReader("a IDLE\r\nDONE\r\n"+strings.Repeat("z", 30)+"\r\nb NOOP\r\n"), Options{MaxLine: 20})
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "IDLE" {
		t.Fatal(cmd, err)
	}
	if l, err := r.ReadLine(); err != nil || string(l) != "DONE" {
		t.Fatalf("%q %v", l, err)
	}
	if _, err := r.ReadLine(); err == nil || IsFatal(err) || err.Error() != "BAD Line too long" {
		t.Fatalf("long line: %v", err)
	}
	if cmd, err := r.ReadCommand(); err != nil || cmd.Name != "NOOP" {
		t.Fatal(cmd, err)
	}
}
